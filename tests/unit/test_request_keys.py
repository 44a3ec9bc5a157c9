"""A client's Idempotency-Key on a cancel or a change: the same request under the same key is
answered as the first time and records nothing; another request under it is refused; the key
is read back from the order's events (a new service on the same store knows it), and orders
stored by an earlier release (no key in their events) load as before.

The order: Lyon holds lines 1 and 2, Lille line 3 (tests.unit.test_shipment_state_machine)."""

import copy
import json
from pathlib import Path

import pytest
from eventsourcing.persistence import StoredEvent

from aggregates import Order
from aggregates.order_request_keys import RequestKey, RequestKeyReusedError
from hub.services.fulfillment import FulfillmentService
from hub.store import OrderStore
from tests.contracts.factories import fixed_clock, popo_store, sqlite_store
from tests.unit.test_cancel_rest import LILLE, LYON, load, shipped
from tests.unit.test_shipment_state_machine import AT, routed_order, stocked_store

DESK = "user:desk"
ONE_CHAIR = {"1": 1}


def chairs(order: Order) -> int:
    return next(line.quantity for line in order.submission.lines if line.line_id == "1")


def test_a_partial_cancel_sent_again_under_its_key_is_answered_as_the_first() -> None:
    order = routed_order()
    store, service = stocked_store(order)
    key = RequestKey("retry-7", "digest-of-one-chair")

    first = service.cancel_lines(order.id, ONE_CHAIR, "one too many", DESK, key)
    position = store.max_position()
    again = service.cancel_lines(order.id, ONE_CHAIR, "one too many", DESK, key)

    assert first == [LILLE, LYON] and again == first  # the first answer, not "nothing withdrawn"
    assert store.max_position() == position, "nothing recorded"
    assert chairs(load(store, order)) == 1


def test_without_a_key_the_same_partial_cancel_sent_again_cancels_again() -> None:
    # What the key is for: the two cannot be told apart otherwise.
    order = routed_order()
    store, service = stocked_store(order)

    service.cancel_lines(order.id, ONE_CHAIR, "one too many", DESK)
    service.cancel_lines(order.id, ONE_CHAIR, "one too many", DESK)

    assert [line.line_id for line in load(store, order).submission.lines] == ["2", "3"]


def test_a_key_sent_with_another_request_is_refused_and_records_nothing() -> None:
    order = routed_order()
    store, service = stocked_store(order)
    service.cancel_lines(order.id, ONE_CHAIR, "one too many", DESK, RequestKey("k", "one"))
    position = store.max_position()

    with pytest.raises(RequestKeyReusedError, match="'k' was used for another request"):
        service.cancel_lines(order.id, {"2": 1}, "no lamp", DESK, RequestKey("k", "lamp"))
    with pytest.raises(RequestKeyReusedError):
        service.cancel_order(order.id, "all of it", DESK, RequestKey("k", "all"))

    assert store.max_position() == position
    service.cancel_lines(order.id, {"2": 1}, "no lamp", DESK, RequestKey("k2", "lamp"))
    assert load(store, order).revision == 3  # a new key: a new request


def test_a_change_sent_again_under_its_key_is_answered_as_the_first() -> None:
    order = routed_order()
    store, service = stocked_store(order)
    revised = order.submission.model_copy(update={"lines": order.submission.lines[:2]})
    key = RequestKey("change-1", "revision-2")

    first = service.change_order(order.id, revised, revised.model_dump_json(), DESK, key)
    position = store.max_position()
    again = service.change_order(order.id, revised, revised.model_dump_json(), DESK, key)

    assert first == again == [LILLE, LYON]
    assert store.max_position() == position
    assert load(store, order).revision == 2


def test_a_cancel_of_the_rest_sent_again_under_its_key_gives_the_first_withdrawals() -> None:
    order = routed_order()
    store, service = stocked_store(order)
    service.apply_update(shipped(order, LYON))
    key = RequestKey("rest-1", "the-table")

    first = service.cancel_lines(order.id, {"3": 3}, "no table", DESK, key)
    position = store.max_position()

    # Unkeyed, a repeat of a cancel under way is answered with nothing withdrawn.
    assert service.cancel_lines(order.id, {"3": 3}, "no table", DESK) == []
    assert service.cancel_lines(order.id, {"3": 3}, "no table", DESK, key) == first == [LILLE]
    assert store.max_position() == position


def test_the_key_is_kept_with_the_orders_events_and_read_back_by_another_service(
    tmp_path: Path,
) -> None:
    order = routed_order()
    store, service = stocked_store(order)
    key = RequestKey("durable", "one-chair")
    first = service.cancel_lines(order.id, ONE_CHAIR, "one too many", DESK, key)
    on_disk = sqlite_store(tmp_path / "events.db")
    on_disk.recorder.insert_events(list(store.recorder.select_events(order.id)))
    del on_disk
    reopened = sqlite_store(tmp_path / "events.db")  # as after a restart
    again = FulfillmentService(reopened, fixed_clock(AT), {})

    assert again.cancel_lines(order.id, ONE_CHAIR, "one too many", DESK, key) == first
    assert chairs(load(reopened, order)) == 1
    with pytest.raises(RequestKeyReusedError):
        again.cancel_lines(order.id, {"2": 1}, "no lamp", DESK, RequestKey("durable", "lamp"))


def without_keys(store: OrderStore, order: Order) -> OrderStore:
    """The order's events as an earlier release stored them: no key fields."""
    earlier = popo_store()
    rewritten = []
    for event in store.recorder.select_events(order.id):
        data = json.loads(event.state)
        for name in ("request_key", "request_digest"):
            data.pop(name, None)
        state = json.dumps(data).encode()
        rewritten.append(StoredEvent(event.originator_id, event.originator_version, event.topic,
                                     state))  # fmt: skip
    earlier.recorder.insert_events(rewritten)
    return earlier


def test_cancels_and_changes_stored_by_an_earlier_release_still_load_with_no_key() -> None:
    order = routed_order()
    store, service = stocked_store(order)
    service.cancel_lines(order.id, ONE_CHAIR, "one too many", DESK)  # a Changed
    service.cancel_order(order.id, "all of it", DESK)  # a CancellationRequested

    loaded = load(without_keys(store, order), order)

    assert loaded.cancel_requested and chairs(loaded) == 1
    assert dict(loaded.request_keys) == {}
    assert loaded.earlier_answer(RequestKey("any", "thing")) is None


def test_an_order_cancelled_with_or_without_a_key_copies_as_the_aggregate_cache_copies_it() -> None:
    # The library's cache hands out deep copies: the class's empty default is no order's own.
    unkeyed, keyed = routed_order(), routed_order(external_id="WEB-3002")
    unkeyed.request_cancellation("gone", DESK, AT)
    keyed.request_cancellation("gone", DESK, AT, RequestKey("k", "d"))

    assert "request_keys" not in vars(copy.deepcopy(unkeyed))
    assert copy.deepcopy(keyed).earlier_answer(RequestKey("k", "d")) == [LILLE, LYON]
