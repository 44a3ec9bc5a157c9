"""The one mapper from internal domain events to the public EventEnvelope."""

import json
import random
from collections.abc import Callable
from datetime import UTC, datetime, timedelta, timezone
from decimal import Decimal
from typing import Any
from uuid import UUID

import pytest
from eventsourcing.domain import Aggregate, event
from pydantic import ValidationError

from aggregates.contract import SCHEMA_VERSION, event_type_for, to_envelope
from aggregates.ids import event_id_for, event_id_text
from hub.services.intake import INTAKE_ACTOR
from schemas.envelope import Actor, ActorKind, EventEnvelope
from schemas.event_types import EventType
from tests.contracts.factories import NOW, placed_order, popo_store


class ParcelLocker(Aggregate):
    """A stand-in aggregate whose events carry no actor, no correlation and no business time."""

    @event("Registered")
    def __init__(self, locker: str, source: str) -> None:
        self.locker = locker
        self.source = source

    @event("CompartmentReserved")
    def reserve(self, width_cm: Decimal, order_id: UUID, lines: tuple[str, ...]) -> None:
        pass


def _reserved_compartment() -> ParcelLocker:
    locker = ParcelLocker(locker="LYON-PART-DIEU", source="store-lyon")
    locker.reserve(Decimal("2.50"), UUID("6f1b9a52-3c1e-4e57-9a43-0d8f3c2b7e10"), ("1", "2"))
    return locker


def _decided_order(decision: str) -> list[Any]:
    order = placed_order("WEB-1001")
    if decision == "accepted":
        order.accept(actor=INTAKE_ACTOR, now=NOW + timedelta(seconds=2))
    else:
        order.reject(
            ["placed_at: in the future"], actor=INTAKE_ACTOR, now=NOW + timedelta(seconds=2)
        )
    return order.collect_events()


@pytest.mark.parametrize(
    ("make_event", "expected"),
    [
        (lambda: _decided_order("accepted")[0], EventType.ORDER_PLACED),
        (lambda: _decided_order("accepted")[1], EventType.ORDER_ACCEPTED),
        (lambda: _decided_order("rejected")[1], EventType.ORDER_REJECTED),
        (
            lambda: ParcelLocker(locker="LYON-PART-DIEU", source="store-lyon").collect_events()[0],
            "orderhub.parcel_locker.registered",
        ),
        (
            lambda: _reserved_compartment().collect_events()[1],
            "orderhub.parcel_locker.compartment_reserved",
        ),
    ],
)
def test_the_public_type_is_the_snake_cased_aggregate_and_event_name(
    make_event: Callable[[], Any], expected: str
) -> None:
    assert event_type_for(make_event()) == expected


class TestPlaced:
    def test_the_envelope_names_the_order_its_version_and_a_stable_event_id(self) -> None:
        placed = _decided_order("accepted")[0]

        env = to_envelope(placed)

        order_id = placed.originator_id
        assert env.subject == str(order_id)
        assert env.sequence == 1
        assert env.id == str(event_id_for(order_id, 1))
        assert env.source == "/orderhub/orders"
        assert env.schemaversion == SCHEMA_VERSION

    def test_the_first_event_is_caused_by_the_submission_it_correlates_with(self) -> None:
        env = to_envelope(_decided_order("accepted")[0])

        assert env.correlationid == "corr-web-1001"
        assert env.causationid == "corr-web-1001"

    def test_the_channel_that_placed_the_order_is_the_actor(self) -> None:
        env = to_envelope(_decided_order("accepted")[0])

        assert env.actor == Actor(kind=ActorKind.CHANNEL, id="web-shop")

    def test_the_event_time_is_when_the_hub_received_the_order(self) -> None:
        env = to_envelope(_decided_order("accepted")[0])

        assert env.time == NOW

    def test_the_data_carries_the_submission_and_no_envelope_or_library_attributes(self) -> None:
        env = to_envelope(_decided_order("accepted")[0])

        assert set(env.data) == {
            "channel",
            "external_id",
            "submission",
            "digest",
            "raw_payload",
            "received_at",
        }
        assert env.data["submission"]["lines"][0]["unit_price"] == "19.90"
        assert env.data["received_at"] == "2026-11-20T09:00:00+00:00"
        json.dumps(env.data)  # plain JSON, nothing left for a serializer to guess


@pytest.mark.parametrize(
    ("decision", "time_field"), [("accepted", "accepted_at"), ("rejected", "rejected_at")]
)
class TestDecisions:
    def test_a_decision_is_caused_by_the_event_before_it(
        self, decision: str, time_field: str
    ) -> None:
        placed, decided = _decided_order(decision)

        env = to_envelope(decided)

        assert env.sequence == 2
        assert env.causationid == to_envelope(placed).id
        assert env.correlationid == "corr-web-1001"

    def test_a_decision_is_made_by_intake_at_the_decision_time(
        self, decision: str, time_field: str
    ) -> None:
        env = to_envelope(_decided_order(decision)[1])

        assert str(env.actor) == INTAKE_ACTOR
        assert env.time == NOW + timedelta(seconds=2)
        assert env.data[time_field] == "2026-11-20T09:00:02+00:00"
        assert not {"actor", "correlation_id", "originator_id", "timestamp"} & set(env.data)


def test_a_rejection_carries_its_reasons() -> None:
    env = to_envelope(_decided_order("rejected")[1])

    assert env.data["reasons"] == ["placed_at: in the future"]


def test_mapping_the_same_event_twice_gives_the_same_envelope() -> None:
    placed = _decided_order("accepted")[0]

    assert to_envelope(placed) == to_envelope(placed)


def test_a_stored_event_maps_to_the_same_envelope_as_the_live_event() -> None:
    order = placed_order("WEB-1001")
    order.accept(actor=INTAKE_ACTOR, now=NOW)
    live = [to_envelope(e) for e in order.pending_events]
    store = popo_store()
    store.save(order)

    stored = [env for _, env in store.read_envelopes(None, 10)]

    assert stored == live


class TestAnyAggregate:
    def test_without_actor_or_correlation_the_system_acts_and_the_aggregate_correlates(
        self,
    ) -> None:
        (registered,) = ParcelLocker(locker="LYON-PART-DIEU", source="store-lyon").collect_events()

        env = to_envelope(registered)

        assert str(env.actor) == "system:orderhub"
        assert env.correlationid == env.causationid == env.subject
        assert env.source == "/orderhub/parcel_lockers"
        assert env.data == {"locker": "LYON-PART-DIEU", "source": "store-lyon"}

    def test_without_a_business_time_the_recording_time_is_used_in_utc(self) -> None:
        (registered,) = ParcelLocker(locker="LYON-PART-DIEU", source="store-lyon").collect_events()

        env = to_envelope(registered)

        assert env.time == registered.timestamp
        assert env.time.tzinfo is not None and env.time.utcoffset() == timedelta(0)

    def test_values_json_cannot_hold_are_written_as_text(self) -> None:
        env = to_envelope(_reserved_compartment().collect_events()[1])

        assert env.data == {
            "width_cm": "2.50",
            "order_id": "6f1b9a52-3c1e-4e57-9a43-0d8f3c2b7e10",
            "lines": ["1", "2"],
        }

    def test_aware_times_in_data_are_written_in_utc(self) -> None:
        paris_summer = timezone(timedelta(hours=2))
        order = placed_order("WEB-1001", now=datetime(2026, 11, 20, 12, 0, tzinfo=paris_summer))

        env = to_envelope(order.collect_events()[0])

        assert env.data["received_at"] == "2026-11-20T10:00:00+00:00"
        assert env.time == datetime(2026, 11, 20, 10, 0, tzinfo=UTC)


def test_events_of_several_aggregates_and_actors_in_a_row_keep_their_own_names() -> None:
    """The names (type, source) are kept per event class and actors per text: a mix of
    aggregates and actors, mapped in turn and again, gives each its own."""
    placed, accepted = _decided_order("accepted")
    locker = ParcelLocker(locker="LYON-PART-DIEU", source="store-lyon").collect_events()[0]

    for _ in range(2):
        envs = [to_envelope(e) for e in (placed, locker, accepted)]

        assert [e.type for e in envs] == [
            "orderhub.order.placed",
            "orderhub.parcel_locker.registered",
            "orderhub.order.accepted",
        ]
        assert [e.source for e in envs] == [
            "/orderhub/orders",
            "/orderhub/parcel_lockers",
            "/orderhub/orders",
        ]
        assert [str(e.actor) for e in envs] == [
            "channel:web-shop",
            "system:orderhub",
            str(INTAKE_ACTOR),
        ]


def test_event_ids_as_text_are_the_uuid5_of_the_aggregate_and_version() -> None:
    rng = random.Random(5)
    for _ in range(2000):
        aggregate_id = UUID(int=rng.getrandbits(128), version=4)
        version = rng.randint(1, 10_000)
        expected = str(event_id_for(aggregate_id, version))
        assert event_id_text(aggregate_id, version) == expected
        assert event_id_text(str(aggregate_id), version) == expected


def test_a_trusted_envelope_is_the_model_validation_makes_of_the_same_fields() -> None:
    fields: dict[str, Any] = {
        "id": str(event_id_for(UUID(int=7), 2)),
        "source": "/orderhub/orders",
        "type": EventType.ORDER_ACCEPTED,
        "subject": str(UUID(int=7)),
        "time": NOW,
        "sequence": 2,
        "correlationid": "corr-1",
        "causationid": "cause-1",
        "actor": Actor.parse("system:orderhub"),
        "schemaversion": SCHEMA_VERSION,
        "data": {"accepted_at": "2026-11-20T09:00:00+00:00", "lines": [1, 2]},
    }

    trusted = EventEnvelope.trusted(**fields)
    validated = EventEnvelope(**fields)

    assert trusted == validated
    assert list(trusted.__dict__) == list(validated.__dict__) == list(EventEnvelope.model_fields)
    assert trusted.model_fields_set == validated.model_fields_set
    assert trusted.model_dump_json() == validated.model_dump_json()
    assert trusted.model_dump_json(exclude_unset=True) == validated.model_dump_json(
        exclude_unset=True
    )
    with pytest.raises(ValidationError):
        trusted.sequence = 3  # type: ignore[misc]  # frozen, as validated ones
