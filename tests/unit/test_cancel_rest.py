"""Cancelling the rest of an order that shipped in part: what did not ship is withdrawn or
dropped, the order ends as what shipped, its stock is released and only what shipped is billed.

The order: Lyon holds lines 1 and 2, Lille line 3, line 4 waits for stock (backordered).
"""

import json
from decimal import Decimal
from typing import Any

import pytest
from eventsourcing.persistence import StoredEvent

from aggregates import Order
from aggregates.errors import CancelLinesError, InvalidTransitionError
from aggregates.order import OrderStatus
from aggregates.order_values import ShipmentLine
from hub.services.fulfillment import FulfillmentService
from hub.services.orchestration import ORCHESTRATOR
from hub.store import OrderStore
from schemas.fulfillment import FulfillmentUpdate, UpdateKind
from tests.contracts.factories import placed_order, popo_store
from tests.unit.test_shipment_state_machine import (
    AT,
    routed_order,
    stock_item,
    stocked_store,
    view_of,
)

K = UpdateKind
LYON, LILLE = "SHP-LYON", "SHP-LILLE"
DESK = "user:desk"
LINES = [
    {"line_id": "1", "sku": "RED-CHAIR", "quantity": 2, "unit_price": "19.90"},
    {"line_id": "2", "sku": "BLUE-LAMP", "quantity": 1, "unit_price": "5.00"},
    {"line_id": "3", "sku": "OAK-TABLE", "quantity": 3, "unit_price": "329.00"},
    {"line_id": "4", "sku": "TEAK-BENCH", "quantity": 2, "unit_price": "150.00"},
]
SHIPMENTS: dict[str, tuple[str, list[tuple[str, str, int]]]] = {
    LYON: ("wh-lyon", [("1", "RED-CHAIR", 2), ("2", "BLUE-LAMP", 1)]),
    LILLE: ("store-lille", [("3", "OAK-TABLE", 3)]),
}
REST = [ShipmentLine("3", "OAK-TABLE", 3), ShipmentLine("4", "TEAK-BENCH", 2)]


def backordered_order() -> Order:
    return routed_order(SHIPMENTS, LINES, waiting={"4": 2})


def update(order: Order, shipment: str, kind: UpdateKind, **extra: Any) -> FulfillmentUpdate:
    source = "wh-lyon" if shipment == LYON else "store-lille"
    return FulfillmentUpdate(
        order_id=order.id, shipment_id=shipment, source_id=source, kind=kind, at=AT, **extra
    )


def shipped(order: Order, shipment: str) -> FulfillmentUpdate:
    return update(order, shipment, K.SHIPPED, carrier="DHL", tracking="JD0146")


def lyon_shipped() -> tuple[Order, OrderStore, FulfillmentService]:
    """The order as stored, its reservations taken, Lyon's shipment gone."""
    order = backordered_order()
    store, service = stocked_store(order)
    service.apply_update(shipped(order, LYON))
    return load(store, order), store, service


def load(store: OrderStore, order: Order) -> Order:
    loaded = store.repository.get(order.id)
    assert isinstance(loaded, Order)
    return loaded


def test_the_rest_is_withdrawn_and_dropped_and_the_order_waits_for_the_source_to_answer() -> None:
    order, store, service = lyon_shipped()
    assert order.status is OrderStatus.BACKORDERED

    withdrawn = service.cancel_order(order.id, "the customer will not wait", DESK)

    order = load(store, order)
    cancelled = store.events_of(str(order.id))[-1]
    assert withdrawn == [LILLE]
    assert cancelled.data["withdrawn_from"] == {LILLE: "store-lille"}
    assert cancelled.data["cancelled_lines"] == [
        {"line_id": "3", "sku": "OAK-TABLE", "quantity": 3},
        {"line_id": "4", "sku": "TEAK-BENCH", "quantity": 2},
    ]
    assert order.waiting == {}
    assert order.status is OrderStatus.CANCELLING
    assert view_of(store, order) == "cancelling"
    tables = stock_item(store, "store-lille", "OAK-TABLE")
    assert (tables.on_hand, tables.reserved) == (6, 3), "held until Lille confirms"


def test_once_the_source_confirms_the_order_is_what_shipped_its_stock_released_and_billed_so() -> (
    None
):
    order, store, service = lyon_shipped()
    service.cancel_order(order.id, "the customer will not wait", DESK)

    service.apply_update(update(order, LILLE, K.CANCELLATION_CONFIRMED))
    order = load(store, order)
    assert order.status is OrderStatus.SHIPPED
    tables = stock_item(store, "store-lille", "OAK-TABLE")
    assert (tables.on_hand, tables.reserved) == (6, 0)
    chairs = stock_item(store, "wh-lyon", "RED-CHAIR")
    assert (chairs.on_hand, chairs.reserved) == (10 - 2, 0)

    assert LYON in order.invoices  # in the save that recorded it shipped
    assert service.invoice_shipment(order.id, LYON) is False  # once
    with pytest.raises(Exception, match="has not shipped"):
        service.invoice_shipment(order.id, LILLE)
    service.apply_update(update(order, LYON, K.DELIVERED))

    order = load(store, order)
    (invoice,) = order.invoices.values()
    assert invoice.gross_total == Decimal("53.76")  # (2 x 19.90 + 5.00) x 1.20: Lyon's only
    assert order.status is OrderStatus.COMPLETED
    assert view_of(store, order) == "completed"


def test_the_same_cancel_again_records_nothing_and_withdraws_nothing() -> None:
    order, store, service = lyon_shipped()
    service.cancel_order(order.id, "the customer will not wait", DESK)
    position = store.max_position()

    assert service.cancel_order(order.id, "the customer will not wait", DESK) == []
    assert service.cancel_lines(order.id, {"3": 3, "4": 2}, "again", DESK) == []
    service.apply_update(update(order, LILLE, K.CANCELLATION_CONFIRMED))
    position = store.max_position()
    assert service.cancel_order(order.id, "once more", DESK) == []

    assert store.max_position() == position


def test_lines_naming_the_whole_rest_cancel_it_as_the_whole_order_does() -> None:
    order, store, service = lyon_shipped()

    withdrawn = service.cancel_lines(order.id, {"4": 2, "3": 3}, "no tables, no bench", DESK)

    order = load(store, order)
    assert withdrawn == [LILLE]
    assert order.cancel_requested and order.waiting == {}
    assert store.events_of(str(order.id))[-1].data["cancelled_lines"] == [
        {"line_id": line.line_id, "sku": line.sku, "quantity": line.quantity} for line in REST
    ]


@pytest.mark.parametrize(
    ("lines", "line_id", "code", "status"),
    [
        ({"1": 1}, "1", "shipped", 409),
        ({"3": 3, "4": 2, "2": 1}, "2", "shipped", 409),
        ({"9": 1}, "9", "unknown_line", 422),
        ({"4": 3}, "4", "too_many", 422),
    ],
    ids=["a line shipped in full", "with a shipped line", "an unknown line", "more than ordered"],
)
def test_a_line_that_cannot_be_cancelled_is_named_and_nothing_is_recorded(
    lines: dict[str, int], line_id: str, code: str, status: int
) -> None:
    order, store, service = lyon_shipped()
    position = store.max_position()

    with pytest.raises(CancelLinesError) as refused:
        service.cancel_lines(order.id, lines, "no", DESK)

    assert (refused.value.line_id, refused.value.code, refused.value.status) == (
        line_id,
        code,
        status,
    )
    assert store.max_position() == position


def test_part_of_the_rest_is_refused_with_what_the_rest_is() -> None:
    order, store, service = lyon_shipped()
    position = store.max_position()

    with pytest.raises(InvalidTransitionError, match=r"whole rest \(3: 3, 4: 2\)"):
        service.cancel_lines(order.id, {"4": 1}, "one bench less", DESK)

    assert store.max_position() == position


def test_an_order_that_shipped_in_full_cannot_be_cancelled_only_returned() -> None:
    order = routed_order(SHIPMENTS, LINES[:3])
    for shipment in (LYON, LILLE):
        source = order.shipments[shipment].source_id
        order.apply_update(shipment, source, K.SHIPPED, DESK, AT, carrier="DHL", tracking="J1")
    order.collect_events()

    with pytest.raises(InvalidTransitionError, match="only a return is possible"):
        order.request_cancellation("too late", DESK, AT)
    with pytest.raises(CancelLinesError, match="line 3 shipped in full"):
        order.cancel_rest("too late", DESK, AT, lines={"3": 1})
    assert not order.pending_events


def test_once_the_rest_shipped_or_was_cancelled_a_repeat_names_what_did_not_ship() -> None:
    order, store, service = lyon_shipped()
    service.cancel_order(order.id, "the customer will not wait", DESK)
    service.apply_update(shipped(order, LILLE))  # Lille had shipped before it read it
    position = store.max_position()

    assert service.cancel_lines(order.id, {"4": 2}, "the bench, again", DESK) == []
    with pytest.raises(CancelLinesError, match="line 3 shipped in full"):
        service.cancel_lines(order.id, {"3": 3}, "the tables", DESK)
    assert store.max_position() == position


def test_an_unroutable_rest_is_cancelled_though_it_never_waited() -> None:
    # No source may ship the bench: it is neither waiting nor at a source.
    order = routed_order(SHIPMENTS, LINES, unroutable="4: no_eligible_source")
    store, service = stocked_store(order)
    service.apply_update(shipped(order, LYON))
    service.apply_update(shipped(order, LILLE))
    assert load(store, order).status is OrderStatus.UNROUTABLE

    assert service.cancel_order(order.id, "no one can ship the bench", DESK) == []

    order = load(store, order)
    assert order.status is OrderStatus.SHIPPED
    assert store.events_of(str(order.id))[-1].data["cancelled_lines"] == [
        {"line_id": "4", "sku": "TEAK-BENCH", "quantity": 2}
    ]
    assert view_of(store, order) == "shipped"


def test_a_withdrawal_the_source_answers_by_shipping_ships_and_nothing_is_routed_again() -> None:
    order, store, service = lyon_shipped()
    service.cancel_order(order.id, "the customer will not wait", DESK)

    service.apply_update(shipped(order, LILLE))

    order = load(store, order)
    assert order.status is OrderStatus.SHIPPED
    assert order.waiting == {} and order.status is not OrderStatus.REROUTING
    assert view_of(store, order) == "shipped"


def test_a_held_or_unroutable_rest_is_cancelled_too() -> None:
    order, store, service = lyon_shipped()
    order.put_on_hold("manual_review", "odd address", ORCHESTRATOR, AT)
    store.save(order)
    assert load(store, order).status is OrderStatus.HELD

    assert service.cancel_order(order.id, "not worth the wait", DESK) == [LILLE]
    service.apply_update(update(order, LILLE, K.CANCELLATION_CONFIRMED))

    assert load(store, order).status is OrderStatus.SHIPPED
    assert view_of(store, order) == "shipped"


def test_a_cancellation_stored_by_an_earlier_release_still_loads() -> None:
    """Earlier releases recorded `CancellationRequested` without `cancelled_lines`."""
    order = backordered_order()
    order.request_cancellation("changed my mind", "channel:web-shop", AT)
    store = popo_store()
    store.save(order)
    stored = store.recorder.select_events(order.id)
    earlier = popo_store()
    rewritten = []
    for event in stored:
        state = event.state
        if event.topic.endswith("CancellationRequested"):
            data = json.loads(state)
            assert data.pop("cancelled_lines") is None
            state = json.dumps(data).encode()
        rewritten.append(StoredEvent(event.originator_id, event.originator_version, event.topic,
                                     state))  # fmt: skip
    earlier.recorder.insert_events(rewritten)

    loaded = load(earlier, order)

    assert loaded.cancel_requested and loaded.waiting == {}
    assert loaded.status is OrderStatus.CANCELLING
    assert "cancelled_lines" not in earlier.events_of(str(order.id))[-1].data


def test_a_whole_order_cancel_asked_again_records_nothing_while_under_way_and_once_done() -> None:
    # Nothing shipped: the whole order is cancelled. A client retrying after a timeout, or the
    # service desk asking twice, is answered without a second withdrawal or an error.
    order = backordered_order()
    store, service = stocked_store(order)
    assert service.cancel_order(order.id, "the customer will not wait", DESK) == [LILLE, LYON]
    position = store.max_position()

    assert service.cancel_order(order.id, "the customer will not wait", DESK) == []
    assert service.cancel_order(order.id, "asked by phone too", DESK) == []
    assert service.cancel_lines(order.id, {"1": 1}, "one chair less", DESK) == []
    assert store.max_position() == position
    assert load(store, order).status is OrderStatus.CANCELLING

    for shipment in (LYON, LILLE):
        service.apply_update(update(order, shipment, K.CANCELLATION_CONFIRMED))
    assert load(store, order).status is OrderStatus.CANCELLED
    position = store.max_position()

    assert service.cancel_order(order.id, "the customer will not wait", DESK) == []
    assert store.max_position() == position
    (requested,) = [e for e in store.events_of(str(order.id)) if "ancellation" in e.type]
    assert requested.data["withdrawn"] == [LILLE, LYON]


def test_a_rejected_order_still_cannot_be_cancelled() -> None:
    order = placed_order("WEB-3002", lines=LINES)
    order.reject(["ship_to.country: not served"], actor="system:intake", now=AT)
    order.collect_events()

    with pytest.raises(InvalidTransitionError, match="rejected; it cannot be cancelled"):
        order.request_cancellation("never mind", DESK, AT)
    assert not order.pending_events


def test_a_withdrawn_shipment_that_ships_anyway_is_recorded_though_its_line_was_cancelled() -> None:
    """Line 3 cancelled whole before anything shipped, Lille's shipment is withdrawn; Lille
    ships it all the same. Its line is gone from the revised order, so the shipment cannot be
    priced: the update is recorded (the goods left, their stock is consumed) and the invoice
    left to billing's follower, which parks it for a person."""
    order = routed_order(SHIPMENTS, LINES[:3])
    store, service = stocked_store(order)
    assert sorted(service.cancel_lines(order.id, {"3": 3}, "not wanted", DESK)) == [LILLE, LYON]

    assert service.apply_update(shipped(order, LILLE)).applied

    order = load(store, order)
    assert order.shipments[LILLE].state.value == "shipped"
    assert LILLE not in order.invoices
    tables = stock_item(store, "store-lille", "OAK-TABLE")
    assert (tables.on_hand, tables.reserved) == (6 - 3, 0)
    with pytest.raises(KeyError):
        service.invoice_shipment(order.id, LILLE)
