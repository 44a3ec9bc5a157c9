"""The event store application: the eventsourcing library's own recorders, SQLite or PostgreSQL."""

import functools
import logging
from collections.abc import Iterable, Iterator, Sequence
from typing import Any, ClassVar
from uuid import UUID

from eventsourcing.application import (
    AggregateNotFoundError,
    Application,
    ProcessingEvent,
    Repository,
)
from eventsourcing.domain import BaseAggregate, Snapshot
from eventsourcing.persistence import (
    IntegrityError,
    Mapper,
    Notification,
    PersistenceError,
    ProgrammingError,
    StoredEvent,
)
from eventsourcing.postgres import PostgresAggregateRecorder
from eventsourcing.sqlite import SQLiteDatastore
from eventsourcing.utils import TopicError, get_topic, resolve_topic, strtobool
from psycopg.errors import DuplicateObject, DuplicateTable
from psycopg.rows import tuple_row

from aggregates.stock import StockItem
from aggregates.stored_reads import OrjsonReadingTranscoder
from aggregates.typed_mapper import TypedMapper
from hub.multi_get import get_many, project_events
from hub.sqlite_statements import cache_statements
from hub.stored_envelopes import EnvelopeReader
from projections.sqldb import compress_with_lz4
from schemas.envelope import EventEnvelope

log = logging.getLogger(__name__)
# A stock item takes an event per reservation, release and shipment of its SKU at its source:
# its history grows with the business (thousands of events a week for a popular SKU at a DC),
# and a load replays all of it (~0.1 ms an event). A snapshot every this many events bounds a
# load to the snapshot and fewer events than this.
STOCK_SNAPSHOT_EVERY = 50
# But a snapshot lists the item's open reservations: an item holding thousands (orders that wait
# days to ship: pre-orders, backorders, slow drop-shippers) wrote them all again every 50
# events, so its bytes and CPU per reservation grew with the open ones and its snapshots with
# the square of its history (a soak that ships nothing: benchmarks/README.md, snap13). The
# interval doubles while below a sixteenth of the units reserved, which bounds what a snapshot
# costs per event; a load then replays at most about that many events, its snapshot's size.
UNITS_PER_SNAPSHOT_EVENT = 16


def stock_snapshot_every(interval: int, reserved: int) -> int:
    """Events between a stock item's snapshots when it holds `reserved` units: `interval`,
    doubled while fewer than `reserved` / `UNITS_PER_SNAPSHOT_EVENT` (a power of two times it,
    so that the versions snapshotted stay multiples of `interval`)."""
    every = interval
    while every * UNITS_PER_SNAPSHOT_EVENT < reserved:
        every *= 2
    return every


_CREATE_TRIES = 3


class OrderStore(Application[Any]):
    """Holds every aggregate's history; the notification log orders all events of all aggregates."""

    name = "orderhub"
    # The library's JSON, read by orjson (aggregates.stored_reads): the library's own way to
    # choose a transcoder, so a `TRANSCODER_TOPIC` given to the store still has the last word.
    env: ClassVar[dict[str, str]] = {"TRANSCODER_TOPIC": get_topic(OrjsonReadingTranscoder)}
    # Orders, cases and policies have short histories; stock items do not.
    snapshotting_intervals: ClassVar[dict[type[Any], int]] = {StockItem: STOCK_SNAPSHOT_EVERY}

    def __init__(self, *args: Any, **kwargs: Any) -> None:
        for tries_left in reversed(range(_CREATE_TRIES)):
            try:
                super().__init__(*args, **kwargs)
                break
            except (IntegrityError, ProgrammingError) as error:
                # The hub's processes start together: on a new PostgreSQL database two of them
                # creating a table or row type at once fail the later one once the first has
                # committed, with a unique violation on `pg_type`, "type ... already exists" or
                # "relation ... already exists" (`CREATE TABLE IF NOT EXISTS` is not atomic; the
                # library passes `DuplicateObject` only for its own `CREATE TYPE`).
                # Started again, it finds them there.
                if isinstance(error, ProgrammingError) and not isinstance(
                    error.__cause__, (DuplicateObject, DuplicateTable)
                ):
                    raise
                factory = getattr(self, "factory", None)
                if factory is not None:
                    factory.close()
                if not tries_left:
                    raise
        self._compress_with_lz4()
        datastore = getattr(self.recorder, "datastore", None)
        if isinstance(datastore, SQLiteDatastore):
            cache_statements(datastore)

    def _compress_with_lz4(self) -> None:
        """PostgreSQL: events and snapshots larger than ~2 kB (`Routed`, `Placed`, stock
        snapshots) compressed with lz4 rather than pglz, a third of its CPU on insert
        (projections.sqldb.compress_with_lz4). Stored events of earlier releases keep their
        pglz and load as before."""
        recorders = [self.recorder, self.snapshots.recorder if self.snapshots else None]
        tables = [
            (f"{r.datastore.schema}.{r.events_table_name}", "state")
            for r in recorders
            if isinstance(r, PostgresAggregateRecorder)
        ]
        if not tables:
            return
        datastore = self.recorder.datastore  # type: ignore[attr-defined]
        try:
            with datastore.get_connection() as conn, conn.cursor(row_factory=tuple_row) as cur:
                altered = compress_with_lz4(cur, tables, p="%s")
        except PersistenceError as error:
            # Only a saving: a role that may not alter the tables runs on as before.
            log.warning("the event store's tables kept their compression (%s)", error)
            return
        if altered:
            log.info("large values of %s compressed with lz4 from now on", ", ".join(altered))

    def construct_mapper(self) -> Mapper[Any]:
        # Events carry the order's values (submission, shipment lines ...) as typed objects.
        return self.factory.mapper(transcoder=self.construct_transcoder(), mapper_class=TypedMapper)

    def construct_repository(self) -> Repository[Any]:
        """Loads without looking for a snapshot: only stock items have them (`repository_for`),
        and asking the snapshot table first was one more round trip on every load of an order.
        Both project events without the library's per-event runtime protocol check."""
        env = self.env
        cache_maxsize = env.get(self.AGGREGATE_CACHE_MAXSIZE)
        repository = _Repository(
            event_store=self.events,
            snapshot_store=None,
            cache_maxsize=int(cache_maxsize) if cache_maxsize else None,
            fastforward=strtobool(env.get(self.AGGREGATE_CACHE_FASTFORWARD, "y")),
            fastforward_skipping=strtobool(env.get(self.AGGREGATE_CACHE_FASTFORWARD_SKIPPING, "n")),
            deepcopy_from_cache=strtobool(env.get(self.DEEPCOPY_FROM_AGGREGATE_CACHE, "y")),
        )
        self._snapshotting = _Repository(event_store=self.events, snapshot_store=self.snapshots)
        return repository

    def repository_for(self, kind: type[Any]) -> Repository[Any]:
        """The repository that loads this kind of aggregate fastest."""
        return self._snapshotting if kind in self.snapshotting_intervals else self.repository

    def get_many(self, ids: Iterable[UUID], kind: type[Any] | None = None) -> dict[UUID, Any]:
        """Many aggregates in one query (two for a kind with snapshots), each as
        `repository.get` gives it; ids not stored are left out. With the library's aggregate
        cache on, its own per-aggregate path is kept."""
        repository = self.repository if kind is None else self.repository_for(kind)
        if repository.cache is None:
            return get_many(repository, ids)
        return self.get_each(ids, kind)

    def get_each(self, ids: Iterable[UUID], kind: type[Any] | None = None) -> dict[UUID, Any]:
        """The same as `get_many`, one query (or two) per aggregate: the library's own path."""
        repository = self.repository if kind is None else self.repository_for(kind)
        found: dict[UUID, Any] = {}
        for aggregate_id in dict.fromkeys(ids):
            try:
                found[aggregate_id] = repository.get(aggregate_id)
            except AggregateNotFoundError:
                continue
        return found

    def save(self, *objs: Any, **kwargs: Any) -> Any:
        """The library's `save`, collecting the aggregates' events without its runtime protocol
        checks (two per saved object; on Python 3.11 they were a fifth of a stock load's CPU).
        A list among `objs`, or an object with `stored_events`, holds events written straight
        to their stored form (`_save_stored`; no recordings are answered then)."""
        if any(_stored_form(obj) is not None for obj in objs):
            return self._save_stored(objs)
        processing_event = _Processing()
        processing_event.collect_events(*objs, **kwargs)
        recordings = self._record(processing_event)
        self._take_snapshots(processing_event)
        self._notify(recordings)
        self.notify(processing_event.events)
        return recordings

    def written(self, *aggregates: Any) -> list[StoredEvent]:
        """The aggregates' new events, taken from them, in their stored form: a list `save`
        takes, that can be saved again if a save of it fails (a failed save has taken them)."""
        processing_event = _Processing()
        processing_event.collect_events(*aggregates)
        return list(map(self.mapper.to_stored_event, processing_event.events))

    def _save_stored(self, parts: tuple[Any, ...]) -> list[Any]:
        """`save` of aggregates and of events written already in their stored form (lists of
        `StoredEvent`, hub.services.routed_events), in the order given, in one transaction."""
        processing_event = _Processing()
        stored: list[StoredEvent] = []
        for part in parts:
            written = _stored_form(part)
            if written is not None:
                stored += written
                continue
            start = len(processing_event.events)
            processing_event.collect_events(part)
            stored += map(self.mapper.to_stored_event, processing_event.events[start:])
        self.recorder.insert_events(stored)
        if self.repository.cache and not self.repository.fastforward:
            for aggregate_id, aggregate in processing_event.aggregates.items():
                self.repository.cache.put(aggregate_id, aggregate)
        # Stored-form stock items (hub.services.reserved_events) know their units reserved.
        reserved = {part.id: part.reserved for part in parts if hasattr(part, "reserved")}
        self._take_snapshots(processing_event, self._crossed(stored, processing_event, reserved))
        return []

    def _crossed(
        self,
        stored: list[StoredEvent],
        processing_event: ProcessingEvent[Any],
        reserved: dict[Any, int],
    ) -> list[Any]:
        """Ids of the aggregates of a snapshotted kind whose events were given in their stored
        form (no aggregate saved) and reached a version the store snapshots: such an item
        took no snapshot, and its loads replayed every event since its last one (a shortcut
        lost for good on an item only stored-form writers touch). Read per topic once."""
        if self.snapshots is None:
            return []
        intervals, due = self._topic_intervals, []
        for event in stored:
            interval = intervals.get(event.topic)
            if interval is None:
                interval = intervals[event.topic] = self._interval_of(event.topic)
            if interval and event.originator_id in reserved:
                interval = stock_snapshot_every(interval, reserved[event.originator_id])
            if interval and not event.originator_version % interval:
                due.append(event.originator_id)
        return [i for i in dict.fromkeys(due) if i not in processing_event.aggregates]

    @functools.cached_property
    def _topic_intervals(self) -> dict[str, int]:
        return {}

    def _interval_of(self, topic: str) -> int:
        """The snapshot interval of the aggregate an event topic belongs to (0: none)."""
        module, _, qualname = topic.partition(":")
        owner = qualname.rpartition(".")[0]
        try:
            kind = resolve_topic(f"{module}:{owner}") if owner else None
        except TopicError:
            return 0
        return self.snapshotting_intervals.get(kind, 0) if kind is not None else 0

    def _take_snapshots(
        self, processing_event: ProcessingEvent[Any], loaded: Iterable[Any] = ()
    ) -> None:
        """Snapshots of the aggregates a save has just recorded that crossed their interval.

        Taken from the saved aggregates themselves (their state is what was recorded) and
        written together, where the library would load each one again and write it alone;
        those whose events were given in stored form (`loaded`) are read back for it. The
        events are committed already and a snapshot is only a shortcut for loading, so a
        snapshot that cannot be written is logged and the next interval tries again."""
        if self.snapshots is None:
            return
        due: dict[Any, Any] = {}
        for event in processing_event.events:
            aggregate = processing_event.aggregates.get(event.originator_id)
            interval = self.snapshotting_intervals.get(type(aggregate))
            if interval and isinstance(aggregate, StockItem):
                interval = stock_snapshot_every(interval, aggregate.reserved)
            if interval and event.originator_version % interval == 0:
                due[event.originator_id] = aggregate
        if not due and not loaded:
            return
        try:
            due |= {i: self._snapshotting.get(i) for i in loaded}
            self.snapshots.put([Snapshot.take(aggregate) for aggregate in due.values()])
        except Exception:
            log.exception(
                "could not write %d snapshots (loads replay more till the next)", len(due)
            )

    def read_envelopes(self, after: int | None, limit: int) -> list[tuple[int, EventEnvelope]]:
        """The next events after a notification id, as public envelopes with their positions."""
        notifications: Sequence[Notification] = self.recorder.select_notifications(
            start=after, limit=limit, inclusive_of_start=after is None
        )
        envelope = self.envelope_reader.envelope
        return [(n.id, envelope(n)) for n in notifications]

    @functools.cached_property
    def envelope_reader(self) -> EnvelopeReader:
        """Stored events to their public envelopes, from the stored JSON where it can."""
        return EnvelopeReader(self.mapper)

    def events_of(self, aggregate_id: str) -> list[EventEnvelope]:
        """One aggregate's stored events as their public envelopes, in version order (an
        order's audit trail reads its own events here); [] for an unknown id."""
        try:
            ident = UUID(aggregate_id)
        except ValueError:
            return []
        envelope = self.envelope_reader.envelope
        return [envelope(stored) for stored in self.recorder.select_events(ident)]

    def event_at(self, aggregate_id: str, version: int) -> EventEnvelope | None:
        """One stored event as its public envelope (what the relay published, or left here as
        a claim check: connectors.claim_check); None for an unknown id or version."""
        try:
            ident = UUID(aggregate_id)
        except ValueError:
            return None
        found = self.recorder.select_events(ident, gt=version - 1, lte=version, limit=1)
        return self.envelope_reader.envelope(found[0]) if found else None

    def max_position(self) -> int:
        return self.recorder.max_notification_id() or 0

    def newest_notifications(
        self, topics: Sequence[str], look_back: int = 2_000, window: int = 64
    ) -> Iterator[Notification]:
        """The notifications of `topics` among the last `look_back`, newest first, read
        backwards `window` at a time: a caller after the newest reads a few, not thousands
        (a `Routed` event is tens of kB at 200 candidates)."""
        stop = self.max_position()
        floor = max(1, stop - look_back + 1)
        while stop >= floor:
            start = max(floor, stop - window + 1)
            found = self.recorder.select_notifications(
                start=start, limit=window, stop=stop, topics=topics
            )
            yield from reversed(found)
            stop = start - 1


class _Repository(Repository[Any]):
    """The library's repository, projecting with `project_events` unless told otherwise."""

    def get(
        self, aggregate_id: UUID, *, projector_func: Any = project_events, **options: Any
    ) -> Any:
        return super().get(aggregate_id, projector_func=projector_func, **options)


def _stored_form(obj: Any) -> list[StoredEvent] | None:
    """The events `obj` holds in their stored form: it is a list of them, or has them as its
    `stored_events` (hub.services.reserved_events); None for an aggregate."""
    if type(obj) is list:
        return obj
    if isinstance(obj, BaseAggregate):
        return None
    written: list[StoredEvent] | None = getattr(obj, "stored_events", None)
    return written


class _Processing(ProcessingEvent[Any]):
    def collect_events(self, *objs: Any, **kwargs: Any) -> None:
        """The library's, with a plain class check first: `isinstance` against its runtime
        protocols walks each protocol's members on every call on Python 3.11."""
        for obj in objs:
            if isinstance(obj, BaseAggregate):
                self.events.extend(obj.collect_events())
                self.aggregates[obj.id] = obj
            elif obj is not None:
                super().collect_events(obj)
        self.saved_kwargs.update(kwargs)
