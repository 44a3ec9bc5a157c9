"""The event store's PostgreSQL recorder: the library's, with events sent and read in binary, and
a save in one statement.

`eventsourcing`'s recorder sends a save's events as one array of a composite type in text
format: PostgreSQL parses it back character by character (`array_in`, `record_in`) and each
state from hex (`hex_decode`): together about as much of its backend's CPU as the insert
itself (perf, benchmarks/README.md "PostgreSQL per routed order"). Here the same rows go as
four arrays in binary (uuid, bigint, text, bytea), copied as they are.

A save is one call of a function this recorder creates with the table (`<table>_insert`), in
autocommit: the library's pipeline of five statements (`BEGIN`, `SET LOCAL lock_timeout`,
`LOCK TABLE`, the insert, `COMMIT`) in two round trips becomes one statement in one round trip,
doing the same inside the statement's own transaction. Kept from the library: saves one at a
time, which keeps the notification log gapless (ids given in commit order), its
`lock_timeout`, the one transaction, the ids returned in order, the errors raised (a conflicting
version is an IntegrityError, and nothing of the save is written). A database without the
function (tables created by an earlier release with `CREATE_TABLE=n`) is saved to by the
pipeline as before.

Saves take turns by a transaction's advisory lock of their own, not the library's `LOCK TABLE
... IN EXCLUSIVE MODE`: that mode also conflicts with what (auto)vacuum and ANALYZE hold on the
table (SHARE UPDATE EXCLUSIVE), so whenever autovacuum visited the growing events table every
save queued behind it until PostgreSQL's deadlock check cancelled it, a `deadlock_timeout` (1 s)
later: ~1 s from acknowledged to stored for the orders of that moment, once a minute on a long
run (the server's log: "canceling autovacuum task"; benchmarks/README.md, outlier8). A save
still waits for a save of an earlier release's pipeline (its `EXCLUSIVE` lock and the insert's
ROW EXCLUSIVE conflict, taken before its ids and held to its commit), and that one for it.

Reads (the notification log, one aggregate's events) ask for binary results: a state comes as
its bytes, where text results sent it as hex, twice its size, encoded by the server
(`byteaout`) and decoded by psycopg.

The table and its rows are unchanged, so events stored before load as before. Chosen by
`APPLICATION_RECORDER_TOPIC` (hub.settings.Settings.eventsourcing_env).
"""

import logging
from collections.abc import Sequence
from typing import Any
from uuid import UUID

from eventsourcing.persistence import (
    InterfaceError,
    Notification,
    OperationalError,
    ProgrammingError,
    StoredEvent,
)
from eventsourcing.postgres import PostgresApplicationRecorder, PostgresDatastore
from eventsourcing.utils import retry
from psycopg import Cursor
from psycopg.errors import UndefinedFunction
from psycopg.rows import DictRow, tuple_row
from psycopg.sql import SQL, Composed, Identifier, Literal

from hub.multi_get import binary_rows

log = logging.getLogger(__name__)

_COLUMNS = "originator_id, originator_version, topic, state"


class HubRecorder(PostgresApplicationRecorder):
    def __init__(self, datastore: PostgresDatastore, *, events_table_name: str = "stored_events"):
        generic_plans(datastore)
        super().__init__(datastore, events_table_name=events_table_name)
        self.insert_function_name = f"{events_table_name}_insert"
        self.check_identifier_length(self.insert_function_name)
        names = {
            "schema": Identifier(datastore.schema),
            "table": Identifier(events_table_name),
            "id_type": Identifier(datastore.originator_id_type),
            "function": Identifier(self.insert_function_name),
        }
        self._insert_binary = SQL(
            "INSERT INTO {schema}.{table} (originator_id, originator_version, topic, state) "
            "SELECT * FROM unnest(%b::{id_type}[], %b::bigint[], %b::text[], %b::bytea[]) "
            "RETURNING notification_id"
        ).format(**names)
        # Processes that start together create the table, its row type and the functions
        # at once: `CREATE OR REPLACE FUNCTION` run by two transactions at a time fails one of
        # them ("tuple concurrently updated"), so the create transaction takes a lock of its
        # own first and they run one after the other.
        self.sql_create_statements.insert(
            0,
            SQL("SELECT pg_advisory_xact_lock(hashtext({name}))").format(
                name=Literal(f"orderhub create {datastore.schema}.{events_table_name}")
            ),
        )
        # Created with the table (in the library's create transaction). Its parameters are
        # positional: a column of the same name would be ambiguous in plpgsql.
        self.sql_create_statements.append(
            SQL(
                "CREATE OR REPLACE FUNCTION {schema}.{function}("
                "{id_type}[], bigint[], text[], bytea[], text) "
                "RETURNS SETOF bigint LANGUAGE plpgsql AS $body$ BEGIN "
                "PERFORM set_config('lock_timeout', $5, true); "
                "PERFORM pg_advisory_xact_lock({save_lock}); "
                "RETURN QUERY INSERT INTO {schema}.{table} "
                "(originator_id, originator_version, topic, state) "
                "SELECT * FROM unnest($1, $2, $3, $4) RETURNING notification_id; "
                "END $body$"
            ).format(**names, save_lock=save_lock(datastore.schema, events_table_name))
        )
        self._call_insert = SQL(
            "SELECT * FROM {schema}.{function}("
            "%b::{id_type}[], %b::bigint[], %b::text[], %b::bytea[], %s)"
        ).format(**names)
        # The same call, answered by one row (how many were inserted) instead of one per event.
        self._call_insert_counted = SQL(
            "SELECT count(*) FROM {schema}.{function}("
            "%b::{id_type}[], %b::bigint[], %b::text[], %b::bytea[], %s)"
        ).format(**names)
        self._lock_timeout = f"{datastore.lock_timeout}s"
        self._insert_by_call = True
        self._select_events_from = SQL("SELECT " + _COLUMNS + " FROM {schema}.{table}").format(
            **names
        )
        self._select_notifications_from = SQL(
            "SELECT " + _COLUMNS + ", notification_id FROM {schema}.{table}"
        ).format(**names)
        self._composed: dict[tuple[Any, ...], Composed] = {}

    def insert_events(self, stored_events: Sequence[StoredEvent], **kwargs: Any) -> Any:
        # The library's application recorder ignores its kwargs (`tracking=None` from every
        # save); one that carries a value goes the library's way.
        if stored_events and self._insert_by_call and not any(kwargs.values()):
            ids = self._insert_in_one_call(stored_events)
            if ids is not None:
                return ids
        return super().insert_events(stored_events, **kwargs)

    def append_events(self, stored_events: Sequence[StoredEvent]) -> None:
        """`insert_events` for a caller that does not read the notification ids (the intake):
        the same save, answered by one row instead of an id per event. A save's thousand ids
        came as ~14 KB of rows, which the server sent row by row and the save's thread read in
        two turns (two waits for the socket, each needing the interpreter back from the parse
        beside it: benchmarks/README.md, intake10) and made into a thousand tuples."""
        if not stored_events:
            return
        counted = self._call_insert_counted
        if not self._insert_by_call or self._insert_in_one_call(stored_events, counted) is None:
            super().insert_events(stored_events)

    @retry((InterfaceError, OperationalError), max_attempts=10, wait=0.2)  # as the library's
    def _insert_in_one_call(
        self, stored_events: Sequence[StoredEvent], statement: Composed | None = None
    ) -> list[Any] | None:
        """The save as one statement (its own transaction), answered by the notification ids
        (or what `statement` returns); None if the function is missing."""
        params = (*_arrays(stored_events), self._lock_timeout)
        try:
            with (
                self.datastore.get_connection() as conn,
                conn.cursor(row_factory=tuple_row) as curs,
            ):
                curs.execute(statement or self._call_insert, params, prepare=True)
                rows = curs.fetchall()
                return rows if statement is not None else [row[0] for row in rows]
        except ProgrammingError as error:
            if not isinstance(error.__cause__, UndefinedFunction):
                raise
        log.warning(
            "no function %s in the database: saves go as a pipeline of statements",
            self.insert_function_name,
        )
        self._insert_by_call = False
        return None

    def _insert_stored_events(
        self, curs: Cursor[DictRow], stored_events: Sequence[StoredEvent], **_: Any
    ) -> None:
        """The pipelined save (a database without the function): the library's, in binary."""
        self._lock_table(curs)
        # The library's NOTIFY on its own channel, which the hub never LISTENs to (the relay is
        # woken by the trigger hub.streaming installs), is one statement a save less.
        curs.execute(self._insert_binary, _arrays(stored_events), prepare=True)

    @retry((InterfaceError, OperationalError), max_attempts=10, wait=0.2)  # as the library's
    def select_events(
        self,
        originator_id: UUID | str,
        *,
        gt: int | None = None,
        lte: int | None = None,
        desc: bool = False,
        limit: int | None = None,
    ) -> Sequence[StoredEvent]:
        """The library's `select_events` (same statement, same answer), results in binary."""
        params: list[Any] = [originator_id]
        for value in (gt, lte, limit):
            if value is not None:
                params.append(value)
        statement = self._events_statement(gt is not None, lte is not None, desc, limit is not None)
        # The columns in the fields' order.
        return [StoredEvent(*row) for row in binary_rows(self.datastore, statement, params)]

    @retry((InterfaceError, OperationalError), max_attempts=10, wait=0.2)  # as the library's
    def select_notifications(
        self,
        start: int | None,
        limit: int,
        stop: int | None = None,
        topics: Sequence[str] = (),
        *,
        inclusive_of_start: bool = True,
    ) -> Sequence[Notification]:
        """The library's `select_notifications` (same statement, same answer), results in
        binary: the relay reads every event's state through it."""
        params: list[Any] = []
        if start is not None:
            params.append(start)
        if stop is not None:
            params.append(stop)
        if topics:
            assert isinstance(topics, (tuple, list)), topics
            assert all(isinstance(t, str) for t in topics), topics
            params.append(list(topics))
        params.append(limit)
        statement = self._notifications_statement(
            None if start is None else inclusive_of_start, stop is not None, bool(topics)
        )
        # The columns in the fields' order (a Notification's id last).
        return [Notification(*row) for row in binary_rows(self.datastore, statement, params)]

    def _events_statement(self, gt: bool, lte: bool, desc: bool, limit: bool) -> Composed:
        key = (gt, lte, desc, limit)  # 16 statements at most, composed once each
        if key not in self._composed:
            self._composed[key] = self._compose_events_statement(*key)
        return self._composed[key]

    def _compose_events_statement(self, gt: bool, lte: bool, desc: bool, limit: bool) -> Composed:
        parts = [self._select_events_from, SQL(" WHERE originator_id = %s")]
        if gt:
            parts.append(SQL(" AND originator_version > %s"))
        if lte:
            parts.append(SQL(" AND originator_version <= %s"))
        parts.append(SQL(" ORDER BY originator_version " + ("DESC" if desc else "ASC")))
        if limit:
            parts.append(SQL(" LIMIT %s"))
        return Composed(parts)

    def _notifications_statement(
        self, inclusive_of_start: bool | None, stop: bool, topics: bool
    ) -> Composed:
        key = ("notifications", inclusive_of_start, stop, topics)  # 12 statements at most
        if key not in self._composed:
            self._composed[key] = self._compose_notifications_statement(*key[1:])
        return self._composed[key]

    def _compose_notifications_statement(
        self, inclusive_of_start: bool | None, stop: bool, topics: bool
    ) -> Composed:
        conditions = []
        if inclusive_of_start is not None:
            conditions.append("notification_id>=%s" if inclusive_of_start else "notification_id>%s")
        if stop:
            conditions.append("notification_id <= %s")
        if topics:
            conditions.append("topic = ANY(%s)")
        where = " WHERE " + " AND ".join(conditions) if conditions else ""
        return Composed(
            [self._select_notifications_from, SQL(where + " ORDER BY notification_id LIMIT %s")]
        )


def save_lock(schema: str, table: str) -> Composed:
    """The key of the advisory lock saves to `schema.table` take turns by (an expression)."""
    return SQL("hashtext({name})").format(name=Literal(f"orderhub save {schema}.{table}"))


def generic_plans(datastore: PostgresDatastore) -> None:
    """The store's connections plan each prepared statement once (`plan_cache_mode`), set in
    their start-up packet (no statement, no round trip), before the pool opens its first.

    PostgreSQL plans a prepared statement for its values ("custom") five times, then keeps a
    value-blind ("generic") plan only if its estimated cost is no higher. For the store's reads
    it never is: an `unnest` of an array parameter or a `LIMIT` parameter is estimated blind at
    10 rows or a tenth of the table, the same with the values at their real size, so every call
    was planned again: the API's duplicate check (one multi-get of a new order, 0 rows) spent a
    third of its backend's CPU in the planner (perf, benchmarks/README.md, pg 2026-12-05). The
    generic plans of these statements are the custom ones (primary-key and notification-id
    index scans, checked with EXPLAIN on 60,000 events). Left alone if the pool is open already
    (its connections would differ); the operator's own `options` are kept."""
    pool, kwargs = datastore.pool, datastore.pool.kwargs
    if not pool.closed or not isinstance(kwargs, dict):
        return
    options = str(kwargs.get("options") or "")
    if "plan_cache_mode" not in options:
        kwargs["options"] = f"{options} -c plan_cache_mode=force_generic_plan".strip()


def _arrays(stored_events: Sequence[StoredEvent]) -> tuple[list[Any], ...]:
    """A save's events as four columns, for `unnest`."""
    return (
        [e.originator_id for e in stored_events],
        [e.originator_version for e in stored_events],
        [e.topic for e in stored_events],
        [e.state for e in stored_events],
    )
