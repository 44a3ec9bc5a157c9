"""The relay's Kafka records built straight from the stored events, without their envelopes.

`OrderStore.read_envelopes` then `connectors.codec.envelope_to_record` made an envelope model of
each event to read its attributes back into headers at once (the relay's CPU per event was ~5
times a raw producer's per record: benchmarks/README.md). Here an event read from its stored
JSON (`EnvelopeReader.decoded`: the same public data the envelope would carry) goes to its
records directly: the headers worked out as `aggregates.contract.envelope_of` works out the
envelope's attributes, written as `envelope_to_record` writes them (`ce_headers`), the value
the same sorted orjson of the data, but a `Routed`'s or `Held`'s decision record, which is
spliced in as its stored bytes, unparsed (`EnvelopeReader.spliced_parts`: the same JSON, the
record's keys in their stored order). An event the reader leaves to the mapper is published from
its envelope as before, and an event of a family that is never published (decision inputs,
credentials: `unpublished`) is not decoded at all. tests/unit/test_stored_records.py holds the
records to those of the envelope path (topic, key and headers byte for byte, the value the
same JSON, byte for byte where no record was spliced) over a generated history and the stored
events of the earlier release.
"""

from collections.abc import Callable, Collection
from dataclasses import dataclass
from typing import Any
from uuid import UUID

import orjson
from eventsourcing.persistence import InterfaceError, OperationalError, StoredEvent
from eventsourcing.postgres import PostgresApplicationRecorder
from eventsourcing.utils import resolve_topic, retry
from psycopg.sql import SQL, Composed, Identifier

from aggregates.contract import SCHEMA_VERSION, attributes_of, event_type_of, source_of
from aggregates.ids import event_id_text
from connectors.claim_check import claimed
from connectors.codec import OutboundRecord, ce_headers, envelope_to_record
from connectors.relay import ShortRead
from hub.multi_get import binary_rows
from hub.store import OrderStore
from schemas.envelope import Actor, EventEnvelope

__all__ = ["RecordReader"]

Route = Callable[[str, str, dict[str, Any]], list[tuple[str, str]]]
_JSON = b"application/json"
_SCHEMA = str(SCHEMA_VERSION).encode()


@dataclass(frozen=True)
class _Topic:
    """What one stored topic's records share, worked out once."""

    type: str
    headers: tuple[bytes, bytes]  # ce_source, ce_type
    published: bool


# A stored event read, to be encoded: decoded (its topic's facts, its aggregate id as text, its
# version, its state and public data), through the mapper, or never published (None).
Entry = tuple[_Topic, str, int, dict[str, Any], dict[str, Any]] | EventEnvelope | None


class RecordReader:
    """The store's log after a position as the relay's records, event by event."""

    def __init__(
        self,
        store: OrderStore,
        route: Route,
        unpublished: Collection[str],
        claim_over: int | None = None,
        read_bytes: int | None = None,
    ) -> None:
        """`claim_over`: an event whose data encodes to more bytes is published as a claim
        check (`connectors.claim_check`); None: every event whole. `read_bytes`: on
        PostgreSQL, a read stops after the event that takes its stored states over this many
        bytes (a `ShortRead`); None: reads are bounded by their count only."""
        self._store = store
        self._claim_over = claim_over
        self._route = route
        self._unpublished = tuple(unpublished)
        self._envelopes = store.envelope_reader
        self._topics: dict[str, _Topic] = {}
        self._actors: dict[str, bytes] = {}
        self._rows = _RowSelect.of(
            store.recorder, lambda topic: self._topic(topic).published, read_bytes
        )
        self.from_envelopes = 0  # events published through their envelopes (tests, benchmarks)

    def read(self, after: int | None, limit: int) -> list[tuple[int, Entry]]:
        """Up to `limit` events after `after`, each with its position, read (`entry`) but not
        encoded (`encode` makes their records; the relay reads and encodes at once, in its
        reading thread: `read_records`).

        On PostgreSQL the rows come as plain tuples with the aggregate id as its text (the
        relay's subject), not as the library's `Notification`s with a `UUID` each: a row
        object, a UUID built by the driver and written back as text were ~4 % of the relay's
        CPU (py-spy, benchmarks/README.md)."""
        if self._rows is not None:
            entry = self.row_entry
            rows, cut = self._rows.after(after, limit)
            read = [(row[0], entry(*row[1:5])) for row in rows]
            return ShortRead(read) if cut else read
        notifications = self._store.recorder.select_notifications(
            start=after, limit=limit, inclusive_of_start=after is None
        )
        return [(n.id, self.entry(n)) for n in notifications]

    def read_records(self, after: int | None, limit: int) -> list[tuple[int, Any]]:
        """`read`, each event encoded at once, in the same thread: the event loop only hands
        the records over, and a read batch's decoded states and data are freed event by event
        in the thread rather than kept until the batch is encoded and freed on the loop
        (py-spy: freeing them was ~10 % of the relay's busy samples on the loop, and is ~11 %
        in the thread: not cheaper; the relay's CPU per event against encoding on the loop,
        three A/B pairs: -2 %, 0, -8 %, benchmarks/README.md). An event that cannot be
        encoded fails the whole read, as it failed the batch on the loop (retried, never
        skipped)."""
        encode = self.encode
        read = self.read(after, limit)
        records = [(position, encode(entry)) for position, entry in read]
        return ShortRead(records) if isinstance(read, ShortRead) else records

    def records(self, stored: StoredEvent) -> list[OutboundRecord]:
        """The records the relay publishes for one stored event, in their order."""
        return self.encode(self.entry(stored))

    def entry(self, stored: StoredEvent) -> Entry:
        """A stored event read for `encode`: decoded from its JSON, else its envelope through
        the mapper; None for an event never published (not decoded at all)."""
        topic = self._topic(stored.topic)
        if not topic.published:
            return None
        found = self._envelopes.decoded(stored, spliced=True)
        if found is None:
            self.from_envelopes += 1
            return self._envelopes.mapper_envelope(stored)
        _, aggregate_id, version, state, data = found
        return topic, str(aggregate_id), version, state, data

    def row_entry(self, subject: str, version: int, topic_name: str, raw: bytes) -> Entry:
        """`entry` of a row read as a tuple, its aggregate id as the text of a `uuid` column:
        what `str()` of the id the library reads (a `UUID`, passed through to the event
        class's id) gives."""
        topic = self._topic(topic_name)
        if not topic.published:
            return None
        found = self._envelopes.spliced_parts(topic_name, raw)
        if found is None:
            self.from_envelopes += 1
            stored = StoredEvent(UUID(subject), version, topic_name, raw)
            return self._envelopes.mapper_envelope(stored)
        _, state, data = found
        return topic, subject, version, state, data

    def encode(self, entry: Entry) -> list[OutboundRecord]:
        """An entry's records: for one decoded, the headers as `envelope_of` works out the
        envelope's attributes, the value the sorted orjson of its data (`envelope_to_record`)."""
        if entry is None:
            return []
        if isinstance(entry, EventEnvelope):
            records = [envelope_to_record(t, entry, key) for t, key in self._route_of(entry)]
            return self._claimed(records, entry.subject, entry.sequence)
        topic, subject, version, state, data = entry
        correlation, causation, time, actor = attributes_of(subject, version, state)
        source, type_ = topic.headers
        subject_bytes = subject.encode()
        headers = ce_headers(
            event_id_text(subject, version).encode(),
            source,
            type_,
            subject_bytes,
            time,
            _JSON,
            str(version).encode(),
            correlation.encode(),
            causation.encode(),
            self._actor(actor),
            _SCHEMA,
        )
        value = orjson.dumps(data, option=orjson.OPT_SORT_KEYS)
        records = [
            OutboundRecord(
                topic=t,
                key=subject_bytes if not key or key == subject else key.encode(),
                value=value,
                headers=headers,
            )
            for t, key in self._route(topic.type, subject, data)
        ]
        return self._claimed(records, subject, version)

    def _claimed(
        self, records: list[OutboundRecord], subject: str, version: int
    ) -> list[OutboundRecord]:
        """The records, as claim checks where their (shared) value is over the bound."""
        bound = self._claim_over
        if bound is None or not records or len(records[0].value) <= bound:
            return records
        return [claimed(r, subject, version) for r in records]

    def _route_of(self, env: Any) -> list[tuple[str, str]]:
        return self._route(env.type, env.subject, env.data)

    def _actor(self, text: str) -> bytes:
        """The actor header: the text as `Actor` reads and writes it (raising for one it
        refuses, as the envelope would)."""
        found = self._actors.get(text)
        if found is None:
            found = self._actors[text] = str(Actor.parse(text)).encode()
        return found

    def _topic(self, stored_topic: str) -> _Topic:
        topic = self._topics.get(stored_topic)
        if topic is None:
            event_class = resolve_topic(stored_topic)
            type_ = event_type_of(event_class)
            published = not type_.startswith(self._unpublished)
            headers = (source_of(event_class).encode(), type_.encode())
            topic = self._topics[stored_topic] = _Topic(type_, headers, published)
        return topic


class _RowSelect:
    """The notification log after a position as plain tuples (position, aggregate id as text,
    version, topic, state), in binary: the library's `select_notifications` statement with
    the id cast to text.

    The state of an event never published (decision inputs, credentials) comes as NULL once
    its topic has been seen: the relay drops those events unread, and their states are among
    the largest (a decision's inputs ~3.4 kB an order, ~a quarter of the bytes the relay
    read, stored out of line): the server no longer fetches them from TOAST, decompresses
    and sends them, nor psycopg copies them (benchmarks/README.md, pgstore)."""

    def __init__(
        self,
        recorder: PostgresApplicationRecorder,
        published: Callable[[str], bool],
        read_bytes: int | None = None,
    ) -> None:
        self._datastore = recorder.datastore
        self._published = published
        self._seen: set[str] = set()
        self._unsent: list[str] = []  # stored topics never published, as seen
        # Without a bound, one that no read reaches (a bigint's).
        self._bytes = read_bytes if read_bytes is not None else 2**62
        table = SQL("{schema}.{table}").format(
            schema=Identifier(recorder.datastore.schema),
            table=Identifier(recorder.events_table_name),
        )
        # The states' bytes summed in log order, their size as stored (`octet_length` reads a
        # TOASTed value's size from its pointer: no state is fetched or decompressed for it),
        # and the rows kept while the bytes before them are under the bound: a read stops
        # after the event that crosses it.
        head = SQL(
            "SELECT notification_id, originator_id::text, originator_version, topic,"
            " CASE WHEN topic = ANY(%s::text[]) THEN NULL ELSE state END, upto FROM ("
            "SELECT notification_id, originator_id, originator_version, topic, state,"
            " sum(octet_length(state)) OVER (ORDER BY notification_id ROWS UNBOUNDED PRECEDING)"
            " AS upto FROM {table}"
        ).format(table=table)
        order = SQL(
            " ORDER BY notification_id LIMIT %s) AS r WHERE upto - octet_length(state) < %s"
            " ORDER BY notification_id"
        )
        self._first = Composed([head, order])
        self._after = Composed([head, SQL(" WHERE notification_id>%s"), order])

    @classmethod
    def of(
        cls, recorder: Any, published: Callable[[str], bool], read_bytes: int | None = None
    ) -> "_RowSelect | None":
        """For a PostgreSQL store whose ids are `uuid`s (their text is `str()` of the UUID the
        library reads); None otherwise (the relay reads `Notification`s)."""
        if not isinstance(recorder, PostgresApplicationRecorder):
            return None
        if recorder.datastore.originator_id_type != "uuid":
            return None
        return cls(recorder, published, read_bytes)

    @retry((InterfaceError, OperationalError), max_attempts=10, wait=0.2)  # as the library's
    def after(
        self, after: int | None, limit: int
    ) -> tuple[list[tuple[int, str, int, str, bytes, int]], bool]:
        """The rows after `after` (a never-published topic's state None once seen), each with
        the stored bytes up to it, and whether the bound cut the read short."""
        if after is None:
            params = [self._unsent, limit, self._bytes]
            rows = binary_rows(self._datastore, self._first, params)
        else:
            params = [self._unsent, after, limit, self._bytes]
            rows = binary_rows(self._datastore, self._after, params)
        seen = self._seen
        for row in rows:
            if row[3] not in seen:
                self._learn(row[3])
        # The last row took the bytes over the bound: rows after it, if any, were left out.
        return rows, 0 < len(rows) < limit and rows[-1][5] >= self._bytes

    def _learn(self, topic: str) -> None:
        self._seen.add(topic)
        if not self._published(topic):
            self._unsent = [*self._unsent, topic]
