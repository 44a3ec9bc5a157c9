"""Embedded read models in a process of their own (Settings.views_process): the API's process
keeps HTTP and the store's writes, a child keeps the views; a capture still answers once its
order is readable; a killed views process is started again and catches up from the saved
positions, each event applied once (its clean stop, and `off`: test_routing_process)."""

import asyncio
import os
import signal
import time
from collections.abc import AsyncIterator
from pathlib import Path

import httpx
import pytest
import pytest_asyncio

from hub.bootstrap import Hub
from hub.embedded.routing_process import RoutingProcess
from tests.integration.embedded.test_routing_process import SOURCES
from tests.integration.embedded.test_routing_process import _capture as _captured
from tests.support.running_hub import Clock, decided, running, stock_up


def _views(hub: Hub) -> RoutingProcess:
    views = None if hub.delivery is None else hub.delivery.views
    assert isinstance(views, RoutingProcess), "the read models are kept by a second process"
    return views


async def _capture(client: httpx.AsyncClient, external_ids: list[str]) -> list[str]:
    """Orders sent together, each readable once acknowledged."""
    order_ids = await _captured(client, external_ids)
    reads = await asyncio.gather(*(client.get(f"/v1/orders/{o}") for o in order_ids))
    assert {r.status_code for r in reads} == {200}, "acknowledged but not readable"
    return order_ids


@pytest_asyncio.fixture
async def hub_with_views(
    tmp_path: Path, clock: Clock
) -> AsyncIterator[tuple[httpx.AsyncClient, Hub, RoutingProcess]]:
    """The app with routing and the read models each in a process, stock loaded, the views
    process up. Many captures at once: admission (tested elsewhere) is off."""
    settings = {"routing_process": "on", "views_process": "on", "admission_max_lag_seconds": 0}
    async with running(tmp_path, clock, **settings) as (client, hub):
        await asyncio.to_thread(stock_up, hub, SOURCES)
        views = _views(hub)
        await asyncio.to_thread(views.ready.wait, 30)
        yield client, hub, views


def _lines_per_order(hub: Hub, order_ids: list[str]) -> dict[str, int]:
    """Audit trail lines of each order: a re-delivered event would add one again."""
    return {o: len(hub.audit.trail(o)) for o in order_ids}


@pytest.mark.asyncio
async def test_a_child_process_keeps_the_read_models_and_a_capture_is_readable_at_once(
    hub_with_views: tuple[httpx.AsyncClient, Hub, RoutingProcess],
) -> None:
    client, hub, views = hub_with_views
    order_ids = await _capture(client, [f"WEB-V{i}" for i in range(30)])
    for order_id in order_ids:
        assert (await decided(client, order_id))["status"] == "routed"

    routing = None if hub.delivery is None else hub.delivery.work
    assert isinstance(routing, RoutingProcess)
    assert views.pid not in (None, os.getpid(), routing.pid)
    names = [Path(f"/proc/{pid}/comm").read_text().strip() for pid in (views.pid, routing.pid)]
    assert names == ["hub-views", "hub-routing"], "named for ps and the benchmarks' tables"
    health = (await client.get("/healthz")).json()
    assert health["status"] == "ok"
    assert (health["views_process"]["pid"], health["views_process"]["routing"]) == (views.pid, True)


@pytest.mark.asyncio
async def test_a_killed_views_process_is_started_again_and_applies_each_event_once(
    hub_with_views: tuple[httpx.AsyncClient, Hub, RoutingProcess],
) -> None:
    client, hub, views = hub_with_views
    first = views.pid
    assert first is not None
    before = await _capture(client, [f"WEB-B{i}" for i in range(50)])

    # Killed while captures go on: those answered meanwhile are recorded, and readable once
    # the next process has caught up from the saved positions.
    during = asyncio.ensure_future(_captured(client, [f"WEB-D{i}" for i in range(100)]))
    os.kill(first, signal.SIGKILL)
    while_down = await during

    deadline = time.monotonic() + 60
    while not (views.ready.is_set() and views.pid not in (None, first)):
        assert time.monotonic() < deadline, "no views process again after 60 s"
        await asyncio.sleep(0.05)
    after = await _capture(client, [f"WEB-A{i}" for i in range(20)])
    for order_id in before + while_down + after:
        assert (await decided(client, order_id, within=60))["status"] == "routed"
    await hub.delivered()

    assert views.restarts == 1
    lines = _lines_per_order(hub, before + while_down + after)
    assert min(lines.values()) > 0, "every order's events in the audit trail"
    assert len(set(lines.values())) == 1, f"each order's events applied once: {lines}"
