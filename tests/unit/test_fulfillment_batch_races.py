"""A batch of updates that lost a race at its save: a stock item saved meanwhile (orchestration
reserving the row) is read again alone and moved again, the orders not read again; an order
saved meanwhile (billing) has the whole batch read again. Either way each update applies once
and no reservation of another order is touched."""

from typing import Any

import pytest

import hub.services.fulfillment_batch as batch_module
from aggregates import Order
from aggregates.stock import StockItem
from hub.services.lookup import find
from hub.store import OrderStore
from schemas.fulfillment import UpdateKind
from tests.contracts.factories import NOW
from tests.unit.test_fulfillment_batch import answer, messages, two_orders
from tests.unit.test_shipment_state_machine import LILLE, LYON, Update, stock_item

K = UpdateKind


class Reads:
    """The batch's reads of its orders, counted."""

    def __init__(self, monkeypatch: pytest.MonkeyPatch) -> None:
        self.orders = 0
        find_many = batch_module.find_many

        def counted(store: OrderStore, ids: Any, kind: type) -> Any:
            self.orders += kind is Order
            return find_many(store, ids, kind)

        monkeypatch.setattr(batch_module, "find_many", counted)


def racing(
    store: OrderStore, monkeypatch: pytest.MonkeyPatch, times: int, meanwhile: Any
) -> list[int]:
    """`meanwhile` runs before each of the next `times` saves of the batch; the batch's save
    attempts are counted in the list returned."""
    real_save = store.save
    left, attempts = [times], [0]

    def save(*objs: Any, **kwargs: Any) -> Any:
        if any(type(o) is list for o in objs):
            attempts[0] += 1
            if left[0]:
                left[0] -= 1
                meanwhile()
        return real_save(*objs, **kwargs)

    monkeypatch.setattr(store, "save", save)
    return attempts


@pytest.mark.parametrize("races", [1, 3])
def test_a_stock_item_saved_meanwhile_is_read_again_alone(
    monkeypatch: pytest.MonkeyPatch, races: int
) -> None:
    store, service, orders = two_orders()
    reads = Reads(monkeypatch)
    others: list[str] = []

    def reserve_a_chair() -> None:  # orchestration, for another order each time
        chairs = stock_item(store, "wh-lyon", "RED-CHAIR")
        others.append(f"another-order-{len(others)}")
        chairs.reserve(others[-1], 1, at=NOW)
        store.save(chairs)

    attempts = racing(store, monkeypatch, races, reserve_a_chair)
    shipped = Update(LYON, K.SHIPPED, "wh-lyon", "DHL", "JD0146")
    rejected = Update(LILLE, K.REJECTED, "store-lille")

    results = service.apply_updates(messages(orders, [(0, shipped), (1, shipped), (0, rejected)]))

    assert [answer(r) for r in results] == [True, True, True]
    assert reads.orders == 1, "the orders were read once, their events saved as first written"
    assert attempts == [races + 1]
    chairs = stock_item(store, "wh-lyon", "RED-CHAIR")
    assert (chairs.on_hand, chairs.reservations) == (10 - 4, dict.fromkeys(others, 1))
    tables = stock_item(store, "store-lille", "OAK-TABLE")
    assert tables.reserved == 3, "the second order's tables still reserved, the first's freed"
    for order in orders:
        saved = find(store, order.id, Order)
        assert saved is not None and saved.shipments[LYON].state == "shipped"
    position = store.max_position()
    again = service.apply_updates(messages(orders, [(0, shipped), (1, shipped), (0, rejected)]))
    assert [answer(r) for r in again] == [False, False, False]
    assert store.max_position() == position


def test_an_order_saved_meanwhile_has_the_batch_read_again(
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    store, service, orders = two_orders()
    reads = Reads(monkeypatch)

    def billing_saves_the_order() -> None:
        order = find(store, orders[1].id, Order)
        assert order is not None
        order.apply_update(
            LILLE, "store-lille", K.REJECTED, actor="source:store-lille", at=NOW
        )  # any event of the order's: here the other shipment's rejection
        store.save(order)

    attempts = racing(store, monkeypatch, 1, billing_saves_the_order)
    shipped = Update(LYON, K.SHIPPED, "wh-lyon", "DHL", "JD0146")

    results = service.apply_updates(messages(orders, [(0, shipped), (1, shipped)]))

    assert [answer(r) for r in results] == [True, True]
    assert reads.orders == 2, "read again whole: an order had moved"
    assert attempts == [2], "not tried again on fresh stock items first"
    chairs = stock_item(store, "wh-lyon", "RED-CHAIR")
    assert (chairs.on_hand, chairs.reserved) == (10 - 4, 0)
    second = find(store, orders[1].id, Order)
    assert second is not None
    assert (second.shipments[LYON].state, second.shipments[LILLE].state) == (
        "shipped",
        "rejected",
    )
    assert isinstance(stock_item(store, "store-lille", "OAK-TABLE"), StockItem)
