"""Stock availability per source and SKU, for the operations console.

One row per stock item (source, SKU), folded from the `orderhub.stock_item.*` events exactly as
the `StockItem` aggregate folds them: `available = max(0, on_hand - reserved - safety_stock)`.
The source's display name comes from the `orderhub.fulfillment_source.*` events, kept apart
because both kinds arrive on the inventory topic in no particular order relative to each other
(they are keyed by their own aggregate), and joined in when rows are read.

A row's `reserved` is kept by arithmetic on the events' quantities (`stock_rows.fold`), as the
aggregate keeps its `reserved_units` and the supply view its holdings. Layout 1 also kept the
map of the open reservations in the row, as JSON text, rewritten on each event of the item: in
a soak whose orders did not ship (every reservation stays open) PostgreSQL's CPU per order
doubled within 75,000 orders and the table grew to 300-570 MB for 39,632 rows
(benchmarks/README.md, "The stock view's reservations"). Its rows are upgraded in place.
"""

from collections.abc import Iterable, Sequence
from typing import Any

from projections import multirow
from projections.base import (
    SqlView,
    create_versions_table,
    ensure_version,
    prefix_upper_bound,
)
from projections.positions import create_positions_table, read_positions, save_positions
from projections.sqldb import Cursor, SqlDatabase
from projections.stock_levels_memory import InMemoryStockLevels, StockLevelsView
from projections.stock_rows import (
    FOLLOWER,
    SOURCE_EVENTS,
    STOCK_EVENTS,
    SourceName,
    StockLevel,
    StockPage,
    check_limit,
    decode_cursor,
    fold_batch,
    page_of,
    stock_key,
)
from schemas.envelope import EventEnvelope
from schemas.event_types import types_of

__all__ = ["InMemoryStockLevels", "SqlStockLevels", "StockLevelsView"]


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
    PRIMARY KEY (source_id, sku)
)"""
# 2: no list of the open reservations in the item's row (layout 1's JSON text), `reserved` by
# arithmetic alone.
VERSION = 2
_TABLES = ["stock_levels", "stock_level_sources"]
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
            create_versions_table(cur)
            _upgrade_from_1(cur, db.dialect)
            # Its layout changed: the hub rebuilds it from the event store when it starts.
            self.needs_rebuild = ensure_version(cur, FOLLOWER, VERSION, _TABLES)
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
        return page_of(found, limit)

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


def _upgrade_from_1(cur: Cursor, dialect: str) -> None:
    """A view of layout 1 (no version recorded, the open reservations as JSON text in a column
    of the item's row) upgraded in place: its figures are right as they are, so the column is
    dropped and the version recorded. Nothing to do for another layout or a new database."""
    cur.execute("SELECT version FROM orderhub_view_versions WHERE view = ?", (FOLLOWER,))
    if cur.fetchone() is not None or "reservations" not in _columns(cur, dialect):
        return
    cur.execute("ALTER TABLE stock_levels DROP COLUMN reservations")
    cur.execute(
        "INSERT INTO orderhub_view_versions (view, version) VALUES (?, ?)", (FOLLOWER, VERSION)
    )


def _columns(cur: Cursor, dialect: str) -> set[str]:
    """The columns of the stock_levels table; none when there is no such table."""
    if dialect == "postgres":
        cur.execute(
            "SELECT column_name FROM information_schema.columns "
            "WHERE table_schema = current_schema() AND table_name = 'stock_levels'"
        )
    else:
        cur.execute("SELECT name FROM pragma_table_info('stock_levels')")
    return {str(name) for (name,) in cur.fetchall()}


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
