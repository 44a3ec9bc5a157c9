"""`benchmarks.flow --history N --ship SHARE`: the shipments the hub requested are read from its
log and reported shipped over the public route, which closes their reservations."""

from datetime import timedelta

import httpx
import pytest

from aggregates.ids import stock_item_id
from aggregates.stock import StockItem
from benchmarks.flow_history import UPDATES, Shipper
from hub.bootstrap import Hub
from hub.services.lookup import find
from tests.contracts.factories import NOW
from tests.e2e.test_embedded_orchestration import SOURCES
from tests.e2e.test_fulfillment_embedded import SKU, hub_client, place

__all__ = ["hub_client"]  # the fixture: two sources holding 10 of SKU each


@pytest.mark.asyncio
async def test_shipped_updates_close_the_reservations(
    hub_client: tuple[httpx.AsyncClient, Hub],
) -> None:
    client, hub = hub_client
    orders = {await place(client, "ship-1", quantity=3), await place(client, "ship-2", quantity=2)}
    assert sum(item(hub, s).reserved for s in SOURCES) == 5

    shipper = Shipper(hub.settings, share=1.0, seed=1)
    try:
        shipments = shipper.new_shipments()
        assert {order_id for order_id, _, _, _ in shipments} == orders
        assert all(skus == [SKU] for _, _, _, skus in shipments)  # what restocking counts up
        assert shipper.new_shipments() == []  # each requested shipment is read once
        for body in shipper.updates(shipments, NOW + timedelta(hours=1)):
            response = await client.post(UPDATES, json=body)
            assert response.status_code == 200, response.text
            assert response.json()["applied"] is True
    finally:
        shipper.close()

    for source_id in SOURCES:
        assert item(hub, source_id).reservations == {}
        assert item(hub, source_id).reserved == 0
    assert sum(item(hub, s).on_hand for s in SOURCES) == 2 * 10 - 5  # the units left


@pytest.mark.asyncio
async def test_a_share_of_zero_ships_nothing(hub_client: tuple[httpx.AsyncClient, Hub]) -> None:
    client, hub = hub_client
    await place(client, "kept-1", quantity=1)
    shipper = Shipper(hub.settings, share=0.0, seed=1)
    try:
        shipments = shipper.new_shipments()
        assert len(shipments) == 1
        assert shipper.updates(shipments, NOW) == []
    finally:
        shipper.close()


def item(hub: Hub, source_id: str) -> StockItem:
    found = find(hub.store, stock_item_id(source_id, SKU), StockItem)
    assert found is not None
    return found
