"""The sources' updates applied as a consumed batch: the same result as one at a time, in batch
order; a refused update kept without losing the others; a batch read again (after a crash
before or after its save) applies nothing twice."""

import json
from datetime import timedelta
from typing import Any

import pytest
from eventsourcing.persistence import IntegrityError
from hypothesis import given, settings
from hypothesis import strategies as st

from aggregates import Order
from aggregates.errors import DomainError
from aggregates.stock import StockItem
from aggregates.submission import RejectedSubmission, rejected_submission_id
from connectors.consumed import ConsumedMessage
from connectors.publisher import RecordingPublisher
from hub.services.conflicts import ConcurrentChangeError
from hub.services.fulfillment import FulfillmentService
from hub.services.fulfillment_batch import UpdateResult
from hub.services.fulfillment_updates import apply_raw_update
from hub.services.intake import IntakeService
from hub.services.lookup import find
from hub.settings import Settings
from hub.store import OrderStore
from hub.streaming.edge_handlers import FulfillmentUpdatesConsumer
from schemas.fulfillment import FulfillmentUpdate, UpdateKind
from tests.contracts.factories import NOW, fixed_clock
from tests.support.examples import examples
from tests.unit.test_shipment_state_machine import (
    AT,
    LILLE,
    LYON,
    ON_HAND,
    Update,
    routed_order,
    shipped_before_delivered,
    state_of,
    stock_item,
    stocked_store,
    updates,
)

K = UpdateKind
UPDATES = "orderhub.fulfillment.updates"
DLQ = "orderhub.dlq"


def two_orders() -> tuple[OrderStore, FulfillmentService, list[Order]]:
    """Two routed orders reserving the same stock items (each holds enough for both)."""
    first, second = routed_order(), routed_order(external_id="WEB-3002")
    store, service = stocked_store(first, ON_HAND, second)
    return store, service, [first, second]


def messages(orders: list[Order], script: list[tuple[int, Update]]) -> list[FulfillmentUpdate]:
    return [
        update.as_message(orders[which].id, AT + timedelta(minutes=n))
        for n, (which, update) in enumerate(script)
    ]


def answer(result: UpdateResult | DomainError | None) -> bool | str | None:
    if isinstance(result, DomainError):
        return type(result).__name__
    return None if result is None else result.applied


def one_at_a_time(service: FulfillmentService, sent: list[FulfillmentUpdate]) -> list[Any]:
    answers: list[Any] = []
    for update in sent:
        try:
            answers.append(answer(service.apply_update(update)))
        except DomainError as error:
            answers.append(answer(error))
    return answers


def snapshot(store: OrderStore, orders: list[Order]) -> dict[str, Any]:
    """What the updates left: each order's state, each stock item's counts and reservations."""
    items = {key: stock_item(store, *key) for key in ON_HAND}
    return {
        "orders": [state_of(store.repository.get(o.id)) for o in orders],
        "stock": {k: (i.on_hand, dict(i.reservations), i.version) for k, i in items.items()},
    }


@st.composite
def scripts(draw: st.DrawFn) -> list[tuple[int, Update]]:
    """Updates for either order, interleaved, each order's in the order drawn (a shipment
    reported shipped before it is reported delivered)."""
    own = [shipped_before_delivered(draw(st.lists(updates(), max_size=8))) for _ in (0, 1)]
    turns = draw(st.permutations([0] * len(own[0]) + [1] * len(own[1])))
    each = [iter(own[0]), iter(own[1])]
    return [(which, next(each[which])) for which in turns]


@settings(max_examples=examples(150), deadline=None)
@given(script=scripts())
def test_a_batch_gives_what_its_updates_give_one_at_a_time_in_batch_order(
    script: list[tuple[int, Update]],
) -> None:
    one_store, one_service, one_orders = two_orders()
    store, service, orders = two_orders()
    sent = messages(orders, script)

    expected = one_at_a_time(one_service, messages(one_orders, script))
    got = [answer(r) for r in service.apply_updates(sent)]

    assert got == expected
    assert snapshot(store, orders)["stock"] == snapshot(one_store, one_orders)["stock"]
    for mine, theirs in zip(
        snapshot(store, orders)["orders"], snapshot(one_store, one_orders)["orders"], strict=True
    ):
        assert {k: v for k, v in mine.items() if k != "id"} == {
            k: v for k, v in theirs.items() if k != "id"
        }


@settings(max_examples=examples(100), deadline=None)
@given(script=scripts())
def test_a_batch_delivered_again_records_nothing(script: list[tuple[int, Update]]) -> None:
    store, service, orders = two_orders()
    sent = messages(orders, script)
    service.apply_updates(sent)
    position, before = store.max_position(), snapshot(store, orders)

    again = service.apply_updates(sent)

    assert not any(isinstance(r, UpdateResult) and r.applied for r in again)
    assert store.max_position() == position
    assert snapshot(store, orders) == before


def test_two_updates_of_one_order_in_a_batch_apply_in_order_and_take_stock_once() -> None:
    store, service, orders = two_orders()
    shipped = Update(LILLE, K.SHIPPED, "store-lille", "DHL", "JD0146")
    delivered = Update(LILLE, K.DELIVERED, "store-lille")

    results = service.apply_updates(messages(orders, [(0, shipped), (0, delivered)]))

    assert [answer(r) for r in results] == [True, True]
    order = store.repository.get(orders[0].id)
    assert order.shipments[LILLE].state == "delivered"
    tables = stock_item(store, "store-lille", "OAK-TABLE")
    assert (tables.on_hand, tables.reserved) == (6 - 3, 3), "the other order's 3 still reserved"


def test_a_crash_during_the_batched_save_records_nothing_and_the_batch_read_again_applies_once(
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    store, service, orders = two_orders()
    script = [
        (0, Update(LYON, K.SHIPPED, "wh-lyon", "DHL", "JD0146")),
        (1, Update(LILLE, K.REJECTED, "store-lille")),
        (0, Update(LILLE, K.SHIPPED, "store-lille", "DHL", "JD0147")),
    ]
    sent = messages(orders, script)
    position, before = store.max_position(), snapshot(store, orders)
    saves: list[int] = []

    def crash(*objs: Any, **kwargs: Any) -> None:
        saves.append(len(objs))
        raise RuntimeError("the process died in the middle of the save")

    with monkeypatch.context() as patched:
        patched.setattr(store, "save", crash)
        with pytest.raises(RuntimeError):
            service.apply_updates(sent)
    assert saves == [1 + 3], "one save for the batch: its orders' events and three stock items"
    assert (store.max_position(), snapshot(store, orders)) == (position, before)

    results = service.apply_updates(sent)

    assert [answer(r) for r in results] == [True, True, True]
    chairs = stock_item(store, "wh-lyon", "RED-CHAIR")
    tables = stock_item(store, "store-lille", "OAK-TABLE")
    assert (chairs.on_hand, chairs.reserved) == (10 - 2, 2)
    assert (tables.on_hand, tables.reserved) == (6 - 3, 0), "one shipped, one freed"
    position = store.max_position()
    assert [answer(r) for r in service.apply_updates(sent)] == [False, False, False]
    assert store.max_position() == position, "read a third time, it records nothing"


def test_a_stock_item_saved_meanwhile_makes_the_batch_apply_again_on_fresh_state(
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    store, service, orders = two_orders()
    real_save = store.save
    raced: list[bool] = []

    def racing_save(*objs: Any, **kwargs: Any) -> Any:
        if not raced:  # orchestration reserves the last chairs between the read and the save
            raced.append(True)
            chairs = stock_item(store, "wh-lyon", "RED-CHAIR")
            chairs.reserve("another-order", 6, at=NOW)
            real_save(chairs)
        return real_save(*objs, **kwargs)

    monkeypatch.setattr(store, "save", racing_save)
    shipped = Update(LYON, K.SHIPPED, "wh-lyon", "DHL", "JD0146")
    results = service.apply_updates(messages(orders, [(0, shipped), (1, shipped)]))

    assert [answer(r) for r in results] == [True, True]
    chairs = stock_item(store, "wh-lyon", "RED-CHAIR")
    assert (chairs.on_hand, chairs.reservations) == (10 - 4, {"another-order": 6})


def test_an_update_that_loses_every_race_is_answered_try_again_not_parked(
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    """Over REST a race lost past every retry raised a plain RuntimeError: a 500. It is a
    ConcurrentChangeError now (409, "try again"), and the update is not parked as refused."""
    store, service, orders = two_orders()
    monkeypatch.setattr("hub.services.conflicts.time.sleep", lambda _: None)

    def always_raced(*objs: Any, **kwargs: Any) -> Any:
        raise IntegrityError("saved meanwhile")

    monkeypatch.setattr(store, "save", always_raced)
    monkeypatch.setattr("hub.services.fulfillment_batch._saved_meanwhile", lambda *_: True)
    (update,) = messages(orders, [(0, Update(LYON, K.SHIPPED, "wh-lyon", "DHL", "JD0146"))])
    intake = IntakeService(store, fixed_clock(NOW))

    with pytest.raises(ConcurrentChangeError):
        apply_raw_update(service, intake, json.dumps(as_json(update)))
    monkeypatch.undo()
    assert not any(
        "RejectedSubmission" in n.topic for n in store.recorder.select_notifications(0, 1000)
    )


# --- the consumer: a batch with poison in it ------------------------------------------------


def consumed(value: bytes | dict[str, Any], offset: int) -> ConsumedMessage:
    raw = value if isinstance(value, bytes) else json.dumps(value).encode()
    return ConsumedMessage(
        topic=UPDATES, partition=0, offset=offset, key=b"k", value=raw, headers=()
    )


def as_json(update: FulfillmentUpdate) -> dict[str, Any]:
    return update.model_dump(mode="json", exclude_none=True)


@pytest.mark.asyncio
async def test_a_batch_with_poison_in_it_applies_the_rest_and_keeps_each_refusal(
    settings: Settings,
) -> None:
    store, service, orders = two_orders()
    intake = IntakeService(store, fixed_clock(NOW))
    publisher = RecordingPublisher()
    consumer = FulfillmentUpdatesConsumer(service, intake, publisher, settings)
    shipped = messages(orders, [(0, Update(LYON, K.SHIPPED, "wh-lyon", "DHL", "JD0146"))])[0]
    delivered = messages(orders, [(1, Update(LILLE, K.DELIVERED, "store-lille"))])[0]
    stranger = messages(orders, [(1, Update(LYON, K.SHIPPED, "store-paris", "DHL", "X1"))])[0]
    batch = [
        consumed(as_json(shipped), 0),
        consumed(b"{not json", 1),
        consumed({"source_id": "wh-lyon", "kind": "shipped"}, 2),  # no order, no shipment
        consumed(b"\xff\xfe", 3),
        consumed(as_json(stranger), 4),  # another source's shipment
        consumed(as_json(delivered), 5),
    ]

    await consumer.handle(batch)
    position = store.max_position()
    await consumer.handle(batch)  # delivered again

    assert store.repository.get(orders[0].id).shipments[LYON].state == "shipped"
    assert store.repository.get(orders[1].id).shipments[LILLE].state == "delivered"
    dead = [r for r in publisher.records if r.topic == DLQ]
    assert [dict(r.headers)["dlq-original-offset"] for r in dead] == [b"1", b"3"] * 2
    assert refusal(store, "wh-lyon", batch[2]) == "invalid_update"
    assert refusal(store, "store-paris", batch[4]) == "UnknownShipmentError"
    assert store.max_position() == position, "the batch read again recorded nothing"


def refusal(store: OrderStore, source_id: str, message: ConsumedMessage) -> str | None:
    """The reason kept for a refused update, if it was kept."""
    raw = message.value.decode()
    kept = find(store, rejected_submission_id(f"source:{source_id}", raw), RejectedSubmission)
    return None if kept is None else kept.reason


def test_the_stock_items_of_a_batch_are_read_once_each(monkeypatch: pytest.MonkeyPatch) -> None:
    store, service, orders = two_orders()
    reads = stock_reads(monkeypatch, store)
    script = [
        (0, Update(LYON, K.SHIPPED, "wh-lyon", "DHL", "JD0146")),
        (1, Update(LYON, K.SHIPPED, "wh-lyon", "DHL", "JD0147")),
        (0, Update(LYON, K.DELIVERED, "wh-lyon")),
    ]
    service.apply_updates(messages(orders, script))

    assert len(reads) == 1 and len(reads[0]) == 2, "chairs and lamps, once, for both orders"


def stock_reads(monkeypatch: pytest.MonkeyPatch, store: OrderStore) -> list[list[Any]]:
    """The ids of each query reading stock items whole, from now on."""
    reads: list[list[Any]] = []
    real = store.get_many

    def counted(ids: Any, kind: Any = None) -> Any:
        wanted = list(ids)
        if kind is StockItem:
            reads.append(wanted)
        return real(wanted, kind)

    monkeypatch.setattr(store, "get_many", counted)
    return reads


def test_updates_applied_one_by_one_read_each_stock_item_whole_once(
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    """One update at a time (a source's connector over REST) reads its rows' stock items from
    the kept ones too: read whole (snapshot and events) the first time, then only the events
    saved after them. Each update read its items whole before."""
    store, service, orders = two_orders()
    before = snapshot(store, orders)["stock"]
    reads = stock_reads(monkeypatch, store)

    def found(store: OrderStore, aggregate_id: Any, kind: Any) -> Any:
        if kind is StockItem:  # how each update read its items before
            reads.append([aggregate_id])
        return find(store, aggregate_id, kind)

    monkeypatch.setattr("hub.services.fulfillment.find", found, raising=False)
    script = [
        (0, Update(LYON, K.SHIPPED, "wh-lyon", "DHL", "JD0146")),
        (1, Update(LYON, K.SHIPPED, "wh-lyon", "DHL", "JD0147")),
    ]
    assert [service.apply_update(u).applied for u in messages(orders, script)] == [True, True]

    assert sum(map(len, reads)) == 2, "chairs and lamps read whole once, for both updates"
    monkeypatch.undo()
    after = snapshot(store, orders)["stock"]
    for key, (_, reservations, version) in after.items():
        was = before[key]
        if key[0] == "wh-lyon":  # each update consumed its order's reservation, saved apart
            assert (len(reservations), version) == (len(was[1]) - 2, was[2] + 2)
        else:
            assert (len(reservations), version) == (len(was[1]), was[2])


@pytest.mark.asyncio
async def test_a_batch_that_fails_whole_is_applied_one_at_a_time_its_poison_parked(
    settings: Settings,
) -> None:
    order = routed_order()
    store, service = stocked_store(order)
    chairs = stock_item(store, "wh-lyon", "RED-CHAIR")
    key = next(iter(chairs.reservations))
    chairs.release(key, at=NOW, reason="a damaged history")
    chairs.reserve(key, 1, at=NOW)  # one chair reserved where the line asks for two
    store.save(chairs)
    intake = IntakeService(store, fixed_clock(NOW))
    consumer = FulfillmentUpdatesConsumer(service, intake, RecordingPublisher(), settings)
    lyon = Update(LYON, K.SHIPPED, "wh-lyon", "DHL", "JD0146")
    lille = Update(LILLE, K.SHIPPED, "store-lille", "DHL", "JD0147")
    sent = messages([order], [(0, lyon), (0, lille)])
    batch = [consumed(as_json(m), n) for n, m in enumerate(sent)]

    await consumer.handle(batch)

    shipments = store.repository.get(order.id).shipments
    assert (shipments[LYON].state, shipments[LILLE].state) == ("requested", "shipped")
    assert refusal(store, "wh-lyon", batch[0]) == "StockError"
    tables = stock_item(store, "store-lille", "OAK-TABLE")
    assert (tables.on_hand, tables.reserved) == (6 - 3, 0)
