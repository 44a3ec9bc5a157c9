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

import base64
import binascii
import json
from collections.abc import Iterable, Sequence
from dataclasses import asdict, dataclass, replace
from datetime import UTC
from typing import Any, Protocol

from projections.base import ReadModel, advance
from projections.positions import create_positions_table, read_positions, save_positions
from projections.sqldb import Cursor, SqlDatabase
from schemas.envelope import EventEnvelope

FOLLOWER = "stock_levels"
STOCK_EVENTS = "orderhub.stock_item."
SOURCE_EVENTS = "orderhub.fulfillment_source."


@dataclass(frozen=True)
class StockLevel:
    source_id: str
    sku: str
    on_hand: int
    reserved: int
    safety_stock: int
    available: int
    updated_at: str  # UTC ISO of the last event's business time, e.g. 2026-11-20T09:00:00.000000Z
    version: int  # the stock item's event sequence this row was computed up to
    reservations: str = "{}"  # {order_id: quantity} of the open reservations, as JSON text
    source_name: str = ""  # the source's display name; its id while no name is known

    def __post_init__(self) -> None:
        if not self.source_name:
            object.__setattr__(self, "source_name", self.source_id)

    def reservations_by_order(self) -> dict[str, int]:
        held: dict[str, int] = json.loads(self.reservations)
        return held


@dataclass(frozen=True)
class StockPage:
    rows: list[StockLevel]
    next_cursor: str | None  # pass as `after` for the next page; None on the last page


@dataclass(frozen=True)
class _Source:
    subject: str
    source_id: str
    name: str
    version: int


# -- the pure fold -------------------------------------------------------------------------------


def utc_text(env: EventEnvelope) -> str:
    """One spelling of UTC times, so that text order is time order."""
    return env.time.astimezone(UTC).strftime("%Y-%m-%dT%H:%M:%S.%fZ")


def _level(
    source_id: str,
    sku: str,
    on_hand: int,
    safety_stock: int,
    reservations: dict[str, int],
    env: EventEnvelope,
) -> StockLevel:
    reserved = sum(reservations.values())
    return StockLevel(
        source_id=source_id,
        sku=sku,
        on_hand=on_hand,
        reserved=reserved,
        safety_stock=safety_stock,
        available=max(0, on_hand - reserved - safety_stock),
        updated_at=utc_text(env),
        version=env.sequence,
        reservations=json.dumps(reservations, sort_keys=True, separators=(",", ":")),
    )


def fold(row: StockLevel | None, env: EventEnvelope) -> StockLevel | None:
    """Apply one stock item event; one at or below the row's version was seen already."""
    if row is not None and env.sequence <= row.version:
        return row
    kind = env.type.removeprefix(STOCK_EVENTS)
    data = env.data
    if kind == "registered":
        return _level(
            data["source_id"], data["sku"], int(data["on_hand"]), int(data["safety_stock"]), {}, env
        )
    if row is None or kind not in ("counted", "adjusted", "reserved", "released", "consumed"):
        return row  # history starts before this view's retention, or a type it does not know
    on_hand, safety_stock = row.on_hand, row.safety_stock
    held = row.reservations_by_order()
    if kind == "counted":
        on_hand, safety_stock = int(data["on_hand"]), int(data["safety_stock"])
    elif kind == "adjusted":
        on_hand += int(data["delta"])
    elif kind == "reserved":
        held[str(data["order_id"])] = int(data["quantity"])
    elif kind == "released":
        held.pop(str(data["order_id"]), None)
    else:  # consumed: the shipped units leave on-hand, the rest of the reservation is freed
        held.pop(str(data["order_id"]), None)
        on_hand -= int(data["quantity"])
    return _level(row.source_id, row.sku, on_hand, safety_stock, held, env)


def fold_source(current: _Source | None, env: EventEnvelope) -> _Source | None:
    """A source's display name, from the events that carry its definition."""
    if current is not None and env.sequence <= current.version:
        return current
    definition = env.data.get("definition")
    if not isinstance(definition, dict):
        return current  # paused, resumed: the name does not change
    source_id = (
        current.source_id
        if current is not None
        else env.data.get("source_id") or definition.get("source_id")
    )
    if not source_id:
        return None
    name = str(definition.get("name") or source_id)
    return _Source(env.subject, str(source_id), name, env.sequence)


def _stock_key(env: EventEnvelope) -> tuple[str, str]:
    return str(env.data["source_id"]), str(env.data["sku"])


def _fold_batch(
    envelopes: Sequence[EventEnvelope],
    rows: dict[tuple[str, str], StockLevel],
    sources: dict[str, _Source],
) -> tuple[dict[tuple[str, str], StockLevel], dict[str, _Source]]:
    """Fold a batch into the given rows and sources (changed in place); return what changed."""
    changed_rows: dict[tuple[str, str], StockLevel] = {}
    changed_sources: dict[str, _Source] = {}
    for env in envelopes:
        if env.type.startswith(STOCK_EVENTS):
            key = _stock_key(env)
            old = rows.get(key)
            new = fold(old, env)
            if new is not None and new is not old:
                rows[key] = changed_rows[key] = new
        elif env.type.startswith(SOURCE_EVENTS):
            old_source = sources.get(env.subject)
            new_source = fold_source(old_source, env)
            if new_source is not None and new_source is not old_source:
                sources[env.subject] = changed_sources[env.subject] = new_source
    return changed_rows, changed_sources


# -- queries shared by the backends ---------------------------------------------------------------


def encode_cursor(source_id: str, sku: str) -> str:
    raw = json.dumps([source_id, sku], separators=(",", ":")).encode()
    return base64.urlsafe_b64encode(raw).decode().rstrip("=")


def decode_cursor(cursor: str) -> tuple[str, str]:
    try:
        raw = base64.urlsafe_b64decode(cursor + "=" * (-len(cursor) % 4))
        value = json.loads(raw)
    except (binascii.Error, ValueError) as exc:
        raise ValueError(f"not a stock levels cursor: {cursor!r}") from exc
    if not (isinstance(value, list) and len(value) == 2 and all(isinstance(v, str) for v in value)):
        raise ValueError(f"not a stock levels cursor: {cursor!r}")
    return value[0], value[1]


def prefix_upper_bound(prefix: str) -> str | None:
    """The least string above every string starting with `prefix` (code point order), or None
    when there is none; `prefix <= s < bound` is then a range an index on the column serves."""
    chars = list(prefix)
    while chars:
        code = ord(chars[-1]) + 1
        if 0xD800 <= code <= 0xDFFF:
            code = 0xE000  # surrogates cannot be stored as text
        if code <= 0x10FFFF:
            chars[-1] = chr(code)
            return "".join(chars)
        chars.pop()
    return None


def _check_limit(limit: int) -> None:
    if limit < 1:
        raise ValueError(f"limit must be at least 1, got {limit}")


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
        self._sources: dict[str, _Source] = {}
        self._names: dict[str, str] = {}
        self._positions: dict[str, int] = {}

    def apply(self, envelopes: Sequence[EventEnvelope], positions: dict[str, int]) -> None:
        rows, sources = dict(self._rows), dict(self._sources)
        _fold_batch(envelopes, rows, sources)  # raises before anything is kept
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
        _check_limit(limit)
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


class SqlStockLevels:
    """SQLite or PostgreSQL; rows and positions are written in one transaction per batch."""

    name = FOLLOWER

    def __init__(self, db: SqlDatabase) -> None:
        self._db = db
        collate = ' COLLATE "C"' if db.dialect == "postgres" else ""
        with db.schema_transaction() as cur:
            cur.execute(_DDL.format(collate=collate))
            cur.execute(_SOURCES_DDL.format(collate=collate))
            for statement in _INDEXES:
                cur.execute(statement)
            create_positions_table(cur)

    def apply(self, envelopes: Sequence[EventEnvelope], positions: dict[str, int]) -> None:
        keys = sorted({_stock_key(e) for e in envelopes if e.type.startswith(STOCK_EVENTS)})
        subjects = sorted({e.subject for e in envelopes if e.type.startswith(SOURCE_EVENTS)})
        with self._db.transaction() as cur:
            rows = _load_rows(cur, keys)
            sources = _load_sources(cur, subjects)
            changed_rows, changed_sources = _fold_batch(envelopes, rows, sources)
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
        with self._db.transaction() as cur:
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
        _check_limit(limit)
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


def _load_rows(cur: Cursor, keys: Sequence[tuple[str, str]]) -> dict[tuple[str, str], StockLevel]:
    rows: dict[tuple[str, str], StockLevel] = {}
    for chunk in _chunks(keys):
        values = ", ".join("(?, ?)" for _ in chunk)
        cur.execute(
            f"SELECT {_SELECT} FROM {_FROM} WHERE (l.source_id, l.sku) IN (VALUES {values})",
            [part for key in chunk for part in key],
        )
        for record in cur.fetchall():
            row = _from_record(record)
            rows[(row.source_id, row.sku)] = row
    return rows


def _load_sources(cur: Cursor, subjects: Sequence[str]) -> dict[str, _Source]:
    sources: dict[str, _Source] = {}
    for chunk in _chunks(subjects):
        cur.execute(
            "SELECT subject, source_id, name, version FROM stock_level_sources "
            f"WHERE subject IN ({', '.join('?' for _ in chunk)})",
            chunk,
        )
        for subject, source_id, name, version in cur.fetchall():
            sources[subject] = _Source(subject, source_id, name, int(version))
    return sources


def _to_params(row: StockLevel) -> list[Any]:
    values = asdict(row)
    return [values[c] for c in _STORED]


def _from_record(record: Sequence[Any]) -> StockLevel:
    values = dict(zip([*_STORED, "source_name"], record, strict=True))
    for column in ("on_hand", "reserved", "safety_stock", "available", "version"):
        values[column] = int(values[column])
    return StockLevel(**values)
