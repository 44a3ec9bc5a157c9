"""A new order's events written straight to their stored form are the aggregate's, byte for byte."""

from collections.abc import Iterator
from datetime import datetime
from pathlib import Path
from typing import Any

import pytest
from eventsourcing.domain import CanCreateTimestamp
from eventsourcing.persistence import StoredEvent

from aggregates import Order, OrderStatus
from aggregates.errors import OrderError
from hub.services.intake import INTAKE_ACTOR, IntakeService, SubmitOrder
from hub.services.order_events import AcceptedOrderEvents
from hub.store import OrderStore
from tests.contracts.factories import (
    NOW,
    fixed_clock,
    in_the_future,
    popo_store,
    sqlite_store,
    submission_dict,
    submit_order,
)

STAMP = datetime(2026, 11, 20, 9, 0, 1, 234567, tzinfo=NOW.tzinfo)

# Values the writers could disagree on: texts outside ASCII, escapes, a float that orjson and
# the standard encoder write differently (below 1e-4), optional fields left out or given.
SHAPES: list[dict[str, Any]] = [
    {},
    {"customer": {"id": "C-1", "name": "Zoë Ünal 東京 🚚", "demand_class": "vip"}},
    {"ship_to": {**submission_dict()["ship_to"], "name": 'A "quoted"\\ name', "lat": 0.00001}},
    {"ship_to": {**submission_dict()["ship_to"], "lat": -1e-7, "lon": 179.99999}},
    {"promised_by": "2026-11-23T18:00:00+02:00", "delivery_method": "express"},
    {"payment_state": "captured", "currency": "JPY"},
    # Texts that hold what such a float is written with, with no float, then with one.
    {"external_id": "9a1e-00000001", "customer": {"id": "C-0.00001", "name": "store-1e-5"}},
    {"external_id": "9a1e-00000002", "ship_to": {**submission_dict()["ship_to"], "lat": 2e-5}},
    {
        "lines": [
            {"line_id": str(n), "sku": f"SKU-{n}", "quantity": n, "unit_price": f"{n}.05"}
            for n in range(1, 8)
        ]
    },
]


@pytest.fixture(params=["popo", "sqlite"])
def store(request: pytest.FixtureRequest, tmp_path: Path) -> Iterator[OrderStore]:
    the_store = popo_store() if request.param == "popo" else sqlite_store(tmp_path / "events.db")
    yield the_store
    the_store.close()


def _through_the_aggregate(store: OrderStore, command: SubmitOrder) -> list[StoredEvent]:
    order = IntakeService._new_order(command, NOW)
    return [store.mapper.to_stored_event(e) for e in order.collect_events()]


@pytest.mark.parametrize("shape", SHAPES)
def test_the_stored_events_are_the_aggregates_byte_for_byte(
    store: OrderStore, shape: dict[str, Any], monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setattr(CanCreateTimestamp, "create_timestamp", staticmethod(lambda: STAMP))
    command = submit_order(submission_dict(**shape), raw_payload='{"as": "sent ✓"}')

    direct = AcceptedOrderEvents(store.mapper, INTAKE_ACTOR, lambda: STAMP).events_of(command, NOW)

    assert direct is not None
    assert direct == _through_the_aggregate(store, command)


def test_an_order_stored_this_way_loads_as_the_aggregate(store: OrderStore) -> None:
    intake = IntakeService(store, fixed_clock(NOW))
    command = submit_order(submission_dict(**SHAPES[2]))

    (result,) = intake.place_orders([command])

    order: object = store.repository.get(result.order_id)
    assert isinstance(order, Order)
    assert (order.status, order.version) == (OrderStatus.ACCEPTED, 2)
    assert (order.submission, order.digest) == (command.submission, command.digest)
    assert (order.raw_payload, order.placed_by) == (command.raw_payload, command.actor)
    assert (order.correlation_id, order.received_at) == (command.correlation_id, NOW)


def test_an_order_the_intake_rejects_is_left_to_its_aggregate(store: OrderStore) -> None:
    command = submit_order(placed_at=in_the_future())
    events = AcceptedOrderEvents(store.mapper, INTAKE_ACTOR)

    assert events.events_of(command, NOW) is None
    (result,) = IntakeService(store, fixed_clock(NOW)).place_orders([command])
    assert result.status == OrderStatus.REJECTED.value
    assert store.repository.get(result.order_id).rejection_reasons == list(result.reasons)


def test_a_malformed_actor_is_refused_as_by_the_aggregate(store: OrderStore) -> None:
    command = submit_order(actor="nobody")

    with pytest.raises(OrderError, match="actor must be"):
        AcceptedOrderEvents(store.mapper, INTAKE_ACTOR).events_of(command, NOW)


def test_a_store_that_compresses_is_left_to_the_mapper(tmp_path: Path) -> None:
    store = OrderStore(
        env={
            "PERSISTENCE_MODULE": "eventsourcing.popo",
            "COMPRESSOR_TOPIC": "eventsourcing.compressor:ZlibCompressor",
        }
    )
    events = AcceptedOrderEvents(store.mapper, INTAKE_ACTOR)

    assert not events.usable
    assert events.events_of(submit_order(), NOW) is None
    (result,) = IntakeService(store, fixed_clock(NOW)).place_orders([submit_order()])
    assert store.repository.get(result.order_id).status is OrderStatus.ACCEPTED


def test_each_batch_time_is_written_as_its_own(store: OrderStore) -> None:
    events = AcceptedOrderEvents(store.mapper, INTAKE_ACTOR)
    later = NOW.replace(minute=5)

    for at in (NOW, later, NOW):
        placed, accepted = events.events_of(submit_order(), at) or []

        stored_at = at.isoformat().encode()
        assert b'"received_at":{"_type_":"datetime_iso","_data_":"' + stored_at in placed.state
        assert b'"accepted_at":{"_type_":"datetime_iso","_data_":"' + stored_at in accepted.state
