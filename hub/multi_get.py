"""Many aggregates from one query: the stored events of many originators selected together.

The eventsourcing library reads one aggregate per query (`repository.get`); routing a chunk of
orders that way costs a round trip to the database per order and per stock item. Here the
events of all the wanted aggregates come back in one `SELECT` (joined on the ids and the
version each starts after, so snapshots keep their use) and each aggregate is rebuilt as
`repository.get` rebuilds it: the application's mapper (its transcoder, upcasting, cipher and
compression) and the library's projection (`project_events`), from the latest snapshot when
snapshotting is on.
Optimistic concurrency is unchanged: an aggregate's version is what a later save checks.
"""

import functools
from collections.abc import Iterable, Mapping, Sequence
from typing import Any
from uuid import UUID

from eventsourcing.application import Repository
from eventsourcing.persistence import (
    AggregateRecorder,
    InterfaceError,
    OperationalError,
    StoredEvent,
)
from eventsourcing.postgres import PostgresAggregateRecorder, PostgresDatastore
from eventsourcing.sqlite import SQLiteAggregateRecorder
from eventsourcing.utils import retry
from psycopg.rows import tuple_row
from psycopg.sql import SQL, Composed, Identifier

# Two parameters per id; SQLite builds before 3.32 bind at most 999.
SQLITE_IDS_PER_QUERY = 400


def project_events(aggregate: Any, events: Iterable[Any]) -> Any:
    """The library's `project_aggregate` without its `assert isinstance(event,
    CanMutateProtocol)`: a runtime protocol check walks the protocol's members on every call
    on Python 3.11 (~20 µs an event); an event that cannot mutate fails on `mutate` anyway."""
    for event in events:
        aggregate = event.mutate(aggregate)
    return aggregate


def get_many(repository: Repository[Any], ids: Iterable[UUID]) -> dict[UUID, Any]:
    """Each stored aggregate of `ids` as `repository.get` would return it; ids with no stored
    events are left out. One query (two with snapshotting on), whatever the number of ids."""
    wanted = list(dict.fromkeys(ids))
    store, snapshot_store = repository.event_store, repository.snapshot_store
    snapshots: dict[UUID, StoredEvent] = {}
    if snapshot_store is not None:
        latest = select_events_of_many(snapshot_store.recorder, dict.fromkeys(wanted, 0), True)
        snapshots = {originator_id: stored[-1] for originator_id, stored in latest.items()}
    after = {i: snapshots[i].originator_version if i in snapshots else 0 for i in wanted}
    events = select_events_of_many(store.recorder, after)
    found: dict[UUID, Any] = {}
    for originator_id in wanted:
        stored = events.get(originator_id, [])
        if originator_id in snapshots:
            stored = [snapshots[originator_id], *stored]
        aggregate = project_events(None, map(store.mapper.to_domain_event, stored))
        if aggregate is not None:
            found[originator_id] = aggregate
    return found


def select_events_of_many(
    recorder: AggregateRecorder, after: Mapping[UUID, int], latest: bool = False
) -> dict[UUID, list[StoredEvent]]:
    """The stored events of each originator with a version above the one given for it, in
    version order (only the last of them if `latest`: a snapshot recorder keeps every
    snapshot); originators with none are left out."""
    if not after:
        return {}
    if isinstance(recorder, PostgresAggregateRecorder) and _uuid_ids(recorder):
        rows = _select_postgres(recorder, after, latest)
    elif isinstance(recorder, SQLiteAggregateRecorder) and _uuid_ids(recorder):
        items = list(after.items())
        rows = [
            row
            for start in range(0, len(items), SQLITE_IDS_PER_QUERY)
            for row in _select_sqlite(recorder, items[start : start + SQLITE_IDS_PER_QUERY], latest)
        ]
    else:
        # The in-memory recorder (tests, no round trips) or text ids: the library's own select.
        rows = [
            e
            for i, gt in after.items()
            for e in recorder.select_events(
                i, gt=gt or None, desc=latest, limit=1 if latest else None
            )
        ]
    grouped: dict[UUID, list[StoredEvent]] = {}
    for event in rows:
        originator_id = event.originator_id  # a UUID from both recorders here: kept as it is
        key = originator_id if originator_id.__class__ is UUID else UUID(str(originator_id))
        grouped.setdefault(key, []).append(event)
    return grouped


def _uuid_ids(recorder: PostgresAggregateRecorder | SQLiteAggregateRecorder) -> bool:
    return recorder.datastore.originator_id_type == "uuid"


@retry((InterfaceError, OperationalError), max_attempts=10, wait=0.2)  # as the library's selects
def _select_postgres(
    recorder: PostgresAggregateRecorder, after: Mapping[UUID, int], latest: bool
) -> list[StoredEvent]:
    statement = _events_of_many(recorder.datastore.schema, recorder.events_table_name, latest)
    rows = binary_rows(recorder.datastore, statement, [list(after), list(after.values())])
    return [StoredEvent(*row) for row in rows]  # the columns in the fields' order


def binary_rows(datastore: PostgresDatastore, statement: Composed, params: Any) -> list[Any]:
    """The rows of a prepared statement, as tuples (no dict made per row, the connection's row
    factory, for every event of a chunk's orders and stock items) of values sent in binary: a
    state comes as its bytes, where text results sent it as hex, twice its size, encoded by the
    server (`byteaout`) and decoded by psycopg."""
    with (
        datastore.get_connection() as conn,
        conn.cursor(row_factory=tuple_row, binary=True) as curs,
    ):
        curs.execute(statement, params, prepare=True)
        return curs.fetchall()


@functools.cache
def _events_of_many(schema: str, table: str, latest: bool) -> Composed:
    """The statement of `_select_postgres`, composed once per table.

    Each wanted id is looked up by the primary key on its own (a LATERAL subquery with its
    own ORDER BY is never merged into a join): as a plain join the planner chose by its
    estimate of the array's length, and a plan made for a few ids on a young table, or for a
    hundred, scanned the whole table (a hash join), on every call where PostgreSQL keeps one
    plan per prepared statement (hub.pg_recorder.generic_plans), and in 1-2 ms a call in the
    flow where it replanned each call. Rows come id by id as asked, each id's by version."""
    return SQL(
        "SELECT e.originator_id, e.originator_version, e.topic, e.state"
        " FROM unnest(%s::uuid[], %s::bigint[]) AS wanted(originator_id, gt)"
        " CROSS JOIN LATERAL (SELECT originator_id, originator_version, topic, state"
        " FROM {schema}.{table}"
        " WHERE originator_id = wanted.originator_id AND originator_version > wanted.gt"
        " ORDER BY originator_version {direction}{limit}) AS e"
    ).format(
        direction=SQL("DESC" if latest else "ASC"),
        limit=SQL(" LIMIT 1" if latest else ""),
        schema=Identifier(schema),
        table=Identifier(table),
    )


def _select_sqlite(
    recorder: SQLiteAggregateRecorder, after: Sequence[tuple[UUID, int]], latest: bool
) -> list[StoredEvent]:
    # `after` is a keyword in SQLite: the floor version is called gt.
    values = ", ".join(["(?, ?)"] * len(after))
    table = recorder.events_table_name
    last = (
        f"AND e.originator_version = (SELECT MAX(originator_version) FROM {table} AS l "
        "WHERE l.originator_id = wanted.originator_id) "
        if latest
        else ""
    )
    statement = (
        f"WITH wanted(originator_id, gt) AS (VALUES {values}) "
        f"SELECT e.* FROM {table} AS e JOIN wanted "
        "ON e.originator_id = wanted.originator_id AND e.originator_version > wanted.gt "
        f"{last}ORDER BY e.originator_id, e.originator_version"
    )
    params = [p for originator_id, gt in after for p in (originator_id.hex, gt)]
    with recorder.datastore.transaction(commit=False) as c:
        c.execute(statement, params)
        return [
            StoredEvent(
                originator_id=recorder.convert_originator_id(row["originator_id"]),
                originator_version=row["originator_version"],
                topic=row["topic"],
                state=row["state"],
            )
            for row in c.fetchall()
        ]


def select_first_events(
    recorder: AggregateRecorder, ids: Sequence[str]
) -> list[tuple[str, bytes]] | None:
    """The topic and state of the first event (version 1) of each aggregate of `ids` (UUIDs as
    32 hex digits) that has one, in no order; None for a recorder this does not know (its
    callers then read otherwise). For records named by their content, whose state says which
    one it is: no id is parsed back (a cold re-run reads 200 definitions, and the ids turned
    back into UUIDs with a StoredEvent per row were half of that query's time)."""
    if not ids:
        return []
    if isinstance(recorder, PostgresAggregateRecorder) and _uuid_ids(recorder):
        rows: list[tuple[str, bytes]] = _first_postgres(recorder, list(ids))
        return rows
    if isinstance(recorder, SQLiteAggregateRecorder) and _uuid_ids(recorder):
        return [
            row
            for start in range(0, len(ids), 2 * SQLITE_IDS_PER_QUERY)
            for row in _first_sqlite(recorder, ids[start : start + 2 * SQLITE_IDS_PER_QUERY])
        ]
    return None


@retry((InterfaceError, OperationalError), max_attempts=10, wait=0.2)  # as the library's selects
def _first_postgres(recorder: PostgresAggregateRecorder, ids: list[str]) -> list[tuple[str, bytes]]:
    statement = SQL(
        "SELECT topic, state FROM {schema}.{table}"
        " WHERE originator_id = ANY(%s::uuid[]) AND originator_version = 1"
    ).format(
        schema=Identifier(recorder.datastore.schema),
        table=Identifier(recorder.events_table_name),
    )
    return binary_rows(recorder.datastore, statement, [ids])


def _first_sqlite(recorder: SQLiteAggregateRecorder, ids: Sequence[str]) -> list[tuple[str, bytes]]:
    # Stored as the UUID's 32 hex digits (the recorder's own `originator_id.hex`).
    statement = (
        f"SELECT topic, state FROM {recorder.events_table_name} "
        f"WHERE originator_id IN ({', '.join(['?'] * len(ids))}) AND originator_version = 1"
    )
    with recorder.datastore.transaction(commit=False) as c:
        c.execute(statement, list(ids))
        return [(row[0], row[1]) for row in c.fetchall()]
