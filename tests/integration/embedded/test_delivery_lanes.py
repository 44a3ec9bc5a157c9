"""Embedded delivery in two lanes, on the whole hub: a capture is answered once the read models
have the order, whatever routing is doing; an order captured before a crash is routed at the
next start (hub.embedded.delivery)."""

import asyncio
import threading
from collections.abc import Sequence
from contextlib import closing
from pathlib import Path
from typing import Any

import pytest

from hub.api.app import create_app
from hub.embedded.delivery import STREAM
from schemas.envelope import EventEnvelope
from tests.contracts.factories import submission_dict, submit_order
from tests.contracts.order_search_contract import LYON
from tests.support.running_hub import Clock, embedded_hub, running, serving, stock_up

SOURCES = {"wh-lyon": (45.75, 4.85, {"RED-CHAIR": 50, "BLUE-LAMP": 50})}


class HeldRouting:
    """First in the work lane: while its gate is shut, routing (after it) waits."""

    name = "held"

    def __init__(self) -> None:
        self.gate = threading.Event()
        self.entered = threading.Event()
        self._positions: dict[str, int] = {}

    def apply(self, envelopes: Sequence[EventEnvelope], positions: dict[str, int]) -> None:
        self.entered.set()
        if not self.gate.wait(timeout=30):
            raise RuntimeError("the test never opened the gate")
        self._positions = dict(positions)

    def positions(self) -> dict[str, int]:
        return dict(self._positions)


def _order(external_id: str) -> dict[str, Any]:
    return submission_dict(external_id=external_id, ship_to=LYON, payment_state="authorized")


@pytest.mark.asyncio
async def test_a_capture_is_answered_and_read_back_while_routing_is_held(
    tmp_path: Path, clock: Clock
) -> None:
    # A follower slipped into the work lane here: routing stays in this process.
    with closing(embedded_hub(tmp_path, clock, routing_process="off")) as hub:
        stock_up(hub, SOURCES)
        held = HeldRouting()
        held.gate.set()  # open while the app starts and catches up
        assert hub.delivery is not None
        hub.delivery.work.followers.insert(0, held)
        async with serving(create_app(hub)) as client:
            try:
                held.gate.clear()
                held.entered.clear()

                answer = await client.post("/v1/orders", json=_order("WEB-L1"))

                assert answer.status_code == 202, answer.text
                order_id = answer.json()["order_id"]
                assert await asyncio.to_thread(held.entered.wait, 10), "routing's lane has it"
                found = await client.get(f"/v1/orders/{order_id}")
                assert found.status_code == 200, found.text
                assert found.json()["status"] == "accepted", "not routed yet: routing is held"
                listed = await client.get("/v1/ops/orders", params={"status": "accepted"})
                assert [o["order_id"] for o in listed.json()["orders"]] == [order_id]
                # Each lane from its own positions: the views are at the end of the log,
                # routing is still before the order.
                head = hub.store.max_position()
                assert hub.order_status.positions()[STREAM] == head
                assert hub.orchestrator.positions()[STREAM] < head

                held.gate.set()
                await hub.delivered()

                routed = await client.get(f"/v1/orders/{order_id}")
                assert routed.json()["status"] == "routed"
                assert hub.orchestrator.positions()[STREAM] == hub.store.max_position()
            finally:
                held.gate.set()


@pytest.mark.asyncio
@pytest.mark.parametrize("routing_process", ["off", "on"])
async def test_an_order_answered_before_a_crash_is_routed_at_the_next_start(
    tmp_path: Path, clock: Clock, routing_process: str
) -> None:
    with closing(embedded_hub(tmp_path, clock)) as hub:
        stock_up(hub, SOURCES)
        command = submit_order(_order("WEB-C1"))
        hub.intake.place_orders([command])
        assert hub.delivery is not None
        hub.delivery.views.catch_up()  # what a capture's answer waits for; then the crash
        row = hub.order_status.get(str(command.order_id))
        assert row is not None and row.status == "accepted"
        assert hub.orchestrator.positions()[STREAM] < hub.store.max_position()

    async with running(tmp_path, clock, routing_process=routing_process) as (client, restarted):
        await restarted.delivered()  # routing's catch-up: here before serving, or by its process
        found = await client.get(f"/v1/orders/{command.order_id}")

        assert found.json()["status"] == "routed"
        head = restarted.store.max_position()
        assert restarted.orchestrator.positions()[STREAM] == head
        assert restarted.order_status.positions()[STREAM] == head
