"""Embedded, the stock levels view runs in the work lane (the routing process), beside the
backorder view: routing's reservations are folded where they are made, and the API's process,
the embedded limit, no longer decodes and writes them. The view must stay what a rebuild from
the log gives, and be current for whoever waits for delivery (`hub.delivered()`)."""

import asyncio
from pathlib import Path
from typing import Any

import httpx
import pytest

from hub.bootstrap import Hub
from hub.embedded.routing_process import RoutingProcess
from projections.stock_rows import StockLevel
from tests.contracts.factories import submission_dict
from tests.contracts.order_search_contract import LYON
from tests.support.running_hub import Clock, decided, running, stock_up

SOURCES = {
    "wh-lyon": (45.75, 4.85, {"RED-CHAIR": 30, "BLUE-LAMP": 500}),
    "wh-paris": (48.86, 2.35, {"RED-CHAIR": 500, "BLUE-LAMP": 12}),
}


def _levels(hub: Hub) -> list[StockLevel]:
    return hub.stock_levels.search(limit=1000).rows


async def _capture(client: httpx.AsyncClient, external_id: str) -> str:
    body: dict[str, Any] = submission_dict(
        external_id=external_id, ship_to=LYON, payment_state="authorized"
    )
    answer = await client.post("/v1/orders", json=body)
    assert answer.status_code == 202, answer.text
    return str(answer.json()["order_id"])


@pytest.mark.asyncio
async def test_stock_levels_kept_by_the_routing_process_equal_a_rebuild(
    tmp_path: Path, clock: Clock
) -> None:
    # 40 captures at once: not the capture cap's business here.
    async with running(tmp_path, clock, routing_process="on", admission_capture_seconds=0) as (
        client,
        hub,
    ):
        assert hub.delivery is not None and isinstance(hub.delivery.work, RoutingProcess)
        assert hub.stock_levels in hub.delivery.work.followers
        assert hub.stock_levels not in hub.delivery.views.followers
        await asyncio.to_thread(stock_up, hub, SOURCES)
        assert {(r.source_id, r.sku, r.reserved) for r in _levels(hub)} == {
            (source, sku, 0) for source, (_, _, stock) in SOURCES.items() for sku in stock
        }, "stock loaded over delivery is in the view once delivered"

        orders = await asyncio.gather(*(_capture(client, f"WEB-S{i}") for i in range(40)))
        for order_id in orders:
            await decided(client, order_id)
        assert await hub.delivered()
        live = _levels(hub)
        assert sum(row.reserved for row in live) > 0, "the orders reserved stock"

        hub.rebuild(hub.stock_levels)
        assert _levels(hub) == live
