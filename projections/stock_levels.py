"""Stock availability per source and SKU, for the operations console.

One row per stock item (source, SKU), folded from the `orderhub.stock_item.*` events exactly as
the `StockItem` aggregate folds them: `available = max(0, on_hand - reserved - safety_stock)`.
The source's display name comes from the `orderhub.fulfillment_source.*` events, kept apart
because both kinds arrive on the inventory topic in no particular order relative to each other
(they are keyed by their own aggregate), and joined in when rows are read.

The per-order reservations are kept IN the row, as JSON text, rather than in a child table:
`Released` carries the quantity and `Consumed` carries `quantity + freed`, so arithmetic alone
would do for a well-formed history, but the aggregate's rule is "drop this order's reservation",
and keeping the map lets the view follow that rule literally (a release of an order that holds
nothing frees nothing). One row per item means one read and one version-guarded upsert per item
per batch, and the very same pure fold serves every backend. The cost is rewriting the map on
each event of the item; it holds only the item's open reservations, which stay small.
"""

from collections.abc import Iterable, Sequence
from dataclasses import replace
from typing import Any, Protocol

from projections import multirow
from projections.base import ReadModel, SqlView, advance, prefix_upper_bound
from projections.positions import create_positions_table, read_positions, save_positions
from projections.sqldb import Cursor, SqlDatabase
from projections.stock_rows import (
    FOLLOWER,
    SOURCE_EVENTS,
    STOCK_EVENTS,
    SourceName,
    StockLevel,
    StockPage,
    check_limit,
    decode_cursor,
    encode_cursor,
    fold_batch,
    stock_key,
)
from schemas.envelope import EventEnvelope
from schemas.event_types import types_of


class StockLevelsView(ReadModel, Protocol):
    def get(self, source_id: str, sku: str) -> StockLevel | None: ...

    def search(
        self,
        source_id: str | None = None,
        sku_prefix: str | None = None,
        short_only: bool = False,
        limit: int = 50,
        after: str | None = None,
    ) -> StockPage:
        """Rows by (source_id, sku); `short_only` keeps those with nothing available; `after`
        is the `next_cursor` of the previous page."""

    def totals_by_sku(self, skus: list[str]) -> dict[str, tuple[int, int]]:
        """(on_hand, available) summed over every source, for each given SKU that has a row."""


# -- in memory -----------------------------------------------------------------------------------


class InMemoryStockLevels:
    name = FOLLOWER

    def __init__(self) -> None:
        self._rows: dict[tuple[str, str], StockLevel] = {}
        self._sources: dict[str, SourceName] = {}
        self._names: dict[str, str] = {}
        self._positions: dict[str, int] = {}

    def apply(self, envelopes: Sequence[EventEnvelope], positions: dict[str, int]) -> None:
        rows, sources = dict(self._rows), dict(self._sources)
        fold_batch(envelopes, rows, sources)  # raises before anything is kept
        self._rows, self._sources = rows, sources
        self._names = {s.source_id: s.name for s in sources.values()}
        advance(self._positions, positions)

    def positions(self) -> dict[str, int]:
        return dict(self._positions)

    def reset(self) -> None:
        self._rows, self._sources, self._names, self._positions = {}, {}, {}, {}

    def get(self, source_id: str, sku: str) -> StockLevel | None:
        row = self._rows.get((source_id, sku))
        return None if row is None else self._named(row)

    def search(
        self,
        source_id: str | None = None,
        sku_prefix: str | None = None,
        short_only: bool = False,
        limit: int = 50,
        after: str | None = None,
    ) -> StockPage:
        check_limit(limit)
        start = decode_cursor(after) if after is not None else None
        found: list[StockLevel] = []
        for key in sorted(self._rows):
            row = self._rows[key]
            if start is not None and key <= start:
                continue
            if source_id is not None and row.source_id != source_id:
                continue
            if sku_prefix and not row.sku.startswith(sku_prefix):
                continue
            if short_only and row.available != 0:
                continue
            found.append(self._named(row))
            if len(found) > limit:
                break
        return _page(found, limit)

    def totals_by_sku(self, skus: list[str]) -> dict[str, tuple[int, int]]:
        wanted = set(skus)
        totals: dict[str, tuple[int, int]] = {}
        for row in self._rows.values():
            if row.sku in wanted:
                on_hand, available = totals.get(row.sku, (0, 0))
                totals[row.sku] = (on_hand + row.on_hand, available + row.available)
        return totals

    def _named(self, row: StockLevel) -> StockLevel:
        return replace(row, source_name=self._names.get(row.source_id, row.source_id))


def _page(found: list[StockLevel], limit: int) -> StockPage:
    """`found` holds up to limit + 1 rows: one more than the page says another page follows."""
    rows = found[:limit]
    more = len(found) > limit
    return StockPage(rows, encode_cursor(rows[-1].source_id, rows[-1].sku) if more else None)


# -- SQLite and PostgreSQL -----------------------------------------------------------------------

_STORED = [f for f in StockLevel.__dataclass_fields__ if f != "source_name"]
_SELECT = ", ".join(f"l.{c}" for c in _STORED) + ", COALESCE(s.name, l.source_id)"
_FROM = "stock_levels l LEFT JOIN stock_level_sources s ON s.source_id = l.source_id"
# Keys are compared in code point order on every backend, as Python sorts them: PostgreSQL's
# "C" collation (byte order of UTF-8) and SQLite's default BINARY. It also lets a plain btree
# index serve the SKU prefix range.
_DDL = """
CREATE TABLE IF NOT EXISTS stock_levels (
    source_id TEXT{collate} NOT NULL,
    sku TEXT{collate} NOT NULL,
    on_hand BIGINT NOT NULL,
    reserved BIGINT NOT NULL,
    safety_stock BIGINT NOT NULL,
    available BIGINT NOT NULL,
    updated_at TEXT NOT NULL,
    version BIGINT NOT NULL,
    reservations TEXT NOT NULL DEFAULT '{{}}',
    PRIMARY KEY (source_id, sku)
)"""
_SOURCES_DDL = """
CREATE TABLE IF NOT EXISTS stock_level_sources (
    source_id TEXT{collate} PRIMARY KEY,
    subject TEXT NOT NULL,
    name TEXT NOT NULL,
    version BIGINT NOT NULL
)"""
_INDEXES = (
    # sku_prefix (a range on sku) and totals_by_sku (sku IN ...).
    "CREATE INDEX IF NOT EXISTS stock_levels_sku ON stock_levels (sku, source_id)",
    # short_only: only the rows with nothing available, already in page order. Queries must
    # spell the predicate as the literal `available = 0` for the planners to use it.
    "CREATE INDEX IF NOT EXISTS stock_levels_short ON stock_levels (source_id, sku) "
    "WHERE available = 0",
    # Redefined events name the source aggregate, not the source id.
    "CREATE INDEX IF NOT EXISTS stock_level_sources_subject ON stock_level_sources (subject)",
)
_CHUNK = 400  # keys per IN (...) list: well under SQLite's and PostgreSQL's parameter limits


class SqlStockLevels(SqlView):
    """SQLite or PostgreSQL; rows and positions are written in one transaction per batch."""

    name = FOLLOWER
    event_types = types_of(STOCK_EVENTS, SOURCE_EVENTS)  # the lane decodes those only
    rebuilt_as = FOLLOWER

    def __init__(self, db: SqlDatabase) -> None:
        self._db = db
        collate = ' COLLATE "C"' if db.dialect == "postgres" else ""
        with db.schema_transaction() as cur:
            cur.execute(_DDL.format(collate=collate))
            cur.execute(_SOURCES_DDL.format(collate=collate))
            for statement in _INDEXES:
                cur.execute(statement)
            create_positions_table(cur)

    def write(
        self, cur: Cursor, envelopes: Sequence[EventEnvelope], positions: dict[str, int]
    ) -> None:
        keys = sorted({stock_key(e) for e in envelopes if e.type.startswith(STOCK_EVENTS)})
        subjects = sorted({e.subject for e in envelopes if e.type.startswith(SOURCE_EVENTS)})
        rows = _load_rows(cur, keys, self._db.dialect)
        sources = _load_sources(cur, subjects)
        changed_rows, changed_sources = fold_batch(envelopes, rows, sources)
        if changed_rows:
            placeholders = ", ".join("?" for _ in _STORED)
            updates = ", ".join(f"{c} = excluded.{c}" for c in _STORED[2:])
            cur.executemany(
                f"INSERT INTO stock_levels ({', '.join(_STORED)}) VALUES ({placeholders}) "
                f"ON CONFLICT (source_id, sku) DO UPDATE SET {updates} "
                "WHERE excluded.version > stock_levels.version",
                [_to_params(row) for _, row in sorted(changed_rows.items())],
            )
        if changed_sources:
            cur.executemany(
                "INSERT INTO stock_level_sources (source_id, subject, name, version) "
                "VALUES (?, ?, ?, ?) ON CONFLICT (source_id) DO UPDATE SET "
                "subject = excluded.subject, name = excluded.name, version = excluded.version "
                "WHERE excluded.version > stock_level_sources.version",
                [
                    (s.source_id, s.subject, s.name, s.version)
                    for _, s in sorted(changed_sources.items())
                ],
            )
        save_positions(cur, FOLLOWER, positions)

    def positions(self) -> dict[str, int]:
        with self._db.transaction() as cur:
            return read_positions(cur, FOLLOWER)

    def reset(self) -> None:
        with self._db.transaction(writing_view=FOLLOWER) as cur:
            cur.execute("DELETE FROM stock_levels")
            cur.execute("DELETE FROM stock_level_sources")
            cur.execute("DELETE FROM orderhub_positions WHERE follower = ?", (FOLLOWER,))

    def get(self, source_id: str, sku: str) -> StockLevel | None:
        with self._db.transaction() as cur:
            cur.execute(
                f"SELECT {_SELECT} FROM {_FROM} WHERE l.source_id = ? AND l.sku = ?",
                (source_id, sku),
            )
            record = cur.fetchone()
        return None if record is None else _from_record(record)

    def search(
        self,
        source_id: str | None = None,
        sku_prefix: str | None = None,
        short_only: bool = False,
        limit: int = 50,
        after: str | None = None,
    ) -> StockPage:
        check_limit(limit)
        where: list[str] = []
        params: list[Any] = []
        if source_id is not None:
            where.append("l.source_id = ?")
            params.append(source_id)
        if sku_prefix:
            where.append("l.sku >= ?")
            params.append(sku_prefix)
            upper = prefix_upper_bound(sku_prefix)
            if upper is not None:
                where.append("l.sku < ?")
                params.append(upper)
        if short_only:
            where.append("l.available = 0")
        if after is not None:
            where.append("(l.source_id, l.sku) > (?, ?)")
            params.extend(decode_cursor(after))
        clause = f" WHERE {' AND '.join(where)}" if where else ""
        with self._db.transaction() as cur:
            cur.execute(
                f"SELECT {_SELECT} FROM {_FROM}{clause} ORDER BY l.source_id, l.sku LIMIT ?",
                [*params, limit + 1],
            )
            found = [_from_record(r) for r in cur.fetchall()]
        return _page(found, limit)

    def totals_by_sku(self, skus: list[str]) -> dict[str, tuple[int, int]]:
        totals: dict[str, tuple[int, int]] = {}
        with self._db.transaction() as cur:
            for chunk in _chunks(sorted(set(skus))):
                cur.execute(
                    "SELECT sku, SUM(on_hand), SUM(available) FROM stock_levels "
                    f"WHERE sku IN ({', '.join('?' for _ in chunk)}) GROUP BY sku",
                    chunk,
                )
                for sku, on_hand, available in cur.fetchall():
                    totals[str(sku)] = (int(on_hand), int(available))
        return totals


def _chunks(items: Sequence[Any]) -> Iterable[Sequence[Any]]:
    for start in range(0, len(items), _CHUNK):
        yield items[start : start + _CHUNK]


def _load_rows(
    cur: Cursor, keys: Sequence[tuple[str, str]], dialect: str
) -> dict[tuple[str, str], StockLevel]:
    """The rows of these keys.

    PostgreSQL: by the primary key, the keys sent as two arrays joined to the table, in one
    fixed text (an IN list was another text for each batch's count of SKUs), planned per call:
    a generic plan made while the table was small joins by a scan of the whole table until the
    next ANALYZE (projections.sqldb). Looked up by `sku IN (...)`, a batch's
    hundred-odd SKUs were planned as a sequential scan of the whole table (40,000 rows on the
    benchmark's network; 12 of a run's 70 batches), each row tested against the hashed list:
    the projections backends' first user of CPU (benchmarks/README.md "The projections
    role's and PostgreSQL's statements per batch").

    SQLite: by SKU (the rows of the SKUs' other sources are read and left): it scanned the
    whole table for `(source_id, sku) IN (VALUES ...)`, 20 ms a batch on a network of 40,000
    stock rows; `sku IN (...)` is an index search there."""
    rows: dict[tuple[str, str], StockLevel] = {}
    if not keys:
        return rows
    if dialect == "postgres":
        cur.execute(
            f"SELECT {_SELECT} FROM unnest(?::text[], ?::text[]) AS k(source_id, sku) "
            "JOIN stock_levels l ON l.source_id = k.source_id AND l.sku = k.sku "
            "LEFT JOIN stock_level_sources s ON s.source_id = l.source_id",
            # As array literals: psycopg's list dumper (Python) cost ~3.5 µs a value.
            [
                multirow.array_literal([source for source, _ in keys], "text"),
                multirow.array_literal([sku for _, sku in keys], "text"),
            ],
        )
        for record in cur.fetchall():
            row = _from_record(record)
            rows[(row.source_id, row.sku)] = row
        return rows
    wanted = set(keys)
    for chunk in _chunks(sorted({sku for _, sku in keys})):
        cur.execute(
            f"SELECT {_SELECT} FROM {_FROM} WHERE l.sku IN ({', '.join('?' for _ in chunk)})",
            chunk,
        )
        for record in cur.fetchall():
            if (record[0], record[1]) in wanted:
                row = _from_record(record)
                rows[(row.source_id, row.sku)] = row
    return rows


def _load_sources(cur: Cursor, subjects: Sequence[str]) -> dict[str, SourceName]:
    sources: dict[str, SourceName] = {}
    for chunk in _chunks(subjects):
        cur.execute(
            "SELECT subject, source_id, name, version FROM stock_level_sources "
            f"WHERE subject IN ({', '.join('?' for _ in chunk)})",
            chunk,
        )
        for subject, source_id, name, version in cur.fetchall():
            sources[subject] = SourceName(subject, source_id, name, int(version))
    return sources


def _to_params(row: StockLevel) -> list[Any]:
    return [getattr(row, c) for c in _STORED]  # flat columns: no asdict() copy


def _from_record(record: Sequence[Any]) -> StockLevel:
    values = dict(zip([*_STORED, "source_name"], record, strict=True))
    for column in ("on_hand", "reserved", "safety_stock", "available", "version"):
        values[column] = int(values[column])
    return StockLevel(**values)
