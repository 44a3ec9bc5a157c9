"""The store's log as the embedded lanes read it: each event decoded once for both lanes, and
only the events a lane's followers read at all."""

import threading
from collections import deque
from collections.abc import Collection, Sequence
from dataclasses import dataclass
from typing import Protocol

from eventsourcing.persistence import Notification
from eventsourcing.sqlite import SQLiteApplicationRecorder
from eventsourcing.utils import resolve_topic

from aggregates.contract import event_type_of
from hub.embedded.sqlite_log import read_leaving_out
from hub.store import OrderStore
from schemas.envelope import EventEnvelope

Entry = tuple[int, EventEnvelope]


@dataclass(frozen=True)
class Read:
    """The envelopes of a read (those of the types asked for), and the position of the last
    event read, whatever its type (None: nothing new)."""

    entries: list[Entry]
    last: int | None

    def since(self, seen: int | None, types: Collection[str] | None = None) -> list[Entry]:
        """The entries after `seen`; with `types`, those of these types only."""
        if types is None:
            return self.entries if seen is None else [e for e in self.entries if e[0] > seen]
        after = -1 if seen is None else seen
        return [e for e in self.entries if e[0] > after and e[1].type in types]


class Log(Protocol):
    """What a lane reads: the store's notification log as envelopes, and its end."""

    def read(self, after: int | None, limit: int, types: Collection[str] | None = None) -> Read:
        """Up to `limit` events after a position; with `types`, only those are decoded and
        returned (None: all)."""
        ...

    def max_position(self) -> int: ...


class DecodedLog:
    """The store's log with the events read last kept decoded, shared by the lanes.

    Both lanes follow the same log a moment apart: decoding a stored event into its envelope
    (the typed mapper and the public data) was a quarter of the embedded process's busy time
    under load, done once per lane. Here the envelopes of the last reads are kept, in log order,
    as one run with no hole: every event between `_start` (exclusive) and the last kept position
    was returned by the store in order, so a read that starts inside the run is answered from it
    without a round trip. A read that starts at the run's end extends it, one past its end
    starts a new run, and one before its start (a lane that lags, e.g. routing under overload)
    goes to the store and leaves the run to the lane ahead. The store hands out positions in
    commit order (SQLite has one writer; the library's PostgreSQL recorder takes a table lock),
    so nothing can appear later inside a run. The envelopes are frozen models, shared between
    the lanes' threads as they are. With `decodes` set (the types some lane reads) the run
    holds the events of those types only, the others read past and never decoded (decision
    inputs, a tenth of the log, were decoded for the views lane that reads none of them); its
    end is then kept apart, since the last position read may be of a type not kept.
    """

    def __init__(self, store: OrderStore, keep: int) -> None:
        self._store = store
        self._keep = max(1, keep)
        self._lock = threading.Lock()
        self._start: int | None = None  # the position the kept run follows (None: no run)
        self._end: int | None = None  # the last position the run covers (read, kept or not)
        self._kept: deque[Entry] = deque()
        # The types the run keeps decoded: every lane's (set by the delivery); None: all.
        # The events of other types are read past, never decoded: no lane reads them.
        self.decodes: frozenset[str] | None = None
        self.reads = 0  # round trips to the store, for tests and benchmarks
        self.decoded = 0  # events decoded
        self.hits = 0  # reads answered from the kept run
        self._types: dict[str, str] = {}  # stored topic -> event type

    def max_position(self) -> int:
        return self._store.max_position()

    def read_envelopes(self, after: int | None, limit: int) -> list[Entry]:
        return self.read(after, limit).entries

    def read(self, after: int | None, limit: int, types: Collection[str] | None = None) -> Read:
        since = after or 0  # from the start (None) is after 0: the log's first position is 1
        decodes = self.decodes
        if decodes is not None and (types is None or not decodes.issuperset(types)):
            return self._read_store(after, limit, types)  # more than the run keeps: not kept
        with self._lock:
            kept = self._from_kept(since, limit)
        if kept is not None:
            read = kept
        elif decodes is None and types is not None:
            return self._read_store(after, limit, types)  # a read with holes: not kept
        else:
            read = self._read_store(after, limit, decodes)
            with self._lock:
                self._keep_read(since, read)
        if types is None:
            return read
        return Read([e for e in read.entries if e[1].type in types], read.last)

    def _read_store(self, after: int | None, limit: int, types: Collection[str] | None) -> Read:
        """Up to `limit` events from the store, those of `types` only decoded (None: all; an
        event's type follows from its stored topic)."""
        store = self._store
        if types is None:
            entries = store.read_envelopes(after, limit)
            last = entries[-1][0] if entries else None
        else:
            notifications, last = self._select(after, limit, types)
            envelope = store.envelope_reader.envelope
            entries = [
                (n.id, envelope(n)) for n in notifications if self._type_of(n.topic) in types
            ]
        with self._lock:
            self.reads += 1
            self.decoded += len(entries)
        return Read(entries, last)

    def _select(
        self, after: int | None, limit: int, types: Collection[str]
    ) -> tuple[Sequence[Notification], int | None]:
        """The notifications of a read and the last position it covers; SQLite leaves out the
        rows of the topics seen to be of other types (`hub.embedded.sqlite_log`)."""
        recorder = self._store.recorder
        if isinstance(recorder, SQLiteApplicationRecorder):
            left_out = [t for t, kind in list(self._types.items()) if kind not in types]
            read = read_leaving_out(recorder, after or 0, limit, left_out)
            return read.notifications, read.last
        notifications = recorder.select_notifications(
            start=after, limit=limit, inclusive_of_start=after is None
        )
        return notifications, notifications[-1].id if notifications else None

    def _type_of(self, topic: str) -> str:
        found = self._types.get(topic)
        if found is None:
            found = self._types[topic] = event_type_of(resolve_topic(topic))
        return found

    def _from_kept(self, after: int, limit: int) -> Read | None:
        if self._start is None or self._end is None or after < self._start:
            return None
        if after >= self._end:
            return None  # past the run: only the store knows what came next
        found = [entry for entry in self._kept if entry[0] > after]
        self.hits += 1
        if len(found) > limit:  # the run has no hole: all up to the last one handed is seen
            return Read(found[:limit], found[limit - 1][0])
        return Read(found, self._end)

    def _keep_read(self, after: int, read: Read) -> None:
        if read.last is None:
            return
        if self._end is not None and self._start is not None and after < self._start:
            return  # a reader behind the run: the other lane has gone on, keep its run
        if self._end is not None and after <= self._end:
            fresh = [entry for entry in read.entries if entry[0] > self._end]
            self._end = max(self._end, read.last)
        else:  # no run yet, or the reader is past its end: a new run from here
            self._kept.clear()
            self._start, self._end, fresh = after, read.last, read.entries
        self._kept.extend(fresh)
        while len(self._kept) > self._keep:
            self._start = self._kept.popleft()[0]
