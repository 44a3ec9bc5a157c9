"""Recording decision inputs with the decisions, and reading them back for re-runs.

The recorder adds, to the save of each decision, the inputs record it names (and any source
definition not stored yet). It reads nothing per order: an inputs record is simply created (a
record already stored under the same digest makes the save fail as a conflict, and the
orchestrator then asks `settle()` which records exist before deciding again); a definition is
looked up once per process, the first time it is seen. The reader verifies each record against
its digest, so a tampered body is reported, never re-run.
"""

import base64
import hashlib
import json
import threading
import weakref
import zlib
from collections import OrderedDict
from collections.abc import Iterable
from typing import Any
from uuid import UUID

import orjson
from eventsourcing.domain import Aggregate, DomainEvent
from eventsourcing.persistence import Mapper, StoredEvent
from eventsourcing.utils import get_topic

from aggregates.decision_inputs import (
    PLAIN,
    ZLIB_BASE64,
    RecordedInputs,
    RecordedSource,
    recorded_inputs_id,
    recorded_source_hex,
    recorded_source_id,
)
from aggregates.stored_reads import library_json
from hub.multi_get import select_events_of_many, select_first_events
from hub.store import OrderStore
from orchestration_policies.decision_inputs import (
    DecisionInputs,
    InputsFormatError,
    canonical_json,
    from_body,
)
from orchestration_policies.inputs_text import record_body

# Digests known to be stored, kept per process; forgetting one only costs a conflict later.
# About 240 bytes each (key, UUID, link): 100,000 were 24 MB of the routing process's memory
# filled over its first 100,000 orders, for a hit only when an order is decided again with the
# very same inputs, which happens soon after the first decision if at all (its trigger read
# again: a batch whose offsets were not committed, a handful of batches at most). 20,000 were
# still ~3.5 MB of the orchestration role's growth over a soak's first 20,000 orders.
KNOWN = 4_096
# Inputs bodies up to this size are stored as their text (`PLAIN`), not zlib'd and base64'd:
# compressing a typical order's (15 candidates, ~3 kB) was ~45 us of the ~140 us of recording
# its inputs, and PostgreSQL compresses a stored event over ~2 kB itself (lz4, at a fraction
# of that). Larger ones (hundreds of candidates) are still compressed here.
PLAIN_UP_TO = 8192
# Verified source definitions kept for re-runs, by digest (shared by every reader).
KNOWN_DEFINITIONS = 10_000
_DEFINITIONS: dict[str, dict[str, object]] = {}
# The last inputs read from each store and verified, decoded, by digest (shared by that
# store's readers; per store, so that a store not holding a record still says so): a decision
# re-run again skips reading, unpacking and decoding them (a quarter of a re-run at 200
# candidates). Few: inputs of 200 candidates hold some hundreds of kB.
KNOWN_INPUTS = 16
_INPUTS_READ: "weakref.WeakKeyDictionary[OrderStore, OrderedDict[str, DecisionInputs]]" = (
    weakref.WeakKeyDictionary()
)
_INPUTS_LOCK = threading.Lock()

__all__ = [
    "InputsReader",
    "InputsRecorder",
    "InputsTamperedError",
    "forget_definitions",
    "load_inputs",
]


class InputsTamperedError(InputsFormatError):
    """A stored record whose content does not hash to its digest."""


class InputsRecorder:
    def __init__(self, store: OrderStore) -> None:
        self._store = store
        self._known: OrderedDict[UUID, None] = OrderedDict()  # inputs records stored
        self._sources: set[str] = set()  # definition digests stored (few: sources change rarely)
        self._absent: set[str] = set()  # definition digests looked up and not stored then

    def record(self, inputs: DecisionInputs, pending: dict[UUID, Aggregate]) -> str:
        """Add the records `inputs` needs to `pending` (saved with the decision); its digest."""
        text, definitions = record_body(inputs)  # written straight from the candidates
        digest = hashlib.sha256(text).hexdigest()
        record_id = recorded_inputs_id(digest)
        if record_id not in self._known and record_id not in pending:
            if len(text) <= PLAIN_UP_TO:
                stored, encoding = text.decode(), PLAIN
            else:
                # Level 1: most of the gain (candidates repeat their keys) at a fraction of the
                # CPU.
                stored = base64.b64encode(zlib.compress(text, 1)).decode()
                encoding = ZLIB_BASE64
            pending[record_id] = inputs_record(record_id, digest, stored, encoding)
        for key, definition in definitions.items():
            if key in self._sources:
                continue
            source_id = recorded_source_id(key)
            if source_id in pending:
                continue
            if key not in self._absent and self._stored(source_id):
                self._sources.add(key)  # read once per process, the first time it is seen
            else:
                plain = canonical_json(definition).decode()
                pending[source_id] = RecordedSource(digest=key, definition=plain)
        return digest

    def look_up(self, keys: Iterable[str]) -> None:
        """Which of these source definitions are stored, in one query, so that `record` asks
        nothing per source: it asked once per source the first time each was seen, one
        statement for each of a network's sources after every start (500 on 500 sources).
        One stored by another process after this is found by the save's conflict, as an
        inputs record is (`settle`)."""
        unknown = {
            recorded_source_id(key): key
            for key in keys
            if key not in self._sources and key not in self._absent
        }
        if not unknown:
            return
        found = select_events_of_many(self._store.events.recorder, dict.fromkeys(unknown, 0))
        for record_id, key in unknown.items():
            (self._sources if record_id in found else self._absent).add(key)

    def saved(self, pending: dict[UUID, Aggregate]) -> None:
        for record_id, record in pending.items():
            self._remember(record_id, record)

    def settle(self, pending: dict[UUID, Aggregate]) -> None:
        """After a save failed: remember which of its records another save stored meanwhile."""
        for record_id, record in pending.items():
            if self._stored(record_id):
                self._remember(record_id, record)

    def _stored(self, record_id: UUID) -> bool:
        return any(True for _ in self._store.events.get(record_id, limit=1))

    def _remember(self, record_id: UUID, record: Aggregate) -> None:
        if isinstance(record, RecordedSource):
            self._sources.add(record.digest)
            self._absent.discard(record.digest)
            return
        self._known[record_id] = None
        self._known.move_to_end(record_id)
        if len(self._known) > KNOWN:
            self._known.popitem(last=False)


class InputsReader:
    """Reads recorded inputs. Source definitions are kept once read and verified: named by
    the digest of their content, they are the same in any store, so every reader shares them."""

    def __init__(self, store: OrderStore) -> None:
        self._store = store
        self._definitions = _DEFINITIONS

    def load(self, digest: str) -> DecisionInputs | None:
        """The inputs recorded under `digest`; None when none were (older decisions). Named by
        the digest of their content, verified when read, and never changed (frozen values,
        decide() is pure): the last ones read are kept and given again."""
        with _INPUTS_LOCK:  # the API re-runs in several threads
            read = _INPUTS_READ.setdefault(self._store, OrderedDict())
            known = read.get(digest)
            if known is not None:
                read.move_to_end(digest)
                return known
        inputs = self._read(digest)
        if inputs is not None:
            with _INPUTS_LOCK:
                read[digest] = inputs
                while len(read) > KNOWN_INPUTS:
                    read.popitem(last=False)
        return inputs

    def _read(self, digest: str) -> DecisionInputs | None:
        events = self._store.events
        stored = events.recorder.select_events(recorded_inputs_id(digest), limit=1)
        record = _recorded(events.mapper, stored[0], _INPUTS) if stored else None
        if record is None:
            return None
        body, encoding = record.get("body"), record.get("encoding", ZLIB_BASE64)
        if not isinstance(body, str) or not isinstance(encoding, str):
            raise InputsFormatError(f"the inputs record {digest} holds no body")
        text = unpack(body, encoding)
        _check(text, digest, "inputs")
        body = _loads(text)
        keys = {row["definition"] for row in body.get("candidates", ())}
        missing = keys - self._definitions.keys()
        if missing and len(self._definitions) + len(missing) > KNOWN_DEFINITIONS:
            self._definitions.clear()
            missing = keys
        self._read_definitions(missing)
        return from_body(body, {key: self._definition(key) for key in keys})

    def _read_definitions(self, keys: set[str]) -> None:
        """The definitions not read yet, in one query (a cold re-run over 50 candidates made
        50 round trips); each verified against its digest before it is kept."""
        keys = self._read_plain(keys)
        if not keys:
            return
        # A definition is one event, never changed: that event is read (through the store's
        # mapper), no aggregate rebuilt from it; a fifth less of a cold re-run's reading.
        ids = {recorded_source_id(key): key for key in keys}
        events = self._store.events
        stored = select_events_of_many(events.recorder, dict.fromkeys(ids, 0))
        for record_id, (first, *_) in stored.items():
            found = _recorded(events.mapper, first, _SOURCE)
            definition = None if found is None else found.get("definition")
            key = ids.get(record_id)
            if key is not None and isinstance(definition, str):
                _check(definition, key, "source definition")
                self._definitions[key] = _loads(definition)

    def _read_plain(self, keys: set[str]) -> set[str]:
        """Read as their stored JSON (see `_recorded`), the definitions of `keys` that can be;
        those left. Each event says which definition it holds (its digest), which its text
        must hash to: no id is turned back into a UUID, none is mapped back to its digest."""
        events = self._store.events
        if not keys or not _plain_mapper(events.mapper):
            return keys
        found = select_first_events(events.recorder, [recorded_source_hex(k) for k in keys])
        if found is None:
            return keys
        left = set(keys)
        for topic, state in found:
            values = _plain_state(topic, state, _SOURCE)
            key = None if values is None else values.get("digest")
            definition = None if values is None else values.get("definition")
            if isinstance(key, str) and key in left and isinstance(definition, str):
                _check(definition, key, "source definition")
                self._definitions[key] = _loads(definition)
                left.discard(key)
        return left  # unread here (none stored, or not plain): the mapper's way tells

    def _definition(self, key: str) -> dict[str, object]:
        if key not in self._definitions:
            self._read_definitions({key})
        if key not in self._definitions:
            raise InputsFormatError(f"source definition {key} is not recorded")
        return self._definitions[key]


# Both records are one event each, written once, of strings only (an aggregate rebuilt from it
# adds nothing). Stored by the library's JSON transcoder without cipher or compression, that
# event's state is plain JSON: read by orjson, it costs a fifth of the mapper's decoding (whose
# JSON hook runs per object) and no event object. Every value read is then checked against
# its digest, as before.
_INPUTS: type = RecordedInputs.Recorded  # type: ignore[attr-defined]  # made by @event
_SOURCE: type = RecordedSource.Recorded  # type: ignore[attr-defined]
_PLAIN_TOPICS = {
    get_topic(kind): kind for kind in (_INPUTS, _SOURCE) if getattr(kind, "class_version", 1) == 1
}


def inputs_record(record_id: UUID, digest: str, body: str, encoding: str) -> RecordedInputs:
    """``RecordedInputs._create(Recorded, id=record_id, digest=..., body=..., encoding=...)``:
    the same event and the same aggregate, made directly. The library's creation looks the
    id's and the `__init__`'s parameters up by signature and resolves the class by its topic
    for every aggregate it creates: a third of recording an order's inputs (py-spy), for a
    record of three strings made with every decision. The id is the one worked out from the
    digest already."""
    event = _INPUTS(
        originator_topic=_INPUTS_OWNER,
        originator_id=record_id,
        originator_version=1,
        timestamp=DomainEvent.create_timestamp(),  # as the event class makes its own
        digest=digest,
        body=body,
        encoding=encoding,
    )
    record: RecordedInputs = object.__new__(RecordedInputs)
    record.__dict__.update(
        _id=record_id,
        _version=1,
        _created_on=event.timestamp,
        _modified_on=event.timestamp,
        _pending_events=[event],
        digest=digest,
        body=body,
        encoding=encoding,
    )
    return record


_INPUTS_OWNER = get_topic(RecordedInputs)


def latest_inputs_digest(store: OrderStore, look_back: int = 2_000) -> str | None:
    """The digest of the newest inputs record among the store's last `look_back`
    notifications; None if there is none."""
    for notification in store.newest_notifications([get_topic(_INPUTS)], look_back):
        record = _recorded(store.events.mapper, notification, _INPUTS)
        digest = None if record is None else record.get("digest")
        if isinstance(digest, str):
            return digest
    return None


def _recorded(mapper: Mapper[UUID], stored: StoredEvent, kind: type) -> dict[str, Any] | None:
    """The values of a stored `kind` event (`RecordedInputs` or `RecordedSource` created);
    None if the event is of another kind."""
    if _plain_mapper(mapper):
        state = _plain_state(stored.topic, stored.state, kind)
        if state is not None:
            return state
    event = mapper.to_domain_event(stored)
    return vars(event) if isinstance(event, kind) else None


def _plain_mapper(mapper: Mapper[UUID]) -> bool:
    return library_json(mapper.transcoder) and mapper.cipher is None and mapper.compressor is None


def _plain_state(topic: str, state: bytes, kind: type) -> dict[str, Any] | None:
    """A `kind` event's values read by orjson from its state, written by a plain mapper; None
    when it is of another kind or orjson cannot tell (the mapper then reads it)."""
    if _PLAIN_TOPICS.get(topic) is not kind:
        return None
    try:
        values = orjson.loads(state)
    except orjson.JSONDecodeError:
        return None  # what orjson refuses (a lone surrogate ...): the mapper reads it
    if isinstance(values, dict) and "class_version" not in values:
        return values
    return None


def forget_definitions() -> None:
    """Drop the shared definitions and inputs (a benchmark measuring cold re-runs)."""
    _DEFINITIONS.clear()
    with _INPUTS_LOCK:
        _INPUTS_READ.clear()


def load_inputs(store: OrderStore, digest: str) -> DecisionInputs | None:
    """The inputs recorded under `digest` (None: not recorded); InputsFormatError if unreadable."""
    return InputsReader(store).load(digest)


def unpack(body: str, encoding: str) -> bytes:
    """The canonical JSON an inputs record holds, from its stored body and encoding."""
    if encoding == PLAIN:
        return body.encode()
    if encoding != ZLIB_BASE64:
        raise InputsFormatError(f"inputs record encoding {encoding!r} is not known")
    try:
        return zlib.decompress(base64.b64decode(body, validate=True))
    except (ValueError, zlib.error) as error:
        raise InputsTamperedError(f"the recorded inputs cannot be unpacked: {error}") from error


def _loads(text: str | bytes) -> Any:
    """json.loads' values, by orjson (several times faster); json.loads reads what orjson
    refuses (NaN, integers beyond 64 bits, lone surrogates), as it did when it was written."""
    try:
        return orjson.loads(text)
    except orjson.JSONDecodeError:
        return json.loads(text)


def _check(text: str | bytes, digest: str, what: str) -> None:
    data = text.encode() if isinstance(text, str) else text
    if hashlib.sha256(data).hexdigest() != digest:
        raise InputsTamperedError(f"the recorded {what} does not match its digest {digest}")
