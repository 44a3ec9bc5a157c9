"""The order status read model: one row per order, searchable, in memory or in SQL."""

from collections.abc import Sequence
from typing import Any, Protocol

import orjson

from projections.base import SqlView, advance, create_versions_table, ensure_version, forget
from projections.kpis import DayKpis, kpis
from projections.order_children import (
    CHILD_TABLES,
    child_ddl,
    save_children,
    upgrade_children,
)
from projections.order_kpis import kpi_days
from projections.order_query import (
    EXTERNAL_ID_INDEX,
    RETIRED_INDEXES,
    SEARCH_INDEXES,
    OrderPage,
    OrderQuery,
    page_in_memory,
    page_of,
    search_sql,
)
from projections.order_rows import FINAL_STATUSES, HANDLERS, OrderFacts, OrderStatusRow, fold
from projections.positions import read_positions, save_positions
from projections.promise_news import TABLE as NEWS_TABLE
from projections.promise_news import (
    PromiseNews,
    forget_news,
    news_ddl,
    news_of,
    open_promise,
    read_news,
    record_news,
)
from projections.sqldb import Cursor, SqlDatabase
from schemas.envelope import EventEnvelope

FOLLOWER = "order_status"
# Bump when the rows' shape or meaning changes: the view is then rebuilt from the log (6 and
# 7: the SKU rows' and the sources' rows' new keys, upgraded in place from 5 and 6 by
# projections.order_children).
VERSION = 7

__all__ = [
    "FOLLOWER",
    "InMemoryOrderStatusView",
    "OrderPage",
    "OrderQuery",
    "OrderStatusRow",
    "OrderStatusView",
    "SqlOrderStatusView",
    "fold",
]


class OrderStatusView(Protocol):
    name: str

    def apply(self, envelopes: Sequence[EventEnvelope], positions: dict[str, int]) -> None:
        """Apply a batch and record the positions it reached, atomically."""

    def get(self, order_id: str) -> OrderStatusRow | None: ...

    def get_many(self, order_ids: Sequence[str]) -> dict[str, OrderStatusRow]: ...

    def positions(self) -> dict[str, int]: ...

    def reset(self) -> None: ...

    def search(self, query: OrderQuery) -> OrderPage: ...

    def promised_before(
        self, moment: str, limit: int, after: tuple[str, str] | None = None
    ) -> list[OrderStatusRow]:
        """Orders not shipped (nor cancelled or rejected) promised at or before `moment`, by
        promise then id, after the (promised_by, order_id) of a previous page."""

    def open_promises(
        self, moment: str, limit: int, after: tuple[str, str] | None = None
    ) -> list[tuple[str, str]]:
        """`promised_before`'s orders as (promised_by, order_id) only: what the jeopardy
        clock reads of every open promise at each tick."""

    def promise_news(self, after: int, limit: int) -> list[PromiseNews]:
        """The open promises new or changed since they were last forgotten, by number after
        `after` (projections.promise_news)."""

    def forget_news(self, seqs: Sequence[int]) -> None: ...

    def placed_between(self, start: str, end: str, channel: str | None) -> list[OrderStatusRow]:
        """Orders placed in [start, end)."""

    def kpi_days(self, start: str, end: str, channel: str | None) -> list[DayKpis]:
        """KPIs per channel and day of the orders placed in [start, end)."""


class InMemoryOrderStatusView:
    name = FOLLOWER

    def __init__(self) -> None:
        self._rows: dict[str, OrderStatusRow] = {}
        self._positions: dict[str, int] = {}
        self._news: dict[int, str] = {}
        self._seq = 0

    def apply(self, envelopes: Sequence[EventEnvelope], positions: dict[str, int]) -> None:
        rows = dict(self._rows)
        for env in envelopes:
            new = fold(rows.get(env.subject), env)
            if new is not None:
                rows[env.subject] = new
        changed = {env.subject: rows[env.subject] for env in envelopes if env.subject in rows}
        for order_id in news_of(changed.values(), self._rows):
            self._seq += 1
            self._news[self._seq] = order_id
        self._rows = rows
        advance(self._positions, positions)

    def get(self, order_id: str) -> OrderStatusRow | None:
        return self._rows.get(order_id)

    def get_many(self, order_ids: Sequence[str]) -> dict[str, OrderStatusRow]:
        return {i: self._rows[i] for i in order_ids if i in self._rows}

    def positions(self) -> dict[str, int]:
        return dict(self._positions)

    def reset(self) -> None:
        self._rows, self._positions = {}, {}

    def search(self, query: OrderQuery) -> OrderPage:
        return page_in_memory(list(self._rows.values()), query)

    def promised_before(
        self, moment: str, limit: int, after: tuple[str, str] | None = None
    ) -> list[OrderStatusRow]:
        due = [
            r
            for r in self._rows.values()
            if r.promised_by
            and r.promised_by <= moment
            and r.status not in FINAL_STATUSES
            and (after is None or (r.promised_by, r.order_id) > after)
        ]
        return sorted(due, key=lambda r: (r.promised_by, r.order_id))[:limit]

    def open_promises(
        self, moment: str, limit: int, after: tuple[str, str] | None = None
    ) -> list[tuple[str, str]]:
        return [(r.promised_by, r.order_id) for r in self.promised_before(moment, limit, after)]

    def promise_news(self, after: int, limit: int) -> list[PromiseNews]:
        news = sorted((s, o) for s, o in self._news.items() if s > after)[:limit]
        return [PromiseNews(s, open_promise(self._rows.get(o)), o) for s, o in news]

    def forget_news(self, seqs: Sequence[int]) -> None:
        for seq in seqs:
            self._news.pop(seq, None)

    def kpi_days(self, start: str, end: str, channel: str | None) -> list[DayKpis]:
        return kpis(self.placed_between(start, end, channel))

    def placed_between(self, start: str, end: str, channel: str | None) -> list[OrderStatusRow]:
        return sorted(
            (
                r
                for r in self._rows.values()
                if start <= r.placed_at < end and channel in (None, r.channel)
            ),
            key=lambda r: (r.placed_at, r.order_id),
        )


_COLUMNS = list(OrderStatusRow.__dataclass_fields__)
_TUPLES = ("reasons", "skus", "sources")
_DDL = """
CREATE TABLE IF NOT EXISTS order_status (
    order_id TEXT PRIMARY KEY,
    channel TEXT NOT NULL,
    external_id TEXT NOT NULL,
    status TEXT NOT NULL,
    customer_id TEXT NOT NULL,
    demand_class TEXT NOT NULL,
    country TEXT NOT NULL,
    currency TEXT NOT NULL,
    total TEXT NOT NULL,
    line_count INTEGER NOT NULL,
    placed_at TEXT NOT NULL,
    received_at TEXT NOT NULL,
    updated_at TEXT NOT NULL,
    version INTEGER NOT NULL,
    digest TEXT NOT NULL,
    reasons TEXT NOT NULL,
    fulfillment TEXT NOT NULL DEFAULT '{}',
    delivery_method TEXT NOT NULL,
    promised_by TEXT NOT NULL,
    skus TEXT NOT NULL,
    sources TEXT NOT NULL,
    units_ordered INTEGER NOT NULL,
    units_shipped INTEGER NOT NULL,
    shipped_at TEXT NOT NULL,
    split BOOLEAN NOT NULL,
    distance_km DOUBLE PRECISION,
    backordered BOOLEAN NOT NULL,
    external_key TEXT NOT NULL
)"""
_TABLES = ["order_status", *CHILD_TABLES, NEWS_TABLE]


class SqlOrderStatusView(SqlView):
    """SQLite or PostgreSQL; rows and positions are written in one transaction per batch."""

    name = FOLLOWER
    # What its fold reads: the lane decodes and hands it those only (an order's stock
    # reservations and decision inputs, most of the log, are none of its business).
    event_types = frozenset(HANDLERS)
    rebuilt_as = FOLLOWER
    reads_explanations = False  # a decision's outcome only (connectors.unread_explanation)

    def __init__(self, db: SqlDatabase) -> None:
        self._db = db
        with db.schema_transaction() as cur:
            create_versions_table(cur)
            upgrade_children(cur, db, FOLLOWER)
            # Its layout changed: the hub rebuilds it from the event store when it starts.
            self.needs_rebuild = ensure_version(cur, FOLLOWER, VERSION, _TABLES)
            cur.execute(db.ddl(_DDL))
            for table in CHILD_TABLES:
                cur.execute(db.ddl(child_ddl(table)))
            # New in place (an earlier layout's view is kept): the clock's first tick after a
            # start looks at every open promise, so the promises noted nowhere are seen.
            cur.execute(db.ddl(news_ddl(db.dialect)))
            for statement in [*SEARCH_INDEXES, EXTERNAL_ID_INDEX, *RETIRED_INDEXES]:
                cur.execute(statement)

    def write(
        self, cur: Cursor, envelopes: Sequence[EventEnvelope], positions: dict[str, int]
    ) -> None:
        ids = sorted({env.subject for env in envelopes})
        rows = self._load(cur, ids)
        before = dict(rows)
        changed: dict[str, OrderStatusRow] = {}
        for env in envelopes:
            new = fold(rows.get(env.subject), env)
            if new is not None and new is not rows.get(env.subject):
                rows[env.subject] = changed[env.subject] = new
        if changed:
            self._save(cur, list(changed.values()), before)
        save_positions(cur, FOLLOWER, positions)

    def _save(
        self, cur: Cursor, rows: list[OrderStatusRow], before: dict[str, OrderStatusRow]
    ) -> None:
        stored = [*_COLUMNS, "external_key"]
        placeholders = ", ".join("?" for _ in stored)
        updates = ", ".join(f"{c} = excluded.{c}" for c in stored if c != "order_id")
        cur.executemany(
            f"INSERT INTO order_status ({', '.join(stored)}) VALUES ({placeholders}) "
            f"ON CONFLICT (order_id) DO UPDATE SET {updates} "
            "WHERE excluded.version > order_status.version",
            [_to_params(row) for row in rows],
        )
        save_children(cur, rows, before)
        record_news(cur, rows, before)

    def get(self, order_id: str) -> OrderStatusRow | None:
        return self.get_many([order_id]).get(order_id)

    def get_many(self, order_ids: Sequence[str]) -> dict[str, OrderStatusRow]:
        with self._db.transaction() as cur:
            return self._load(cur, order_ids)

    def positions(self) -> dict[str, int]:
        with self._db.transaction() as cur:
            return read_positions(cur, FOLLOWER)

    def reset(self) -> None:
        with self._db.transaction(writing_view=FOLLOWER) as cur:
            forget(cur, FOLLOWER, _TABLES)

    def search(self, query: OrderQuery) -> OrderPage:
        sql, params = search_sql(query, _COLUMNS)
        with self._db.transaction() as cur:
            cur.execute(sql, params)
            rows = [_from_record(r) for r in cur.fetchall()]
        return page_of(query, rows)

    def promised_before(
        self, moment: str, limit: int, after: tuple[str, str] | None = None
    ) -> list[OrderStatusRow]:
        return [_from_record(r) for r in self._promised(_COLUMNS, moment, limit, after)]

    def open_promises(
        self, moment: str, limit: int, after: tuple[str, str] | None = None
    ) -> list[tuple[str, str]]:
        rows = self._promised(["promised_by", "order_id"], moment, limit, after)
        return [(str(promised_by), str(order_id)) for promised_by, order_id in rows]

    def promise_news(self, after: int, limit: int) -> list[PromiseNews]:
        with self._db.transaction() as cur:
            return read_news(cur, after, limit)

    def forget_news(self, seqs: Sequence[int]) -> None:
        with self._db.transaction() as cur:
            forget_news(cur, seqs)

    def _promised(
        self, columns: list[str], moment: str, limit: int, after: tuple[str, str] | None
    ) -> list[Any]:
        # Literals, not parameters: SQLite uses the partial index only when it can match them.
        final = ", ".join(f"'{s}'" for s in sorted(FINAL_STATUSES))
        page = " AND (promised_by, order_id) > (?, ?)" if after else ""
        with self._db.transaction() as cur:
            cur.execute(
                f"SELECT {', '.join(columns)} FROM order_status "
                f"WHERE promised_by <> '' AND status NOT IN ({final}) AND promised_by <= ?"
                f"{page} ORDER BY promised_by, order_id LIMIT ?",
                [moment, *(after or ()), limit],
            )
            return list(cur.fetchall())

    def placed_between(self, start: str, end: str, channel: str | None) -> list[OrderStatusRow]:
        where, params = "placed_at >= ? AND placed_at < ?", [start, end]
        if channel is not None:
            where += " AND channel = ?"
            params.append(channel)
        with self._db.transaction() as cur:
            cur.execute(
                f"SELECT {', '.join(_COLUMNS)} FROM order_status WHERE {where} "
                "ORDER BY placed_at, order_id",
                params,
            )
            return [_from_record(r) for r in cur.fetchall()]

    def kpi_days(self, start: str, end: str, channel: str | None) -> list[DayKpis]:
        """KPIs per channel and day of the orders placed in [start, end), summed in SQL."""
        with self._db.transaction() as cur:
            return kpi_days(cur, self._db.dialect, start, end, channel)

    def _load(self, cur: Cursor, ids: Sequence[str]) -> dict[str, OrderStatusRow]:
        if not ids:
            return {}
        placeholders = ", ".join("?" for _ in ids)
        cur.execute(
            f"SELECT {', '.join(_COLUMNS)} FROM order_status WHERE order_id IN ({placeholders})",
            list(ids),
        )
        return {r[0]: _from_record(r) for r in cur.fetchall()}


def list_json(values: Sequence[object]) -> str:
    """A row's list column as stored (its JSON, without the standard library's spaces)."""
    return orjson.dumps(values).decode()


def _to_params(row: OrderStatusRow) -> list[object]:
    # Not asdict(): it deep-copies every field, and the row's are flat but for `fulfillment`.
    # The lists by orjson, as the facts (OrderFacts.to_json): the stdlib's encoder, four
    # calls a saved row, cost more than the rest of its parameters.
    values: dict[str, Any] = dict(row.__dict__)
    values["fulfillment"] = row.fulfillment.to_json()
    for name in _TUPLES:
        values[name] = list_json(values[name])
    return [*(values[c] for c in _COLUMNS), row.external_id.lower()]


def _from_record(record: Sequence[object]) -> OrderStatusRow:
    # Read by orjson, whichever wrote them (rows of earlier releases have the stdlib's spaces).
    values: dict[str, Any] = dict(zip(_COLUMNS, record, strict=True))
    values["fulfillment"] = OrderFacts.from_json(str(values["fulfillment"]))
    for name in _TUPLES:
        values[name] = tuple(orjson.loads(str(values[name])))
    for name in ("line_count", "version", "units_ordered", "units_shipped"):
        values[name] = int(values[name])
    for name in ("split", "backordered"):
        values[name] = bool(values[name])
    if values["distance_km"] is not None:
        values["distance_km"] = float(values["distance_km"])
    # Every field is here, converted: made as `copied` makes rows, without the frozen
    # dataclass's __init__ (an object.__setattr__ for each of the 28 fields).
    row = object.__new__(OrderStatusRow)
    row.__dict__.update(values)
    return row
