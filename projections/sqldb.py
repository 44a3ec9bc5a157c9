"""A small DB-API wrapper so one SQL view serves SQLite (embedded) and PostgreSQL (distributed)."""

import hashlib
import logging
import re
import sqlite3
import threading
from collections.abc import Collection, Iterator, Sequence
from contextlib import contextmanager, nullcontext
from functools import lru_cache
from pathlib import Path
from typing import Any, Literal, Protocol

import psycopg
from psycopg_pool import ConnectionPool

from projections import multirow

_log = logging.getLogger(__name__)
# Any fixed number: every OrderHub process that creates tables takes this lock first.
_SCHEMA_LOCK = 0x0D_E7_4B_0B


class Cursor(Protocol):
    def execute(self, sql: str, params: Sequence[Any] = ...) -> Any: ...
    def executemany(self, sql: str, params: Sequence[Sequence[Any]]) -> Any: ...
    def fetchall(self) -> list[Any]: ...
    def fetchone(self) -> Any: ...


class SqlDatabase:
    """Connections and transactions; SQL is written with `?` and translated for psycopg."""

    def __init__(self, url: str, pool_size: int = 4) -> None:
        self.url = url
        self.dialect: Literal["sqlite", "postgres"]
        self._lock = threading.RLock()
        # Tables' columns and types, for writing rows as arrays (PostgreSQL; `_Translating`).
        self.columns: dict[str, multirow.Columns] = {}
        if url.startswith("sqlite:///"):
            self.dialect = "sqlite"
            path = Path(url.removeprefix("sqlite:///"))
            path.parent.mkdir(parents=True, exist_ok=True)
            self._sqlite = sqlite3.connect(path, check_same_thread=False, isolation_level=None)
            self._sqlite.execute("PRAGMA journal_mode=WAL")
            self._sqlite.execute("PRAGMA busy_timeout=10000")
            self._sqlite.execute("PRAGMA synchronous=NORMAL")
        else:
            self.dialect = "postgres"
            self._held = _Held()
            # check: a connection PostgreSQL closed (a restart, a failover) is replaced when
            # taken from the pool, instead of failing the request that took it.
            self._pool = ConnectionPool(
                _psycopg_conninfo(url),
                min_size=1,
                max_size=pool_size,
                open=True,
                check=ConnectionPool.check_connection,
            )

    def ddl(self, statement: str) -> str:
        """Text columns sort by code point on both engines (PostgreSQL's default collation
        follows the locale, which would make keyset pagination disagree with Python's order)."""
        if self.dialect == "sqlite":
            return statement
        return re.sub(r"\bTEXT\b", 'TEXT COLLATE "C"', statement)

    def sql(self, statement: str) -> str:
        return statement if self.dialect == "sqlite" else statement.replace("?", "%s")

    @contextmanager
    def transaction(
        self,
        writing_view: str | None = None,
        writing_views: Collection[str] = (),
        pipelined: bool = False,
    ) -> Iterator[Cursor]:
        """One atomic unit: rows and the position they were computed from commit together.

        A view's writes (``writing_view``, or several views' in one transaction:
        ``writing_views``) wait while that view is being rebuilt by another process or thread
        (see ``rebuilding``): a live event applied in the middle of a replay would move the
        row's version past the history still to be replayed.

        ``pipelined`` (PostgreSQL): the statements go in psycopg's pipeline mode, so a write
        does not wait for the server's answer before the next is sent; a read waits for what
        was sent before it. A batch's views made ~20 round trips, each a wake-up of both
        processes (benchmarks/README.md "The projections role's and PostgreSQL's statements
        per batch"). A statement the server refuses raises at the next read or at the end, in
        the transaction, which is then rolled back whole as before."""
        if self.dialect == "sqlite":
            with self._lock:
                cur = self._sqlite.cursor()
                cur.execute("BEGIN IMMEDIATE")
                try:
                    yield _Translating(cur, self)
                except BaseException:
                    cur.execute("ROLLBACK")
                    raise
                cur.execute("COMMIT")
            return
        with (
            self._pool.connection() as conn,
            conn.transaction(),
            conn.pipeline() if pipelined else nullcontext(),
            conn.cursor() as pg_cur,
        ):
            writing = {*writing_views, *([writing_view] if writing_view else [])}
            # Shared locks, taken in one order: writers never wait for each other, only for
            # a rebuild, which holds one view's lock alone.
            # All in one statement: a round trip per view was a good part of a small batch.
            keys = sorted(_view_key(v) for v in writing - self._held.views)
            if keys:
                pg_cur.execute(
                    "SELECT pg_advisory_xact_lock_shared(k) FROM unnest(%s::bigint[]) AS k", (keys,)
                )
            yield _Translating(pg_cur, self, pipelined)

    @contextmanager
    def rebuilding(self, view: str) -> Iterator[None]:
        """Hold a view for a rebuild: other writers of the view wait until it is done. SQLite
        (embedded, one process) has no other writer while the hub is stopped."""
        if self.dialect == "sqlite":
            yield
            return
        with self._pool.connection() as conn:
            conn.execute("SELECT pg_advisory_lock(%s)", (_view_key(view),))
            self._held.views = self._held.views | {view}
            try:
                yield
            finally:
                self._held.views = self._held.views - {view}
                conn.execute("SELECT pg_advisory_unlock(%s)", (_view_key(view),))

    @contextmanager
    def schema_transaction(self) -> Iterator[Cursor]:
        """A transaction for DDL. Several processes start at once in distributed mode, and
        PostgreSQL's CREATE TABLE IF NOT EXISTS is not safe against a concurrent twin."""
        with self.transaction() as cur:
            if self.dialect == "postgres":
                cur.execute("SELECT pg_advisory_xact_lock(?)", (_SCHEMA_LOCK,))
            yield cur

    @contextmanager
    def schema_lock(self) -> Iterator[None]:
        """Hold the schema lock across work done on other connections (the event store's own
        table creation), so processes starting together do not race on CREATE TABLE."""
        if self.dialect == "sqlite":
            yield
            return
        with self._pool.connection() as conn:
            conn.execute("SELECT pg_advisory_lock(%s)", (_SCHEMA_LOCK,))
            try:
                yield
            finally:
                conn.execute("SELECT pg_advisory_unlock(%s)", (_SCHEMA_LOCK,))

    def prefer_lz4(self, columns: Sequence[tuple[str, str]]) -> None:
        """`compress_with_lz4` in a transaction of its own, PostgreSQL only. Only a saving: a
        role that may not alter the table (not its owner) is logged and the hub runs on."""
        if self.dialect != "postgres":
            return
        try:
            with self.transaction() as cur:
                compress_with_lz4(cur, columns)
        except psycopg.Error as error:
            _log.warning("%s kept their compression (%s)", columns, error)

    def close(self) -> None:
        if self.dialect == "sqlite":
            self._sqlite.close()
        else:
            self._pool.close()


class _Held(threading.local):
    """The views this thread is rebuilding (it may write them; everyone else waits)."""

    views: frozenset[str] = frozenset()


def compress_with_lz4(cur: Any, columns: Sequence[tuple[str, str]], p: str = "?") -> list[str]:
    """PostgreSQL: large values of these (table, column)s compressed with lz4 instead of the
    default pglz, where the server has lz4 (PostgreSQL >= 14 built with it). pglz was the first
    symbol of the read models' and the event store's backends under load (perf, a third of the
    CPU of writing an order's audit entry or its `Routed`); lz4 takes a third of that for ~10 %
    more bytes. Values written before stay as they are and read as before (the method is kept
    per value). Only alters a column not yet set (one catalog read per column otherwise); `cur`
    is a cursor with `p` as its placeholder. Returns the columns altered."""
    cur.execute(
        "SELECT 1 FROM pg_settings WHERE name = 'default_toast_compression' "
        "AND 'lz4' = ANY(enumvals)"
    )
    if cur.fetchone() is None:
        return []
    altered = []
    for table, column in columns:
        cur.execute(
            f"SELECT attcompression FROM pg_attribute WHERE attrelid = to_regclass({p}) "
            f"AND attname = {p}",
            (table, column),
        )
        row = cur.fetchone()
        if row is not None and row[0] != "l":
            quoted = ".".join(f'"{part}"' for part in table.split("."))
            cur.execute(f'ALTER TABLE {quoted} ALTER COLUMN "{column}" SET COMPRESSION lz4')
            altered.append(f"{table}.{column}")
    return altered


def _view_key(view: str) -> int:
    # A stable 63-bit key per view name for PostgreSQL's advisory locks.
    return int.from_bytes(hashlib.sha256(f"orderhub-view:{view}".encode()).digest()[:8]) >> 1


def statement_is_delete(sql: str) -> bool:
    return sql.lstrip()[:6].upper() == "DELETE"


class _Translating:
    def __init__(self, cursor: Any, db: SqlDatabase, pipelined: bool = False) -> None:
        self._cursor = cursor
        self._db = db
        self._raw: psycopg.RawCursor[Any] | None = None  # on the cursor's connection, PostgreSQL
        # In pipeline mode psycopg hands each answer to the cursor that sent the statement,
        # whenever it arrives, even after that cursor has sent another: a server answering
        # early (its send buffer full, this thread late) gave a read on the one shared cursor
        # the rows of the views' lock, or an earlier write's status, for its own. So writes
        # (whose answers nobody reads) go on one cursor, reads on another, made afresh when
        # the one before still owes an answer.
        self._pipelined = pipelined
        self._writer = cursor
        self._reader: Any = None
        self._unread = False

    def execute(self, sql: str, params: Sequence[Any] = ()) -> Any:
        if self._pipelined:
            self._cursor = self._cursor_for(sql)
        if self._db.dialect == "postgres":
            text, params = _as_array(sql, params)
            if text is not sql or _ARRAY_PARAMETER.search(sql):
                # Never prepared: a generic plan cannot know the arrays' lengths, and one kept
                # from when the table was small (a scan) outlives its growth until the next
                # ANALYZE (the stock rows' read by key: a hash join over a sequential scan of
                # every stock row). Planned per call, it is an index search.
                return self._cursor.execute(self._db.sql(text), tuple(params), prepare=False)
        return self._cursor.execute(self._db.sql(sql), tuple(params))

    def executemany(self, sql: str, params: Sequence[Sequence[Any]]) -> Any:
        if not params:
            # Nothing to write; psycopg would still open a pipeline and wait for the server's
            # answer to it: a round trip per empty call (py-spy, projections role).
            return None
        if self._db.dialect == "postgres" and self._together(sql, params):
            return None
        if self._pipelined:
            self._cursor = self._writer
        return self._cursor.executemany(self._db.sql(sql), [tuple(p) for p in params])

    def _cursor_for(self, sql: str) -> Any:
        """The cursor a statement goes on in a pipeline (see `__init__`)."""
        if _writes_only(sql):
            return self._writer
        if self._reader is None or self._unread:
            self._reader = self._writer.connection.cursor()
        self._unread = True
        return self._reader

    def _together(self, sql: str, params: Sequence[Sequence[Any]]) -> bool:
        """The rows in one statement (or a few), in the caller's transaction as before, written
        with `$n`: a raw cursor sends it without parsing it (multirow). Best, a column's values
        as an array: one text whatever the row count, prepared (planned once per connection).
        Else a multi-row VALUES text, not prepared: each row count is another text, and psycopg
        would keep up to 100 of them (plans of thousands of parameters) per connection."""
        if self._raw is None:
            self._raw = psycopg.RawCursor(self._cursor.connection)
        arrays = multirow.arrays(sql, params, self._columns)
        if arrays is not None:
            # An INSERT's plan has no choice to go stale (its conflicts are found by the key's
            # index); a DELETE's join could keep a scan made on a small table: planned per call.
            prepare = not statement_is_delete(sql)
            for statement, columns in arrays:
                self._raw.execute(statement, columns, prepare=prepare)
            return True
        together = multirow.statements(sql, params, numbered=True)
        if together is None:
            return False
        for statement, flat in together:
            self._raw.execute(statement, flat, prepare=False)
        return True

    def _columns(self, table: str) -> multirow.Columns | None:
        """A table's columns and their types, read once per database object (the views' tables
        do not change while the hub runs); None for a table not (yet) there."""
        known = self._db.columns.get(table)
        if known is None:
            with self._cursor.connection.cursor() as cur:
                cur.execute(
                    "SELECT attname, format_type(atttypid, NULL) FROM pg_attribute "
                    "WHERE attrelid = to_regclass(%s) AND attnum > 0 AND NOT attisdropped "
                    "ORDER BY attnum",
                    (table,),
                )
                known = [(str(name), str(kind)) for name, kind in cur.fetchall()]
            if known:
                self._db.columns[table] = known
        return known or None

    def fetchall(self) -> list[Any]:
        found = list(self._cursor.fetchall())
        self._unread = False
        return found

    def fetchone(self) -> Any:
        found = self._cursor.fetchone()
        self._unread = False
        return found


def _psycopg_conninfo(url: str) -> str:
    # psycopg accepts URLs directly; normalise SQLAlchemy-style schemes users may paste.
    for prefix in ("postgresql+psycopg://", "postgres://"):
        if url.startswith(prefix):
            return "postgresql://" + url.removeprefix(prefix)
    return url


__all__ = ["Cursor", "SqlDatabase", "psycopg"]


_RETURNING = re.compile(r"\bRETURNING\b", re.IGNORECASE)
# A parameter cast to an array (`?::text[]`): its statement is planned per call.
_ARRAY_PARAMETER = re.compile(r"\?::\w+(\s+\w+)*\[\]")
# `column IN (?, ?, …)`, not `NOT IN`, not a row value's.
_IN_LIST = re.compile(r"\b(?!NOT\b)([\w.]+)\s+IN\s*\(\s*\?(?:\s*,\s*\?)+\s*\)", re.IGNORECASE)


def _as_array(sql: str, params: Sequence[Any]) -> tuple[str, Sequence[Any]]:
    """A statement's one list of text keys, `column IN (?, ?, …)`, as `column = ANY(?::text[])`
    with the keys as one array (its literal: psycopg's list dumper is slow): one text whatever
    the keys' count, which psycopg prepares after a few calls, where each count was a text of
    its own, parsed and planned on every call (a batch's reads of the views' rows). The same
    rows: `x = ANY(array)` is `x IN (list)`, NULLs included. Anything else is left as it is."""
    form = _any_form(sql)
    if form is None:
        return sql, params
    text, first, count = form
    keys = params[first : first + count]
    if len(keys) != count or not all(type(key) is str for key in keys):
        return sql, params
    literal = multirow.array_literal(keys, "text")
    return text, [*params[:first], literal, *params[first + count :]]


@lru_cache(maxsize=512)
def _writes_only(sql: str) -> bool:
    """A statement whose answer is only its status: nobody fetches it."""
    head = sql.lstrip()[:6].upper()
    return head in ("INSERT", "UPDATE", "DELETE") and not _RETURNING.search(sql)


@lru_cache(maxsize=512)
def _any_form(sql: str) -> tuple[str, int, int] | None:
    found = list(_IN_LIST.finditer(sql))
    if len(found) != 1 or "%" in sql or "$" in sql:
        return None
    match = found[0]
    text = f"{sql[: match.start()]}{match[1]} = ANY(?::text[]){sql[match.end() :]}"
    return text, sql.count("?", 0, match.start()), match[0].count("?")
