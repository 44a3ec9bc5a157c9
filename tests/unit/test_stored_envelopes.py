"""Stored events read straight from their JSON give the envelopes the mapper path gives: the
same fields, the same JSON, the same Kafka records; what it cannot read exactly goes through
the mapper."""

import re
import shutil
from collections.abc import Iterator, Sequence
from datetime import UTC, datetime, timedelta, timezone
from decimal import Decimal
from pathlib import Path
from typing import Any
from uuid import UUID

import pytest
from eventsourcing.domain import Aggregate, event
from eventsourcing.persistence import Notification

from aggregates.contract import to_envelope
from benchmarks.projection_events import record_history
from benchmarks.route_profile import NOW
from connectors.codec import envelope_to_record
from hub.bootstrap import bootstrap
from hub.settings import Settings
from hub.store import OrderStore
from hub.stored_envelopes import EnvelopeReader, _utc_text
from schemas.envelope import EventEnvelope

RELEASE = Path(__file__).parents[1] / "fixtures" / "release_2026_12"
ORDER_ID = UUID("6f1b9a52-3c1e-4e57-9a43-0d8f3c2b7e10")


class ParcelLocker(Aggregate):
    """A stand-in aggregate whose events carry ids, amounts and times at every depth."""

    @event("Registered")
    def __init__(self, locker: str, at: datetime) -> None:
        self.locker = locker

    @event("CompartmentReserved")
    def reserve(
        self, width_cm: Decimal, order_id: UUID, lines: tuple[str, ...], actor: str
    ) -> None:
        pass

    @event("Tagged")
    def tag(self, labels: dict[str, Any], note: str) -> None:
        pass

    @event("Measured")
    def measure(self, grams: int) -> None:
        pass


class Mailbox(Aggregate):
    """Its events are upcast on load (class_version 2)."""

    class Opened(Aggregate.Created):
        class_version = 2
        owner: str

        @staticmethod
        def upcast_v1_v2(state: dict[str, Any]) -> None:
            state["owner"] = "nobody"

    @event(Opened)
    def __init__(self, owner: str) -> None:
        self.owner = owner


def _mapper_envelope(store: OrderStore, stored: Notification) -> EventEnvelope:
    return to_envelope(store.mapper.to_domain_event(stored))


def _assert_same(store: OrderStore, notifications: Sequence[Notification]) -> EnvelopeReader:
    reader = EnvelopeReader(store.mapper)
    for stored in notifications:
        expected = _mapper_envelope(store, stored)
        got = reader.envelope(stored)
        assert got == expected, stored.topic
        assert got.model_dump_json() == expected.model_dump_json(), stored.topic
        assert _record(got) == _record(expected), stored.topic
        # Built without validation, it is what validation makes of its fields.
        assert EventEnvelope.model_validate(got.model_dump()) == got
    return reader


def _record(env: EventEnvelope) -> object:
    """The relay's Kafka record, or the error that keeps it from being published."""
    try:
        return envelope_to_record("t", env)
    except TypeError as error:  # orjson refuses integers past 64 bits
        return str(error)


def _long_digits(stored: Notification) -> bool:
    return re.search(rb"[0-9]{19}", stored.state) is not None


def _all(store: OrderStore) -> list[Notification]:
    return store.recorder.select_notifications(start=None, limit=1_000_000)


@pytest.fixture
def store(tmp_path: Path) -> Iterator[OrderStore]:
    opened = OrderStore(
        env={"PERSISTENCE_MODULE": "eventsourcing.sqlite", "SQLITE_DBNAME": str(tmp_path / "e")}
    )
    yield opened
    opened.close()


def test_a_realistic_history_reads_as_through_the_mapper_without_it(tmp_path: Path) -> None:
    hub = bootstrap(Settings(data_dir=tmp_path), clock=lambda: NOW)
    try:
        record_history(hub, orders=40, sources=12, skus=150)
        notifications = _all(hub.store)
        reader = _assert_same(hub.store, notifications)
        # Only those with a run of 19 digits (a digest may have one) go through the mapper.
        assert reader.through_mapper == sum(map(_long_digits, notifications)) < 3
        kinds = {n.topic.rpartition(".")[2] for n in notifications}
        assert {"Placed", "Routed", "FulfillmentRequested", "ShipmentProgressed"} <= kinds
    finally:
        hub.close()


def test_stored_events_of_the_earlier_release_read_as_through_the_mapper(tmp_path: Path) -> None:
    shutil.copy(RELEASE / "events.sqlite3", tmp_path / "events.sqlite3")
    settings = Settings(data_dir=tmp_path, kafka_bootstrap=None, database_url=None)
    store = OrderStore(env=settings.eventsourcing_env())
    try:
        reader = _assert_same(store, _all(store))
        assert reader.through_mapper == 0
    finally:
        store.close()


def test_ids_amounts_and_times_at_the_top_level_are_read_directly(store: OrderStore) -> None:
    locker = ParcelLocker(
        "LYON-PART-DIEU", datetime(2026, 11, 20, 10, tzinfo=timezone(timedelta(hours=2)))
    )
    locker.reserve(Decimal("2.50"), ORDER_ID, ("1", "2"), actor="user:ada")
    locker.tag({"size": "L", "floor": 2, "extra": [1.5, None, True]}, note="_type_")
    store.save(locker)

    reader = _assert_same(store, _all(store))

    assert reader.through_mapper == 1  # a note "_type_" sends its event to the mapper
    registered, reserved, _ = (reader.envelope(n) for n in _all(store))
    assert registered.time == datetime(2026, 11, 20, 8, tzinfo=UTC)  # its `at`, in UTC
    assert registered.data == {"locker": "LYON-PART-DIEU", "at": "2026-11-20T08:00:00+00:00"}
    assert reserved.data == {"width_cm": "2.50", "order_id": str(ORDER_ID), "lines": ["1", "2"]}
    assert str(reserved.actor) == "user:ada"


@pytest.mark.parametrize(
    "labels",
    [
        {"order": ORDER_ID},  # a tagged value below the top level
        {"when": datetime(2026, 11, 20, tzinfo=UTC)},
        {"amount": Decimal("1.10")},
    ],
)
def test_tagged_values_below_the_top_level_go_through_the_mapper(
    store: OrderStore, labels: dict[str, Any]
) -> None:
    locker = ParcelLocker("L", datetime(2026, 11, 20, tzinfo=UTC))
    locker.tag(labels, note="n")
    store.save(locker)

    reader = _assert_same(store, _all(store))

    assert reader.through_mapper == 1


@pytest.mark.parametrize(
    ("labels", "through_mapper"),
    [
        ({"_type_": "uuid_hex", "size": "L"}, 1),  # a tag's name without its data: not a tag
        ({"_type_": "uuid_hex", "_data_": ORDER_ID.hex}, 0),  # read as the tag it looks like
    ],
)
def test_dicts_that_look_like_tags_read_as_through_the_mapper(
    store: OrderStore, labels: dict[str, Any], through_mapper: int
) -> None:
    """The one pass over the top level decodes a value only where the transcoder's object hook
    would: a dict of exactly `_type_` and `_data_` (the mapper reads this `labels` as an id)."""
    locker = ParcelLocker("L", datetime(2026, 11, 20, tzinfo=UTC))
    locker.tag(labels, note="n")
    locker.reserve(Decimal("1"), ORDER_ID, ("1",), actor="user:ada")
    store.save(locker)

    reader = _assert_same(store, _all(store))

    assert reader.through_mapper == through_mapper


def test_numbers_orjson_would_read_otherwise_go_through_the_mapper(store: OrderStore) -> None:
    locker = ParcelLocker("L", datetime(2026, 11, 20, tzinfo=UTC))
    locker.measure(2**70)  # an integer past 64 bits: orjson would read a float
    store.save(locker)

    reader = _assert_same(store, _all(store))

    assert reader.through_mapper == 1
    assert reader.envelope(_all(store)[1]).data["grams"] == 2**70


def test_events_that_are_upcast_go_through_the_mapper(store: OrderStore) -> None:
    store.save(Mailbox("ada"))

    reader = _assert_same(store, _all(store))

    assert reader.through_mapper == 1


def test_a_compressed_store_is_read_through_the_mapper(tmp_path: Path) -> None:
    store = OrderStore(
        env={
            "PERSISTENCE_MODULE": "eventsourcing.sqlite",
            "SQLITE_DBNAME": str(tmp_path / "e"),
            "COMPRESSOR_TOPIC": "eventsourcing.compressor:ZlibCompressor",
        }
    )
    try:
        store.save(ParcelLocker("L", datetime(2026, 11, 20, tzinfo=UTC)))
        reader = _assert_same(store, _all(store))
        assert reader.through_mapper == 1
    finally:
        store.close()


def test_the_store_reads_its_log_through_the_reader(store: OrderStore) -> None:
    store.save(ParcelLocker("L", datetime(2026, 11, 20, tzinfo=UTC)))

    ((position, env),) = store.read_envelopes(None, 10)

    assert position == 1 and env == _mapper_envelope(store, _all(store)[0])


def test_a_utc_time_is_public_as_its_stored_text_only_where_that_is_its_public_text() -> None:
    """`_utc_text` accepts a stored time only where `to_envelope`'s text of the decoded time
    (`astimezone(UTC).isoformat()`) is that very text; what `DatetimeAsISO` writes for UTC
    times is accepted."""
    written = [
        datetime(2026, 11, 20, 9, 0, tzinfo=UTC),
        datetime(2026, 11, 20, 9, 0, 0, 1, tzinfo=UTC),
        datetime(1, 1, 1, tzinfo=UTC),
        datetime(9999, 12, 31, 23, 59, 59, 999999, tzinfo=UTC),
    ]
    assert all(_utc_text(time.isoformat()) for time in written)
    texts = [
        "2026-11-20T09:00:00.000000+00:00",  # fromisoformat reads it; isoformat drops the zeros
        "2026-11-20T09:00:00.123+00:00",
        "2026-11-20 09:00:00+00:00",
        "2026-11-20T09:00+00:00",
        "2026-11-20T09:00:00+01:00",
        "2026-11-20T09:00:00-00:00",
        "2026-11-20T09:00:00Z",
        "20261120T090000+00:00",
        "2026-W47-5T09:00:00+00:00",
        "2026-11-20T09:00:00",
        "\uff12026-11-20T09:00:00+00:00",  # a full-width digit
    ]
    for text in texts:
        try:
            public = datetime.fromisoformat(text).astimezone(UTC).isoformat()
        except ValueError:
            public = None
        assert _utc_text(text) is (public == text), text
