"""While the routing process starts again nobody waits for it: a caller waiting for routing's
effect is answered at once (not settled), with the read models brought up to date, and the
API's answer says so (``OrderHub-Routing: pending``)."""

import asyncio
import time
from pathlib import Path
from typing import Any, cast

import httpx
import pytest
from fastapi import FastAPI

from hub.api import settling
from hub.bootstrap import Hub
from hub.embedded.delivery import InProcessDelivery, WorkLane
from hub.embedded.lane import Lane, Served, Unavailable
from hub.services.followers import Follower
from hub.store import OrderStore
from projections.order_status import InMemoryOrderStatusView
from tests.unit.test_in_process_delivery import _orders, _sqlite_store


class Restarting:
    """A work lane run elsewhere whose process is starting again: asks answered `Unavailable`."""

    def __init__(self, here: Lane) -> None:
        self.followers: list[Follower] = here.followers
        self.asked = 0

    @property
    def running(self) -> bool:
        return True

    def catch_up(self) -> int:
        return 0

    def start(self) -> None: ...

    def stop(self) -> None: ...

    def nudge(self) -> None: ...

    def request(self, on_served: Served) -> None:
        self.asked += 1
        on_served(0, Unavailable("the routing process is starting again"))


def _restarting_delivery(store: OrderStore) -> tuple[InProcessDelivery, InMemoryOrderStatusView]:
    view, routing = InMemoryOrderStatusView(), InMemoryOrderStatusView()

    def elsewhere(here: Lane, _wake: Any) -> WorkLane:
        return Restarting(here)

    delivery = InProcessDelivery(store, [view], [routing], batch_size=100, elsewhere=elsewhere)
    return delivery, view


@pytest.mark.asyncio
async def test_a_caller_is_not_held_by_a_routing_process_starting_again(tmp_path: Path) -> None:
    store = _sqlite_store(tmp_path)
    delivery, view = _restarting_delivery(store)
    delivery.start()
    try:
        (order_id,) = await asyncio.to_thread(_orders, store, "WEB-U1")
        began = time.monotonic()

        settled = await delivery.delivered(wait=30)

        assert settled is False
        assert time.monotonic() - began < 5, "answered at once, not after the wait"
        assert view.get(order_id) is not None, "the read models have what was recorded"
        assert cast(Restarting, delivery.work).asked == 1
        assert await asyncio.to_thread(delivery.deliver, 30) is False, "the same, in a thread"
    finally:
        delivery.stop()


def test_a_settled_delivery_says_so(tmp_path: Path) -> None:
    store = _sqlite_store(tmp_path)
    delivery = InProcessDelivery(
        store, [InMemoryOrderStatusView()], [InMemoryOrderStatusView()], batch_size=100
    )
    delivery.start()
    try:
        _orders(store, "WEB-U2")
        assert delivery.deliver(wait=30) is True
    finally:
        delivery.stop()


class FakeHub:
    def __init__(self, settled: bool) -> None:
        self.settled = settled

    async def delivered(self) -> bool:
        return self.settled

    async def delivered_quietly(self) -> bool:
        return self.settled


def _app(hub: FakeHub) -> FastAPI:
    app = FastAPI()
    app.add_middleware(settling.RoutingPendingHeader)

    @app.post("/command")
    async def command() -> dict[str, str]:
        await settling.delivered(cast(Hub, hub))
        return {"recorded": "yes"}

    @app.post("/quiet", status_code=202)
    async def quiet() -> dict[str, str]:
        await settling.delivered_quietly(cast(Hub, hub))
        return {"recorded": "yes"}

    @app.get("/read")
    async def read() -> dict[str, str]:
        return {"read": "yes"}

    return app


@pytest.mark.asyncio
@pytest.mark.parametrize("path,status", [("/command", 200), ("/quiet", 202)])
async def test_an_unsettled_command_is_answered_as_usual_with_routing_pending(
    path: str, status: int
) -> None:
    for settled in (False, True):
        app = _app(FakeHub(settled))
        transport = httpx.ASGITransport(app=app)
        async with httpx.AsyncClient(transport=transport, base_url="http://t") as client:
            answer = await client.post(path)
            read = await client.get("/read")

        assert answer.status_code == status and answer.json() == {"recorded": "yes"}
        assert answer.headers.get("OrderHub-Routing") == (None if settled else "pending")
        assert "OrderHub-Routing" not in read.headers, "a request that waited for nothing"
