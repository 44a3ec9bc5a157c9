"""The relay's rows read from PostgreSQL as plain tuples (the aggregate id as the text of its
`uuid` column, no `Notification`, no `UUID`) give the records of the envelope path over the
library's `Notification`s (topic, key and headers byte for byte, the value the same JSON: a
decision record is spliced in as stored): the earlier release's stored events, a generated
history, and events the direct reader leaves to the mapper."""

from collections.abc import Iterator
from pathlib import Path

import orjson
import pytest
from eventsourcing.persistence import StoredEvent

from benchmarks.projection_events import record_history
from benchmarks.route_profile import NOW
from connectors.relay import ShortRead
from hub.bootstrap import bootstrap
from hub.services.intake import RejectSubmission
from hub.settings import Settings
from hub.store import OrderStore
from hub.stored_records import RecordReader
from hub.streaming.relay import route_for
from schemas.event_types import UNPUBLISHED
from tests.integration.test_release_data import _postgres_store
from tests.unit.test_stored_records import SETTINGS, _all, _by_envelope, assert_same_records

pytestmark = pytest.mark.postgres


def _same_as_envelopes(store: OrderStore, batch: int) -> RecordReader:
    """The reader's batches (tuples) against each notification's records by its envelope."""
    reader = RecordReader(store, route_for(SETTINGS), UNPUBLISHED)
    assert reader._rows is not None  # the tuples' path, not the library's select
    notifications = _all(store)
    read, after = [], None
    while found := reader.read(after, batch):
        read += found
        after = found[-1][0]
    assert [position for position, _ in read] == [n.id for n in notifications]
    for (_, entry), stored in zip(read, notifications, strict=True):
        expected = _by_envelope(store, stored, mapper=True)
        assert_same_records(reader.encode(entry), expected)
        assert_same_records(reader.records(stored), expected)
    return reader


def test_the_earlier_release_read_as_rows_gives_the_records_of_its_envelopes(
    tmp_path: Path, database_url: str
) -> None:
    store = _postgres_store(tmp_path, database_url)
    try:
        reader = _same_as_envelopes(store, batch=7)
        assert reader.from_envelopes == 0
    finally:
        store.close()


@pytest.fixture
def history(tmp_path: Path, database_url: str) -> Iterator[OrderStore]:
    settings = Settings(data_dir=tmp_path, database_url=database_url, kafka_bootstrap=None)
    hub = bootstrap(settings, clock=lambda: NOW)
    record_history(hub, orders=30, sources=12, skus=150)
    yield hub.store
    hub.close()


def test_a_generated_history_read_as_rows_gives_the_records_of_its_envelopes(
    history: OrderStore,
) -> None:
    _same_as_envelopes(history, batch=50)


def test_an_event_left_to_the_mapper_is_read_with_its_uuid(history: OrderStore) -> None:
    """A row the direct reader cannot read exactly (a run of 19 digits) goes through the
    mapper, as a stored event whose id is the `UUID` the library would have read."""
    accepted = next(n for n in _all(history) if n.topic.endswith("Order.Accepted"))
    state = orjson.loads(accepted.state) | {"note": "1234567890123456789012"}
    changed = StoredEvent(
        accepted.originator_id,
        accepted.originator_version + 1000,
        accepted.topic,
        orjson.dumps(state),
    )
    history.recorder.insert_events([changed])
    reader = RecordReader(history, route_for(SETTINGS), UNPUBLISHED)

    (position, entry), *_ = reader.read(_all(history)[-1].id - 1, 10)

    assert reader.from_envelopes == 1
    stored = _all(history)[-1]
    assert position == stored.id
    assert_same_records(reader.encode(entry), _by_envelope(history, stored, mapper=True))
    assert b"1234567890123456789012" in reader.encode(entry)[0].value


def test_the_states_of_events_never_published_are_not_read_once_their_topic_is_known(
    history: OrderStore,
) -> None:
    """The relay drops the events of families never published (decision inputs, credentials)
    unread: once a read has seen such a topic, later reads get the row without its state
    (NULL), and the records published are the same."""
    stored = _all(history)
    first = _same_as_envelopes(history, batch=50)
    unpublished = {n.topic for n in stored if not first._topic(n.topic).published}
    assert any(topic.endswith("RecordedInputs.Recorded") for topic in unpublished)
    assert first._rows is not None

    again, cut = first._rows.after(None, len(stored) + 1)
    assert not cut

    assert [row[0] for row in again] == [n.id for n in stored]
    for row, event in zip(again, stored, strict=True):
        assert row[4] == (None if event.topic in unpublished else event.state), event.topic
    assert [first.encode(entry) for _, entry in first.read(None, len(stored) + 1)] == [
        first.records(event) for event in stored
    ]


def test_a_read_stops_after_the_event_that_takes_its_stored_bytes_over_the_bound(
    tmp_path: Path, database_url: str
) -> None:
    """Large events (rejected files kept whole, 300-700 kB here) among a history: with a
    bound of 1 MiB each read stops after the event that crosses it (a `ShortRead`: more
    follows), and read on from there the reads give every event once, in order, with the
    records of an unbounded read; the read that reaches the log's end is not cut."""
    settings = Settings(data_dir=tmp_path, database_url=database_url, kafka_bootstrap=None)
    hub = bootstrap(settings, clock=lambda: NOW)
    try:
        record_history(hub, orders=5, sources=6, skus=40)
        big = [
            RejectSubmission(
                "edi", f"{n}\n" + "x" * (300_000 + 100_000 * n), "csv", "bad", [], "channel:edi"
            )
            for n in range(5)
        ]
        small = [
            RejectSubmission("edi", f"small {n}", "csv", "bad", [], "channel:edi") for n in range(5)
        ]
        hub.intake.record_rejections(big)
        hub.intake.record_rejections(small)
        whole = RecordReader(hub.store, route_for(SETTINGS), UNPUBLISHED)
        bounded = RecordReader(hub.store, route_for(SETTINGS), UNPUBLISHED, read_bytes=2**20)
        expected = whole.read_records(None, 10**6)
        sizes = {n.id: len(n.state) for n in _all(hub.store)}

        reads, after = [], None
        while found := bounded.read_records(after, 10**6):
            reads.append(found)
            after = found[-1][0]
    finally:
        hub.close()

    assert [event for read in reads for event in read] == expected
    assert [isinstance(read, ShortRead) for read in reads] == [True] * (len(reads) - 1) + [False]
    assert len(reads) >= 3
    for read in reads[:-1]:
        stored = [sizes[position] for position, _ in read]
        assert sum(stored[:-1]) < 2**20 <= sum(stored)
