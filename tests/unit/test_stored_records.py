"""The relay's records built straight from the stored events are those of the envelope path
(`read_envelopes`, then `envelope_to_record` for each route): topic, key and headers byte for
byte, the value the same JSON (byte for byte but a decision record's, which is spliced in as
stored: its keys in their stored order), over a generated history and the stored events of the
earlier release (every kind of order event); an event of a shape the direct path does not know
goes through its envelope."""

import asyncio
import dataclasses
import shutil
from collections.abc import Iterator, Sequence
from pathlib import Path
from uuid import UUID

import orjson
import pytest
from eventsourcing.persistence import Notification

from aggregates.contract import to_envelope
from aggregates.order_values import ShipmentLine
from benchmarks.projection_events import record_history
from benchmarks.relay_process import typed
from benchmarks.route_profile import NOW
from connectors.codec import OutboundRecord, envelope_to_record
from connectors.publisher import RecordingPublisher
from connectors.relay import Relay
from hub.bootstrap import bootstrap
from hub.settings import Settings
from hub.store import OrderStore
from hub.stored_envelopes import _as_stored, _splice_of
from hub.stored_records import RecordReader
from hub.streaming.relay import _as_read, route_for, routes_for
from schemas.decision_record import DecisionRecord
from schemas.event_types import UNPUBLISHED
from schemas.submission import Address
from tests.unit.test_relay import InMemoryPositions

RELEASE = Path(__file__).parents[1] / "fixtures" / "release_2026_12"
SETTINGS = Settings(kafka_bootstrap="127.0.0.1:9092", database_url="postgresql://x")


def _all(store: OrderStore) -> list[Notification]:
    return list(store.recorder.select_notifications(start=None, limit=1_000_000))


def _by_envelope(store: OrderStore, stored: Notification, mapper: bool) -> list[OutboundRecord]:
    """The records of the envelope path: the store's reader's envelope (the relay's until now),
    or the mapper's (`to_envelope` of the domain event)."""
    if mapper:
        env = to_envelope(store.mapper.to_domain_event(stored))
    else:
        env = store.envelope_reader.envelope(stored)
    return [envelope_to_record(t, env, key) for t, key in routes_for(SETTINGS)(env)]


def assert_same_records(got: Sequence[OutboundRecord], expected: Sequence[OutboundRecord]) -> None:
    """The same records: topic, key and headers byte for byte, the values the same JSON (the
    same keys, values and types at every level; a spliced decision keeps its stored key order),
    and byte for byte wherever no decision record was spliced in."""
    assert [(r.topic, r.key, r.headers) for r in got] == [
        (r.topic, r.key, r.headers) for r in expected
    ]
    for mine, theirs in zip(got, expected, strict=True):
        assert typed(orjson.loads(mine.value)) == typed(orjson.loads(theirs.value))
        if b'"decision":{' not in mine.value:
            assert mine.value == theirs.value


def _assert_same(store: OrderStore) -> RecordReader:
    reader = RecordReader(store, route_for(SETTINGS), UNPUBLISHED)
    notifications = _all(store)
    for stored in notifications:
        got = reader.records(stored)
        assert_same_records(got, _by_envelope(store, stored, mapper=False))
        assert_same_records(got, _by_envelope(store, stored, mapper=True))
    assert [p for p, _ in reader.read(None, 10**6)] == [n.id for n in notifications]
    return reader


def _kinds(store: OrderStore) -> set[str]:
    return {n.topic.rpartition(".")[2] for n in _all(store)}


@pytest.fixture
def history(tmp_path: Path) -> Iterator[OrderStore]:
    hub = bootstrap(Settings(data_dir=tmp_path), clock=lambda: NOW)
    record_history(hub, orders=40, sources=12, skus=150)
    yield hub.store
    hub.close()


def test_a_generated_history_gives_the_records_of_the_envelope_path(history: OrderStore) -> None:
    reader = _assert_same(history)

    assert {"Placed", "Routed", "FulfillmentRequested", "ShipmentProgressed"} <= _kinds(history)
    # Only events with a run of 19 digits (a digest may have one) take the envelope path.
    assert reader.from_envelopes < 3
    # Every decision record spliced in as stored (none parsed), but in the events the direct
    # reader leaves to the mapper.
    decisions = sum(n.topic.endswith(("Routed", "Held")) for n in _all(history))
    assert decisions - reader.from_envelopes <= _spliced(history) <= decisions


def test_stored_events_of_the_earlier_release_give_the_same_records(tmp_path: Path) -> None:
    shutil.copy(RELEASE / "events.sqlite3", tmp_path / "events.sqlite3")
    settings = Settings(data_dir=tmp_path, kafka_bootstrap=None, database_url=None)
    store = OrderStore(env=settings.eventsourcing_env())
    try:
        reader = _assert_same(store)
        assert reader.from_envelopes == 0
        # the release's Routed and Held events (the decision before decision_digest, before
        # explanation) spliced as today's
        decisions = sum(n.topic.endswith(("Routed", "Held")) for n in _all(store))
        assert _spliced(store) == decisions > 0
    finally:
        store.close()


def _spliced(store: OrderStore) -> int:
    """How many of the store's events one reading spliced a decision record into."""
    reader = RecordReader(store, route_for(SETTINGS), UNPUBLISHED)
    before = store.envelope_reader.spliced
    for stored in _all(store):
        reader.records(stored)
    return store.envelope_reader.spliced - before


def _rewritten(stored: Notification, change: dict[str, object]) -> Notification:
    return _with_state(stored, orjson.dumps(orjson.loads(stored.state) | change))


def _with_state(stored: Notification, state: bytes) -> Notification:
    return Notification(
        id=stored.id,
        originator_id=stored.originator_id,
        originator_version=stored.originator_version,
        topic=stored.topic,
        state=state,
    )


@pytest.mark.parametrize(
    "line",
    [
        {"line_id": "1", "sku": "S", "quantity": "2"},  # a text quantity, read as 2
        {"line_id": "1", "sku": "S", "quantity": 2.0},  # a float one
        {"line_id": "1", "sku": "S", "quantity": 2, "note": "x"},  # a key no longer read
    ],
)
def test_lines_of_other_shapes_are_made_public_by_pydantic(
    history: OrderStore, line: dict[str, object]
) -> None:
    """Lines whose public JSON is not the stored JSON (an earlier shape) are read into their
    values and written again, as the envelope path does."""
    requested = next(n for n in _all(history) if n.topic.endswith("FulfillmentRequested"))
    stored = _rewritten(requested, {"lines": [line]})
    reader = RecordReader(history, route_for(SETTINGS), UNPUBLISHED)

    got = reader.records(stored)

    assert got == _by_envelope(history, stored, mapper=True)
    assert orjson.loads(got[0].value)["lines"] == [{"line_id": "1", "sku": "S", "quantity": 2}]


def test_a_route_without_a_key_keys_by_the_subject_as_the_envelope_path(
    history: OrderStore,
) -> None:
    requested = next(n for n in _all(history) if n.topic.endswith("FulfillmentRequested"))
    stored = _rewritten(requested, {"source_id": ""})
    reader = RecordReader(history, route_for(SETTINGS), UNPUBLISHED)

    got = reader.records(stored)

    assert got == _by_envelope(history, stored, mapper=True)
    assert got[1].key == str(stored.originator_id).encode()


def test_events_never_published_are_not_read(history: OrderStore) -> None:
    recorded = next(n for n in _all(history) if n.topic.endswith("RecordedInputs.Recorded"))
    unreadable = Notification(
        id=recorded.id,
        originator_id=recorded.originator_id,
        originator_version=recorded.originator_version,
        topic=recorded.topic,
        state=b"not JSON",
    )
    reader = RecordReader(history, route_for(SETTINGS), UNPUBLISHED)

    assert reader.records(recorded) == reader.records(unreadable) == []
    assert _by_envelope(history, recorded, mapper=True) == []


def test_the_relay_publishes_the_same_records_either_way(history: OrderStore) -> None:
    """The relay over the whole history, in batches: from its envelopes (the default) and from
    the stored events."""

    def published(**options: object) -> Sequence[OutboundRecord]:
        publisher = RecordingPublisher()
        relay = Relay(
            source=history,
            publisher=publisher,
            positions=InMemoryPositions(),
            routes_for=routes_for(SETTINGS),
            batch_size=97,
            **options,  # type: ignore[arg-type]
        )

        async def drain() -> None:
            while await relay.publish_next_batch():
                pass

        asyncio.run(drain())
        return publisher.records

    reader = RecordReader(history, route_for(SETTINGS), UNPUBLISHED)
    direct = published(read=reader.read, encode=reader.encode)
    assert_same_records(direct, published())
    assert len(direct) > len(_all(history)) // 2
    # Encoded in the read's thread, as `orderhub relay` does: the same records.
    assert published(read=reader.read_records, encode=_as_read) == direct


def test_an_event_that_cannot_be_encoded_in_the_read_fails_its_whole_batch(
    history: OrderStore,
) -> None:
    """Encoded as read, an event that cannot be encoded (an actor `Actor` refuses) fails the
    read of its batch, so nothing of it is published and the relay retries it, as it did
    when the batch failed on the loop."""
    events = _all(history)
    accepted = next(i for i, n in enumerate(events) if n.topic.endswith("Order.Accepted"))
    bad = _rewritten(events[accepted], {"actor": "no kind"})
    reader = RecordReader(history, route_for(SETTINGS), UNPUBLISHED)
    reader.read = lambda after, limit: [  # type: ignore[method-assign]
        (n.id, reader.entry(bad if n.id == bad.id else n)) for n in events
    ]

    with pytest.raises(ValueError):
        reader.read_records(None, len(events))


@pytest.mark.parametrize(
    ("line", "as_stored"),
    [
        ({"line_id": "1", "sku": "S", "quantity": 2}, True),
        ({"line_id": "1", "sku": "S", "quantity": True}, False),  # a bool is read as 1
        ({"line_id": 1, "sku": "S", "quantity": 2}, False),
        ({"line_id": "1", "quantity": 2}, False),
    ],
)
def test_lines_public_as_stored_are_those_of_exactly_the_fields_and_types(
    line: dict[str, object], as_stored: bool
) -> None:
    check = _as_stored(list[ShipmentLine])
    assert check is not None
    assert check([line]) is as_stored
    assert _as_stored(list[Address]) is None  # a pydantic model: validated as before


def _routed(store: OrderStore) -> Notification:
    return next(n for n in _all(store) if n.topic.endswith("Order.Routed"))


def test_a_decision_record_is_spliced_in_as_stored(history: OrderStore) -> None:
    """The decision's bytes in the value are the stored ones (keys in their stored order, not
    sorted), the rest of the value as before, and the whole the envelope path's JSON; a key
    named as the field after it, inside the record, does not end the cut."""
    routed = _routed(history)
    state = orjson.loads(routed.state)
    state["decision"]["decision_digest"] = "inner"  # a key the cut's end looks for
    stored = _with_state(routed, orjson.dumps(state))
    reader = RecordReader(history, route_for(SETTINGS), UNPUBLISHED)
    before = history.envelope_reader.spliced

    got = reader.records(stored)

    assert history.envelope_reader.spliced == before + 1
    assert_same_records(got, _by_envelope(history, stored, mapper=True))
    decision = orjson.dumps(state["decision"])
    assert decision != orjson.dumps(state["decision"], option=orjson.OPT_SORT_KEYS)
    assert b'"decision":' + decision + b',"decision_digest":' in got[0].value


@pytest.mark.parametrize(
    "change",
    [
        {"note": 'a "quoted" text'},  # an escape in the record
        {"at": {"_type_": "datetime_iso", "_data_": "2026-01-01T00:00:00+00:00"}},  # a tag
        {"figure": "NaN"},  # what may be a NaN (here in a text: the whole way all the same)
    ],
)
def test_a_decision_record_the_parse_may_read_otherwise_goes_the_whole_way(
    history: OrderStore, change: dict[str, object]
) -> None:
    """What the cut cannot vouch for (an escape, a tagged value, NaN or an infinity) leaves
    the record to the whole parse: the value byte for byte the envelope path's."""
    routed = _routed(history)
    state = orjson.loads(routed.state)
    state["decision"] |= change
    stored = _with_state(routed, orjson.dumps(state))
    reader = RecordReader(history, route_for(SETTINGS), UNPUBLISHED)
    before = history.envelope_reader.spliced

    got = reader.records(stored)

    assert history.envelope_reader.spliced == before
    if "at" in change:  # a tag below the top level: the mapper's path
        assert reader.from_envelopes == 1
    assert got == _by_envelope(history, stored, mapper=True)


def test_fields_out_of_the_class_order_are_parsed_whole(history: OrderStore) -> None:
    """A stored event whose decision does not stand before the field the class writes after
    it (or stands between two keys it might swallow) is parsed whole: the same records."""
    routed = _routed(history)
    state = orjson.loads(routed.state)
    decision = state.pop("decision")
    moved = _with_state(routed, orjson.dumps(state | {"decision": decision}))  # last
    # The class's fields between the decision and its digest, the last an object: cut out
    # with the record, they are missing from what is parsed.
    head = {"timestamp": state.pop("timestamp"), "at": state.pop("at"), "decision": decision}
    digest = state.pop("decision_digest")
    state["unfulfillable"] = {"1": "no source holds it"}
    swallowing = _with_state(routed, orjson.dumps(head | state | {"decision_digest": digest}))
    reader = RecordReader(history, route_for(SETTINGS), UNPUBLISHED)
    before = history.envelope_reader.spliced

    for stored in (moved, swallowing):
        assert reader.records(stored) == _by_envelope(history, stored, mapper=True)

    assert history.envelope_reader.spliced == before


@dataclasses.dataclass
class _ObjectFirst:
    originator_id: UUID
    originator_version: int
    lines: dict[str, int]  # may hold a key named as the record
    decision: DecisionRecord
    after: str


@dataclasses.dataclass
class _ScalarsFirst:
    originator_id: UUID
    originator_version: int
    note: str | None
    decision: DecisionRecord
    after: str


def test_a_record_is_spliced_only_behind_fields_that_cannot_hold_its_key() -> None:
    """Where a field before the record may hold an object (so a key of the record's name),
    the first such key need not be the top level's: no splice; behind texts, figures and
    times, the splice ends at the field the class writes next."""
    assert _splice_of(_ObjectFirst, ["decision"]) is None
    splice = _splice_of(_ScalarsFirst, ["decision"])
    assert splice is not None
    assert (splice.key, splice.end) == (b',"decision":', b',"after":')
    assert splice.required == {"note", "after"}
