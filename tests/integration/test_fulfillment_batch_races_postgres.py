"""A batch of shipped updates racing another process's reservation on PostgreSQL: the save fails
on the event store's version check (the insert function's unique key), the stock items are read
again alone and the batch saved as first written. Two stores on one database, each with its
own pool, as the fulfillment role and an orchestration worker are."""

from collections.abc import Iterator
from decimal import Decimal
from pathlib import Path
from typing import Any

import pytest

from aggregates import Order
from aggregates.stock import StockItem
from hub.services.fulfillment import FulfillmentService
from hub.services.lookup import find
from hub.services.orchestration import reservation_key
from hub.settings import Settings
from hub.store import OrderStore
from schemas.fulfillment import UpdateKind
from tests.contracts.factories import NOW, fixed_clock
from tests.unit.test_fulfillment_batch import answer, messages
from tests.unit.test_fulfillment_batch_races import Reads, racing
from tests.unit.test_shipment_state_machine import AT, LYON, ON_HAND, Update, routed_order

pytestmark = pytest.mark.postgres
K = UpdateKind


@pytest.fixture
def stores(tmp_path: Path, database_url: str) -> Iterator[tuple[OrderStore, OrderStore]]:
    env = Settings(data_dir=tmp_path, kafka_bootstrap=None, database_url=database_url)
    made = [OrderStore(env=env.eventsourcing_env()) for _ in range(2)]
    yield made[0], made[1]
    for store in made:
        store.close()


def item(store: OrderStore, source_id: str, sku: str) -> StockItem:
    found = find(store, StockItem.create_id(source_id, sku), StockItem)
    assert found is not None
    return found


def test_a_reservation_saved_meanwhile_reads_the_items_again_alone(
    stores: tuple[OrderStore, OrderStore], monkeypatch: pytest.MonkeyPatch
) -> None:
    store, orchestration = stores
    orders = [routed_order(), routed_order(external_id="WEB-3002")]
    items = {
        key: StockItem(source_id=key[0], sku=key[1], on_hand=q, safety_stock=0, at=NOW)
        for key, q in ON_HAND.items()
    }
    for order in orders:
        for sid, shipment in order.shipments.items():
            for line in shipment.lines:
                key = reservation_key(order.id, sid, line.line_id)
                items[(shipment.source_id, line.sku)].reserve(key, line.quantity, at=NOW)
    store.save(*orders, *items.values())
    service = FulfillmentService(store, fixed_clock(AT), {"FR": Decimal("0.20")})

    others: list[str] = []

    def reserve_a_chair() -> Any:
        chairs = item(orchestration, "wh-lyon", "RED-CHAIR")
        others.append(f"another-order-{len(others)}")
        chairs.reserve(others[-1], 1, at=NOW)
        return orchestration.save(chairs)

    service.apply_updates([])
    reads = Reads(monkeypatch)
    attempts = racing(store, monkeypatch, 2, reserve_a_chair)
    shipped = Update(LYON, K.SHIPPED, "wh-lyon", "DHL", "JD0146")

    results = service.apply_updates(messages(orders, [(0, shipped), (1, shipped)]))

    assert [answer(r) for r in results] == [True, True]
    assert (reads.orders, attempts) == (1, [3])
    chairs = item(store, "wh-lyon", "RED-CHAIR")
    assert (chairs.on_hand, dict(chairs.reservations)) == (10 - 4, dict.fromkeys(others, 1))
    for order in orders:
        saved = find(store, order.id, Order)
        assert saved is not None and saved.shipments[LYON].state == "shipped"
