"""A running embedded hub for tests: the one place that builds it, and the app around it.

Every test that needs the whole hub in process takes it from here, so the hub is built the
same way everywhere (explicitly embedded, whatever ``ORDERHUB_*`` variables the machine has):

- ``embedded_hub(data_dir, clock, **settings)``: the hub as ``bootstrap`` builds it (SQLite,
  or PostgreSQL when a ``database_url`` is given); the caller closes it (``contextlib.closing``).
- ``running(data_dir, clock, **settings)``: the app as ``orderhub serve`` runs it embedded
  (lifespan included) with an httpx client on its ASGI transport; yields ``(client, hub)``.
- ``serving(app)``: the lifespan and a client around an app the test built itself.
- ``stock_up(hub, sources)``: warehouses in France holding the given stock.
- ``decided(client, order_id)`` (``decided_sync`` for a ``TestClient``): the order as read once
  routing has decided it. Embedded, a capture answers once the order is in the read models;
  routing runs on in the background (hub.embedded.delivery), so a test that goes on to what
  routing did waits for it, with a deadline.

While the app runs, routing runs in a second process as ``orderhub serve`` runs it
(``ORDERHUB_ROUTING_PROCESS``, auto: on with more than one core): a test that changes routing's
parts in this process (a follower slipped in, a service swapped) passes
``routing_process="off"``; ``ORDERHUB_ROUTING_PROCESS=off pytest ...`` runs the others so too.
Before the app starts and after it stops, ``hub.deliver()`` routes in this process.

Fixtures (``tests/conftest.py`` loads this module as a plugin): ``clock``, a ``Clock`` at
``NOW`` the test moves on; ``running_hub``, ``running(tmp_path, clock)``.
"""

import asyncio
import time
from collections.abc import AsyncIterator, Callable, Mapping
from contextlib import asynccontextmanager
from datetime import datetime, timedelta
from pathlib import Path
from typing import Any

import httpx
import pytest
import pytest_asyncio
from fastapi import FastAPI

from hub.api.app import create_app
from hub.api.auth_throttle import AuthThrottle
from hub.api.ratelimit import RateLimiter
from hub.bootstrap import Hub, bootstrap
from hub.settings import Settings
from hub.tools.demo import _source
from schemas.sources import StockSnapshot
from tests.contracts.factories import NOW, fixed_clock

BASE_URL = "http://orderhub.test"
TEST_ACTOR = "system:test"
# source id -> (lat, lon, {sku: on hand})
Stock = Mapping[str, tuple[float, float, Mapping[str, int]]]


class Clock:
    """The hub's clock, moved on by the test."""

    def __init__(self, at: datetime = NOW) -> None:
        self.at = at

    def __call__(self) -> datetime:
        return self.at

    def advance(self, **delta: float) -> None:
        self.at += timedelta(**delta)


def embedded_settings(
    data_dir: Path, database_url: str | None = None, **overrides: Any
) -> Settings:
    return Settings(data_dir=data_dir, kafka_bootstrap=None, database_url=database_url, **overrides)


def embedded_hub(
    data_dir: Path,
    clock: Any = None,
    database_url: str | None = None,
    **settings: Any,
) -> Hub:
    """The embedded hub; ``clock`` is a callable giving the time (the wall clock if None)."""
    built = embedded_settings(data_dir, database_url, **settings)
    return bootstrap(built) if clock is None else bootstrap(built, clock=clock)


def stock_up(hub: Hub, sources: Stock) -> None:
    """Warehouses in France, each holding its stock, delivered to the views."""
    for source_id, (lat, lon, stock) in sources.items():
        hub.catalog.register_source(
            _source(source_id, source_id, "warehouse", lat, lon, "FR", 1), TEST_ACTOR
        )
        for sku, on_hand in stock.items():
            hub.catalog.apply_stock(
                StockSnapshot(source_id=source_id, sku=sku, on_hand=on_hand), TEST_ACTOR
            )
    hub.deliver()


UNDECIDED = frozenset({"accepted"})  # recorded and valid; routing has not decided it yet


def _decided(answer: httpx.Response) -> bool:
    return answer.status_code == 200 and answer.json()["status"] not in UNDECIDED


async def decided(
    client: httpx.AsyncClient,
    order_id: str,
    headers: Mapping[str, str] | None = None,
    within: float = 30.0,
) -> dict[str, Any]:
    """The order (GET /v1/orders/{id}) once routing has decided it: routed, held, backordered,
    unroutable ... Fails after `within` seconds."""
    deadline = time.monotonic() + within
    while not _decided(answer := await client.get(f"/v1/orders/{order_id}", headers=headers)):
        assert time.monotonic() < deadline, f"{order_id} undecided after {within} s: {answer.text}"
        await asyncio.sleep(0.01)
    found: dict[str, Any] = answer.json()
    return found


def decided_sync(
    get: Callable[[str], httpx.Response], order_id: str, within: float = 30.0
) -> dict[str, Any]:
    """`decided()` with a synchronous client's `get` (starlette's TestClient)."""
    deadline = time.monotonic() + within
    while not _decided(answer := get(f"/v1/orders/{order_id}")):
        assert time.monotonic() < deadline, f"{order_id} undecided after {within} s: {answer.text}"
        time.sleep(0.01)
    found: dict[str, Any] = answer.json()
    return found


def asgi_client(app: FastAPI, base_url: str = BASE_URL) -> httpx.AsyncClient:
    """A client on the app's in-process transport, answering as a server would (a 500 is a
    response, not an exception in the test)."""
    return httpx.AsyncClient(
        transport=httpx.ASGITransport(app=app, raise_app_exceptions=False), base_url=base_url
    )


@asynccontextmanager
async def serving(app: FastAPI, base_url: str = BASE_URL) -> AsyncIterator[httpx.AsyncClient]:
    """The app started (its lifespan) and a client on it."""
    async with app.router.lifespan_context(app), asgi_client(app, base_url) as client:
        yield client


@asynccontextmanager
async def running(
    data_dir: Path,
    clock: Any = None,
    *,
    limiter: RateLimiter | None = None,
    throttle: AuthThrottle | None = None,
    base_url: str = BASE_URL,
    **settings: Any,
) -> AsyncIterator[tuple[httpx.AsyncClient, Hub]]:
    """The app as ``orderhub serve`` runs it embedded, at ``NOW`` unless given a clock;
    ``settings`` are ``Settings`` fields (auth, admin key ...), a limiter or throttle replaces
    the app's own."""
    hub = embedded_hub(data_dir, clock or fixed_clock(NOW), **settings)
    try:
        app = create_app(hub)
        if limiter is not None:
            app.state.rate_limiter = limiter
        if throttle is not None:
            app.state.auth_throttle = throttle
        async with serving(app, base_url) as client:
            yield client, hub
    finally:
        hub.close()


@pytest.fixture
def clock() -> Clock:
    return Clock(NOW)


@pytest_asyncio.fixture
async def running_hub(tmp_path: Path, clock: Clock) -> AsyncIterator[tuple[httpx.AsyncClient, Hub]]:
    async with running(tmp_path, clock) as client_and_hub:
        yield client_and_hub
