"""The relay's Kafka records built straight from the stored events, without their envelopes.

`OrderStore.read_envelopes` then `connectors.codec.envelope_to_record` made an envelope model of
each event to read its attributes back into headers at once (the relay's CPU per event was ~5
times a raw producer's per record: benchmarks/README.md). Here an event read from its stored
JSON (`EnvelopeReader.decoded`: the same public data the envelope would carry) goes to its
records directly: the headers worked out as `aggregates.contract.envelope_of` works out the
envelope's attributes, written as `envelope_to_record` writes them (`ce_headers`), the value
the same sorted orjson of the data. An event the reader leaves to the mapper is published from
its envelope as before, and an event of a family that is never published (decision inputs,
credentials: `unpublished`) is not decoded at all. tests/unit/test_stored_records.py holds the
records to those of the envelope path, byte for byte, over a generated history and the stored
events of the earlier release.
"""

from collections.abc import Callable, Collection
from dataclasses import dataclass
from typing import Any

import orjson
from eventsourcing.persistence import StoredEvent
from eventsourcing.utils import resolve_topic

from aggregates.contract import SCHEMA_VERSION, attributes_of, event_type_of, source_of
from aggregates.ids import event_id_text
from connectors.codec import OutboundRecord, ce_headers, envelope_to_record
from hub.store import OrderStore
from hub.stored_envelopes import Decoded
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


# A stored event read, to be encoded: decoded, through the mapper, or never published (None).
Entry = tuple[_Topic, Decoded] | EventEnvelope | None


class RecordReader:
    """The store's log after a position as the relay's records, event by event."""

    def __init__(self, store: OrderStore, route: Route, unpublished: Collection[str]) -> None:
        self._store = store
        self._route = route
        self._unpublished = tuple(unpublished)
        self._envelopes = store.envelope_reader
        self._topics: dict[str, _Topic] = {}
        self._actors: dict[str, bytes] = {}
        self.from_envelopes = 0  # events published through their envelopes (tests, benchmarks)

    def read(self, after: int | None, limit: int) -> list[tuple[int, Entry]]:
        """Up to `limit` events after `after`, each with its position, read (`entry`) but not
        encoded: the relay reads the next batch in a thread while its event loop publishes
        the one before, and encodes on the loop, as it did envelopes."""
        notifications = self._store.recorder.select_notifications(
            start=after, limit=limit, inclusive_of_start=after is None
        )
        entry = self.entry
        return [(n.id, entry(n)) for n in notifications]

    def records(self, stored: StoredEvent) -> list[OutboundRecord]:
        """The records the relay publishes for one stored event, in their order."""
        return self.encode(self.entry(stored))

    def entry(self, stored: StoredEvent) -> Entry:
        """A stored event read for `encode`: decoded from its JSON, else its envelope through
        the mapper; None for an event never published (not decoded at all)."""
        topic = self._topics.get(stored.topic)
        if topic is None:
            topic = self._topics[stored.topic] = self._topic(stored.topic)
        if not topic.published:
            return None
        found = self._envelopes.decoded(stored)
        if found is None:
            self.from_envelopes += 1
            return self._envelopes.mapper_envelope(stored)
        return topic, found

    def encode(self, entry: Entry) -> list[OutboundRecord]:
        """An entry's records: for one decoded, the headers as `envelope_of` works out the
        envelope's attributes, the value the sorted orjson of its data (`envelope_to_record`)."""
        if entry is None:
            return []
        if isinstance(entry, EventEnvelope):
            return [envelope_to_record(t, entry, key) for t, key in self._route_of(entry)]
        topic, (_, aggregate_id, version, state, data) = entry
        subject = str(aggregate_id)
        correlation, causation, time, actor = attributes_of(subject, version, state)
        source, type_ = topic.headers
        headers = ce_headers(
            event_id_text(subject, version).encode(),
            source,
            type_,
            subject.encode(),
            time,
            _JSON,
            str(version).encode(),
            correlation.encode(),
            causation.encode(),
            self._actor(actor),
            _SCHEMA,
        )
        value = orjson.dumps(data, option=orjson.OPT_SORT_KEYS)
        return [
            OutboundRecord(topic=t, key=(key or subject).encode(), value=value, headers=headers)
            for t, key in self._route(topic.type, subject, data)
        ]

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
        event_class = resolve_topic(stored_topic)
        type_ = event_type_of(event_class)
        published = not type_.startswith(self._unpublished)
        return _Topic(type_, (source_of(event_class).encode(), type_.encode()), published)
