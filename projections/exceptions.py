"""The exception queue: what needs a person, oldest and most severe first, in memory or SQL."""

import json
from collections.abc import Iterable, Sequence
from dataclasses import replace
from typing import Any

from projections.base import SqlView, advance, ensure_version, forget
from projections.exception_query import (
    ExceptionPage,
    ExceptionQuery,
    State,
    SummaryBy,
    SummaryRow,
    after_of,
    cursor_of,
    matches,
    page_of,
    summarise,
)
from projections.exception_rules import (
    KINDS,
    RULE_TYPES,
    SEVERITY_RANK,
    Book,
    Context,
    ExceptionRow,
    has_rule,
    order_ids_of,
)
from projections.positions import read_positions, save_positions
from projections.sqldb import Cursor, SqlDatabase
from schemas.envelope import EventEnvelope
from schemas.event_types import EventFamily

FOLLOWER = "exceptions"
VERSION = 3
__all__ = [
    "KINDS",
    "ExceptionPage",
    "ExceptionQuery",
    "ExceptionRow",
    "InMemoryExceptionQueue",
    "SqlExceptionQueue",
    "State",
    "SummaryBy",
    "SummaryRow",
]


class InMemoryExceptionQueue:
    name = FOLLOWER

    def __init__(self) -> None:
        self._contexts: dict[str, Context] = {}
        self._rows: dict[str, ExceptionRow] = {}
        self._positions: dict[str, int] = {}

    def apply(self, envelopes: Sequence[EventEnvelope], positions: dict[str, int]) -> None:
        book = Book(dict(self._contexts), dict(self._rows))
        for env in envelopes:
            book.apply(env)
        self._contexts, self._rows = book.contexts, book.rows
        advance(self._positions, positions)

    def positions(self) -> dict[str, int]:
        return dict(self._positions)

    def reset(self) -> None:
        self._contexts, self._rows, self._positions = {}, {}, {}

    def get(self, exception_id: str) -> ExceptionRow | None:
        return self._rows.get(exception_id)

    def get_many(self, exception_ids: Sequence[str]) -> dict[str, ExceptionRow]:
        return {i: self._rows[i] for i in exception_ids if i in self._rows}

    def queue(self, query: ExceptionQuery) -> ExceptionPage:
        return page_of(query, self._rows.values())

    def counts(self, query: ExceptionQuery) -> dict[str, int]:
        """Per kind, for everything else the query filters on (the filter bar's numbers)."""
        counts = dict.fromkeys(KINDS, 0)
        for row in self._rows.values():
            if matches(query, row, ignore_kinds=True):
                counts[row.kind] += 1
        return counts

    def summary(self, by: SummaryBy, query: ExceptionQuery) -> list[SummaryRow]:
        return summarise((r for r in self._rows.values() if matches(query, r)), by)


_COLUMNS = list(ExceptionRow.__dataclass_fields__)
_CONTEXT_COLUMNS = list(Context.__dataclass_fields__)
_DDL = [
    """CREATE TABLE IF NOT EXISTS exception_queue (
    exception_id TEXT PRIMARY KEY,
    kind TEXT NOT NULL,
    severity TEXT NOT NULL,
    order_id TEXT NOT NULL,
    channel TEXT NOT NULL,
    customer_id TEXT NOT NULL,
    skus TEXT NOT NULL,
    source_id TEXT NOT NULL,
    reason TEXT NOT NULL,
    opened_at TEXT NOT NULL,
    resolved_at TEXT NOT NULL,
    resolved_by TEXT NOT NULL,
    resolution TEXT NOT NULL,
    assignee TEXT NOT NULL,
    severity_rank INTEGER NOT NULL,
    is_open BOOLEAN NOT NULL
)""",
    # With the exception's state, severity and age, for the summary by SKU (no join).
    """CREATE TABLE IF NOT EXISTS exception_skus (
    sku TEXT NOT NULL,
    exception_id TEXT NOT NULL,
    is_open BOOLEAN NOT NULL,
    severity TEXT NOT NULL,
    opened_at TEXT NOT NULL,
    PRIMARY KEY (sku, exception_id)
)""",
    """CREATE TABLE IF NOT EXISTS exception_context (
    subject TEXT PRIMARY KEY,
    version INTEGER NOT NULL,
    channel TEXT NOT NULL,
    customer_id TEXT NOT NULL,
    skus TEXT NOT NULL,
    rejected_by TEXT NOT NULL,
    closed BOOLEAN NOT NULL,
    estimated BOOLEAN NOT NULL,
    planned BOOLEAN NOT NULL
)""",
    # The queue's own order: open first, most severe, oldest.
    "CREATE INDEX IF NOT EXISTS exception_queue_work "
    "ON exception_queue (is_open, severity_rank DESC, opened_at, exception_id)",
    "CREATE INDEX IF NOT EXISTS exception_queue_kind "
    "ON exception_queue (kind, is_open, severity_rank DESC, opened_at)",
    # state=all: the same order without the state.
    "CREATE INDEX IF NOT EXISTS exception_queue_all "
    "ON exception_queue (severity_rank DESC, opened_at, exception_id)",
    "CREATE INDEX IF NOT EXISTS exception_queue_order ON exception_queue (order_id)",
    # Filters, and the summaries' index-only scans (severity and opened_at are what they count).
    "CREATE INDEX IF NOT EXISTS exception_queue_channel "
    "ON exception_queue (channel, is_open, severity, opened_at)",
    "CREATE INDEX IF NOT EXISTS exception_queue_customer "
    "ON exception_queue (customer_id, is_open, severity, opened_at)",
    "CREATE INDEX IF NOT EXISTS exception_queue_source "
    "ON exception_queue (source_id, is_open, severity, opened_at)",
    "CREATE INDEX IF NOT EXISTS exception_skus_summary "
    "ON exception_skus (is_open, sku, severity, opened_at)",
]
_TABLES = ["exception_queue", "exception_skus", "exception_context"]


class SqlExceptionQueue(SqlView):
    """The batch's orders and their exceptions are loaded, the rules run on them in memory
    (the in-memory backend's code), what changed written with the positions in one transaction."""

    name = FOLLOWER
    event_types = RULE_TYPES  # the lane decodes and hands it those only
    rebuilt_as = FOLLOWER
    reads_explanations = False  # a decision's outcome only (connectors.unread_explanation)

    def __init__(self, db: SqlDatabase) -> None:
        self._db = db
        with db.schema_transaction() as cur:
            # Its layout changed: the hub rebuilds it from the event store when it starts.
            self.needs_rebuild = ensure_version(cur, FOLLOWER, VERSION, _TABLES)
            for statement in _DDL:
                cur.execute(db.ddl(statement))

    def write(
        self, cur: Cursor, envelopes: Sequence[EventEnvelope], positions: dict[str, int]
    ) -> None:
        envelopes = [env for env in envelopes if has_rule(env)]
        if not envelopes:
            save_positions(cur, FOLLOWER, positions)
            return
        subjects = {env.subject for env in envelopes}
        orders = set().union(*(order_ids_of(env) for env in envelopes))
        case_ids = {
            str(env.data["exception_id"])
            for env in envelopes
            if env.type.startswith(EventFamily.EXCEPTION_CASE) and "exception_id" in env.data
        }
        loaded = self._rows_of(cur, sorted(orders), sorted(case_ids))
        before = dict(loaded)  # the book replaces its rows: what the table holds now
        book = Book(self._contexts(cur, sorted(subjects | orders)), loaded)
        for env in envelopes:
            book.apply(env)
        self._save(cur, book, before)
        save_positions(cur, FOLLOWER, positions)

    def _contexts(self, cur: Cursor, subjects: list[str]) -> dict[str, Context]:
        found: dict[str, Context] = {}
        for chunk in _chunks(subjects):
            cur.execute(
                f"SELECT {', '.join(_CONTEXT_COLUMNS)} FROM exception_context "
                f"WHERE subject IN ({', '.join('?' for _ in chunk)})",
                chunk,
            )
            for record in cur.fetchall():
                values = dict(zip(_CONTEXT_COLUMNS, record, strict=True))
                values["skus"] = tuple(json.loads(values["skus"]))
                values["version"] = int(values["version"])
                for flag in ("closed", "estimated", "planned"):
                    values[flag] = bool(values[flag])
                found[values["subject"]] = Context(**values)
        return found

    def _rows_of(
        self, cur: Cursor, order_ids: list[str], exception_ids: list[str]
    ) -> dict[str, ExceptionRow]:
        found: dict[str, ExceptionRow] = {}
        for column, keys in (("order_id", order_ids), ("exception_id", exception_ids)):
            for chunk in _chunks(keys):
                cur.execute(
                    f"SELECT {', '.join(_COLUMNS)} FROM exception_queue "
                    f"WHERE {column} IN ({', '.join('?' for _ in chunk)})",
                    chunk,
                )
                found.update((r.exception_id, r) for r in map(_row, cur.fetchall()))
        return found

    def _save(self, cur: Cursor, book: Book, before: dict[str, ExceptionRow]) -> None:
        contexts = [book.contexts[s] for s in sorted(book.changed_contexts)]
        cur.executemany(
            f"INSERT INTO exception_context ({', '.join(_CONTEXT_COLUMNS)}) "
            f"VALUES ({', '.join('?' for _ in _CONTEXT_COLUMNS)}) ON CONFLICT (subject) DO UPDATE "
            "SET "
            + ", ".join(f"{c} = excluded.{c}" for c in _CONTEXT_COLUMNS[1:])
            + " WHERE excluded.version > exception_context.version",
            [_context_params(c) for c in contexts],
        )
        rows = [book.rows[i] for i in sorted(book.changed_rows)]
        names = [*_COLUMNS, "severity_rank", "is_open"]
        cur.executemany(
            f"INSERT INTO exception_queue ({', '.join(names)}) "
            f"VALUES ({', '.join('?' for _ in names)}) ON CONFLICT (exception_id) DO UPDATE "
            "SET " + ", ".join(f"{c} = excluded.{c}" for c in names[1:]),
            [_params(r) for r in rows],
        )
        gone, written = _sku_changes(rows, before)
        cur.executemany("DELETE FROM exception_skus WHERE sku = ? AND exception_id = ?", gone)
        cur.executemany(
            "INSERT INTO exception_skus (sku, exception_id, is_open, severity, opened_at) "
            "VALUES (?, ?, ?, ?, ?) ON CONFLICT (sku, exception_id) DO UPDATE SET is_open = "
            "excluded.is_open, severity = excluded.severity, opened_at = excluded.opened_at",
            written,
        )

    def positions(self) -> dict[str, int]:
        with self._db.transaction() as cur:
            return read_positions(cur, FOLLOWER)

    def reset(self) -> None:
        with self._db.transaction(writing_view=FOLLOWER) as cur:
            forget(cur, FOLLOWER, _TABLES)

    def get(self, exception_id: str) -> ExceptionRow | None:
        return self.get_many([exception_id]).get(exception_id)

    def get_many(self, exception_ids: Sequence[str]) -> dict[str, ExceptionRow]:
        with self._db.transaction() as cur:
            return self._rows_of(cur, [], list(exception_ids))

    def queue(self, query: ExceptionQuery) -> ExceptionPage:
        where, params = _where(query)
        after = after_of(query)
        if after is not None:
            rank, opened, ident = after
            # (-rank, opened, id) ascending, with rank stored positive.
            where.append(
                "(severity_rank < ? OR (severity_rank = ? AND (opened_at, exception_id) > (?, ?)))"
            )
            params.extend([-rank, -rank, opened, ident])
        sql = (
            f"SELECT {', '.join(_COLUMNS)} FROM exception_queue e"
            + (f" WHERE {' AND '.join(where)}" if where else "")
            + " ORDER BY severity_rank DESC, opened_at, exception_id LIMIT ?"
        )
        with self._db.transaction() as cur:
            cur.execute(sql, [*params, query.limit + 1])
            rows = [_row(r) for r in cur.fetchall()]
        more = len(rows) > query.limit
        rows = rows[: query.limit]
        return ExceptionPage(rows, cursor_of(rows[-1]) if more and rows else None)

    def counts(self, query: ExceptionQuery) -> dict[str, int]:
        where, params = _where(replace(query, kinds=()))
        counts = dict.fromkeys(KINDS, 0)
        with self._db.transaction() as cur:
            cur.execute(
                "SELECT kind, COUNT(*) FROM exception_queue e"
                + (f" WHERE {' AND '.join(where)}" if where else "")
                + " GROUP BY kind",
                params,
            )
            counts.update({str(kind): int(n) for kind, n in cur.fetchall()})
        return counts

    def summary(self, by: SummaryBy, query: ExceptionQuery) -> list[SummaryRow]:
        key = "s.sku" if by == "sku" else f"e.{by}"
        row = "e"
        params: list[Any] = []
        if by == "sku" and replace(query, state="all", limit=50, after=None) == ExceptionQuery(
            state="all"
        ):
            # The console's summary (a state, no other filter): exception_skus alone.
            source, row, where = "exception_skus s", "s", _state(query, "s")
        elif by == "sku":
            source = "exception_queue e JOIN exception_skus s ON s.exception_id = e.exception_id"
            where, params = _where(query)
        else:
            source = "exception_queue e"
            where, params = _where(query)
        where.append(f"{key} <> ''")
        with self._db.transaction() as cur:
            cur.execute(
                f"SELECT {key}, COUNT(*), "
                f"SUM(CASE WHEN {row}.severity = 'high' THEN 1 ELSE 0 END), "
                f"MIN({row}.opened_at) FROM {source} WHERE {' AND '.join(where)} "
                f"GROUP BY {key} ORDER BY COUNT(*) DESC, {key} LIMIT 100",
                params,
            )
            return [
                SummaryRow(str(k), int(n), int(h or 0), str(o)) for k, n, h, o in cur.fetchall()
            ]


def _state(query: ExceptionQuery, alias: str) -> list[str]:
    """The state as SQL text, not a parameter: a prepared statement's generic plan then still
    knows that open exceptions are the small part of the table."""
    if query.state == "all":
        return []
    return [f"{alias}.is_open" if query.state == "open" else f"NOT {alias}.is_open"]


def _where(query: ExceptionQuery) -> tuple[list[str], list[Any]]:
    where: list[str] = _state(query, "e")
    params: list[Any] = []
    if query.kinds:
        where.append(f"e.kind IN ({', '.join('?' for _ in query.kinds)})")
        params.extend(query.kinds)
    for column in ("severity", "channel", "customer_id", "source_id", "order_id", "assignee"):
        value = getattr(query, column)
        if value is not None:
            where.append(f"e.{column} = ?")
            params.append(value)
    if query.sku is not None:
        where.append(
            "EXISTS (SELECT 1 FROM exception_skus k WHERE k.exception_id = e.exception_id "
            "AND k.sku = ?)"
        )
        params.append(query.sku)
    return where, params


def _context_params(context: Context) -> list[Any]:
    # Not asdict(replace(...)): two deep copies of a flat row were most of the view's save.
    values = [getattr(context, c) for c in _CONTEXT_COLUMNS]
    values[_CONTEXT_COLUMNS.index("skus")] = json.dumps(list(context.skus))
    return values


def _params(row: ExceptionRow) -> list[Any]:
    values: dict[str, Any] = {c: getattr(row, c) for c in _COLUMNS}  # flat: no asdict() copy
    values["skus"] = json.dumps(list(row.skus))
    return [*(values[c] for c in _COLUMNS), SEVERITY_RANK[row.severity], row.is_open]


def _row(record: Sequence[Any]) -> ExceptionRow:
    values = dict(zip(_COLUMNS, record, strict=True))
    values["skus"] = tuple(json.loads(values["skus"]))
    return ExceptionRow(**values)


def _sku_changes(
    rows: list[ExceptionRow], before: dict[str, ExceptionRow]
) -> tuple[list[tuple[str, str]], list[tuple[str, str, bool, str, str]]]:
    """SKU rows by difference with the table's (`before`): keys gone (a reopened exception may
    name other SKUs), rows new or moved. A DELETE by exception id had no index (the key is
    (sku, exception_id)): each batch scanned the whole table, a cost growing with history."""
    gone: list[tuple[str, str]] = []
    written: list[tuple[str, str, bool, str, str]] = []
    for r in rows:
        old = before.get(r.exception_id)
        kept = set(old.skus) if old is not None else set()
        gone.extend((sku, r.exception_id) for sku in sorted(kept - set(r.skus)))
        state = (r.is_open, r.severity, r.opened_at)
        same = old is not None and (old.is_open, old.severity, old.opened_at) == state
        fresh = dict.fromkeys(sku for sku in r.skus if not (same and sku in kept))
        written.extend((sku, r.exception_id, *state) for sku in fresh)
    return gone, written


def _chunks(keys: list[str], size: int = 500) -> Iterable[list[str]]:
    for start in range(0, len(keys), size):
        yield keys[start : start + size]
