"""Loading the synthetic world with COPY, in the columns and encoding the views write."""

from __future__ import annotations

import json
import time
from collections.abc import Callable, Sequence
from contextlib import ExitStack
from dataclasses import astuple
from datetime import UTC, datetime
from typing import Any

import psycopg

from benchmarks.ops_queries.world import Sample, World
from projections import exceptions as exception_module
from projections import order_status as order_module
from projections import stock_levels as stock_module
from projections.audit_trail import AuditEntry, SqlAuditTrail
from projections.exception_rules import SEVERITY_RANK, ExceptionRow
from projections.exceptions import SqlExceptionQueue
from projections.order_rows import OrderStatusRow
from projections.order_status import SqlOrderStatusView
from projections.sqldb import SqlDatabase
from projections.stock_levels import SqlStockLevels
from projections.stock_rows import StockLevel

_BENCH_TABLES = (
    "order_status",
    "order_status_skus",
    "order_status_sources",
    "exception_queue",
    "exception_skus",
    "audit_trail",
    "stock_levels",
    "stock_level_sources",
)
# Columns the views store beside their rows' fields, derived from the row as the views do.
_DERIVED: dict[str, Callable[[Any], Any]] = {
    "external_key": lambda row: row.external_id.lower(),
    "severity_rank": lambda row: SEVERITY_RANK[row.severity],
    "is_open": lambda row: row.is_open,
}

# Values the view keeps in a column as their JSON text.
_AS_JSON: dict[str, Callable[[Any], str]] = {"fulfillment": lambda row: row.fulfillment.to_json()}


class Encoder:
    """A row as COPY text in the table's column order, encoded as the view's own `reference`
    (its INSERT parameters) encodes it.

    The reference is a deep `asdict` per row, most of the load's time on a million rows, so
    rows are encoded by column name (JSON text for tuples, as the view writes its lists:
    `list_json`; `_DERIVED` for stored extras) and every 997th row, the first ten included,
    is checked against the reference: the encoding cannot drift from the view's. A column
    this cannot name makes it use the reference alone.
    """

    def __init__(
        self,
        reference: Callable[[Any], Sequence[Any]],
        columns: Sequence[str],
        fields: Sequence[str],
        tuples: Sequence[str] = (),
        list_json: Callable[[Sequence[Any]], str] = lambda values: json.dumps(list(values)),
    ) -> None:
        self.reference = reference
        self.list_json = list_json
        self.columns = list(columns)
        self.tuples = frozenset(tuples)
        self.fields = frozenset(fields)
        self.by_name = all(c in self.fields or c in _DERIVED for c in self.columns)

    def __call__(self, row: Any, n: int) -> Sequence[Any]:
        if not self.by_name:
            values = self.reference(row)
            if len(values) != len(self.columns):
                raise AssertionError(f"{len(values)} values for columns {self.columns}")
            return values
        values = [self._value(row, c) for c in self.columns]
        if n < 10 or n % 997 == 0:
            expected = list(self.reference(row))
            if values != expected:
                raise AssertionError(f"encoding differs from the view's: {values} != {expected}")
        return values

    def _value(self, row: Any, column: str) -> Any:
        if column in _AS_JSON:
            return _AS_JSON[column](row)
        if column in self.tuples:
            return self.list_json(getattr(row, column))
        if column in self.fields:
            return getattr(row, column)
        return _DERIVED[column](row)


def _columns(conn: psycopg.Connection[Any], table: str) -> list[str]:
    rows = conn.execute(
        "SELECT column_name FROM information_schema.columns "
        "WHERE table_schema = current_schema() AND table_name = %s ORDER BY ordinal_position",
        (table,),
    ).fetchall()
    return [str(r[0]) for r in rows]


def _copy(table: str, columns: Sequence[str]) -> str:
    return f"COPY {table} ({', '.join(columns)}) FROM STDIN"


def _child_values(columns: Sequence[str], key_column: str, key: str, row: Any) -> list[Any]:
    """A child row (an order's SKU or source; an exception's SKU): its key, then the parent's
    own columns of the same name (order_id, placed_at, ...)."""
    return [key if c == key_column else getattr(row, c) for c in columns]


def create_views(url: str) -> None:
    """The tables and indexes, by the views' own constructors."""
    db = SqlDatabase(url)
    try:
        SqlOrderStatusView(db)
        SqlExceptionQueue(db)
        SqlAuditTrail(db)
        SqlStockLevels(db)
    finally:
        db.close()


def _secondary_indexes(conn: psycopg.Connection[Any]) -> dict[str, str]:
    rows = conn.execute(
        "SELECT i.indexname, i.indexdef FROM pg_indexes i "
        "WHERE i.schemaname = current_schema() AND i.tablename = ANY(%s) "
        "AND NOT EXISTS (SELECT 1 FROM pg_constraint c WHERE c.conname = i.indexname)",
        (list(_BENCH_TABLES),),
    ).fetchall()
    return {str(name): str(definition) for name, definition in rows}


def load(
    url: str,
    orders: int,
    audit_orders: int,
    seed: int = 7,
    now: datetime | None = None,
    log: Callable[[str], None] = print,
) -> tuple[Sample, dict[str, float]]:
    """Create the views' tables in `url` (which must hold none of their rows) and fill them."""
    now = now or datetime.now(UTC).replace(microsecond=0)
    timings: dict[str, float] = {}
    started = time.perf_counter()
    create_views(url)
    world = World(orders, seed, now)
    sample = Sample(now=now, skus=world.skus, sources=world.sources)
    with psycopg.connect(url, autocommit=True) as conn:
        for table in _BENCH_TABLES:
            found = conn.execute(f"SELECT EXISTS (SELECT 1 FROM {table})").fetchone()
            if found and found[0]:
                raise SystemExit(f"{table} already has rows: give an empty database")
        indexes = _secondary_indexes(conn)
        for name in indexes:
            conn.execute(f"DROP INDEX {name}")  # rebuilt by the constructors once loaded
        conn.execute("SET maintenance_work_mem = '256MB'")
        mark = time.perf_counter()
        _load_orders(url, world, sample, orders, audit_orders)
        timings["orders, children, exceptions, audit (COPY)"] = time.perf_counter() - mark
        mark = time.perf_counter()
        _load_stock(conn, world)
        timings["stock (COPY)"] = time.perf_counter() - mark
        log(f"  rows copied in {time.perf_counter() - started:.1f} s; building indexes")
        mark = time.perf_counter()
        index_url = _with_options(url, "-c maintenance_work_mem=256MB")
        create_views(index_url)
        rebuilt = _secondary_indexes(conn)
        if rebuilt != indexes:
            raise RuntimeError(f"indexes differ after the rebuild: {indexes} != {rebuilt}")
        timings["secondary indexes (the views' constructors)"] = time.perf_counter() - mark
        mark = time.perf_counter()
        for table in _BENCH_TABLES:
            conn.execute(f"VACUUM (ANALYZE) {table}")
        timings["VACUUM ANALYZE"] = time.perf_counter() - mark
        for table in _BENCH_TABLES:
            found = conn.execute(f"SELECT count(*) FROM {table}").fetchone()
            sample.counts[table] = int(found[0]) if found else 0
    timings["total"] = time.perf_counter() - started
    return sample, timings


def _with_options(url: str, options: str) -> str:
    joiner = "&" if "?" in url else "?"
    return f"{url}{joiner}options={options.replace(' ', '%20').replace('=', '%3D')}"


def _load_orders(url: str, world: World, sample: Sample, orders: int, audit_orders: int) -> None:
    """Orders, their children and audit lines stream at once, one COPY per connection, so the
    server parses them in parallel while this process generates."""
    # Audited orders are spread over the whole year, one in every `stride`.
    stride = max(1, orders // audit_orders) if audit_orders else 0
    audited = 0
    exc_rows: list[ExceptionRow] = world.submission_exceptions(max(2, orders // 2_000))
    with psycopg.connect(url) as conn:
        columns = {table: _columns(conn, table) for table in _BENCH_TABLES}
    order_fields = list(OrderStatusRow.__dataclass_fields__)
    encode_order = Encoder(
        order_module._to_params,
        columns["order_status"],
        order_fields,
        order_module._TUPLES,
        order_module.list_json,
    )
    encode_audit = Encoder(astuple, columns["audit_trail"], list(AuditEntry.__dataclass_fields__))
    sku_columns, source_columns = columns["order_status_skus"], columns["order_status_sources"]
    with ExitStack() as stack:
        copies = {
            table: stack.enter_context(
                stack.enter_context(psycopg.connect(url))
                .cursor()
                .copy(_copy(table, columns[table]))
            )
            for table in (
                "order_status",
                "order_status_skus",
                "order_status_sources",
                "audit_trail",
            )
        }
        write_order = copies["order_status"].write_row
        write_sku = copies["order_status_skus"].write_row
        write_source = copies["order_status_sources"].write_row
        write_audit = copies["audit_trail"].write_row
        entries = 0
        for i in range(orders):
            row = world.order(i)
            write_order(encode_order(row, i))
            for sku in row.skus:
                write_sku(_child_values(sku_columns, "sku", sku, row))
            for source in row.sources:
                write_source(_child_values(source_columns, "source_id", source, row))
            exc_rows.extend(world.exceptions(row))
            if stride and i % stride == 0 and audited < audit_orders:
                for entry in world.audit(row):
                    write_audit(encode_audit(entry, entries))
                    entries += 1
                audited += 1
                if len(sample.audited) < 10_000:
                    sample.audited.append(row.order_id)
            if i % 50 == 0:
                extra = (row.skus, row.sources)
                sample.orders.append(
                    (row.order_id, row.channel, row.customer_id, row.external_id, *extra)
                )
    encode_exception = Encoder(
        exception_module._params,
        columns["exception_queue"],
        list(ExceptionRow.__dataclass_fields__),
        ("skus",),
    )
    with psycopg.connect(url) as conn, conn.cursor() as cur:
        with cur.copy(_copy("exception_queue", columns["exception_queue"])) as copy:
            for n, exc in enumerate(exc_rows):
                copy.write_row(encode_exception(exc, n))
        with cur.copy(_copy("exception_skus", columns["exception_skus"])) as copy:
            for exc in exc_rows:
                for sku in exc.skus:
                    copy.write_row(_child_values(columns["exception_skus"], "sku", sku, exc))
    open_rows = [e for e in exc_rows if e.is_open]
    sample.exception_customers = [e.customer_id for e in open_rows if e.customer_id][:5_000]
    sample.exception_skus = [s for e in open_rows for s in e.skus][:5_000]
    sample.exception_sources = sorted({e.source_id for e in exc_rows if e.source_id})
    sample.exception_channels = [e.channel for e in open_rows][:5_000]


def _load_stock(conn: psycopg.Connection[Any], world: World) -> None:
    columns = _columns(conn, "stock_levels")
    encode = Encoder(stock_module._to_params, columns, list(StockLevel.__dataclass_fields__))
    with conn.cursor() as cur:
        with cur.copy(_copy("stock_levels", columns)) as copy:
            n = 0
            for source in world.sources:
                for sku in world.skus:
                    copy.write_row(encode(world.stock(source, sku), n))
                    n += 1
        copy_sources = "COPY stock_level_sources (source_id, subject, name, version) FROM STDIN"
        with cur.copy(copy_sources) as c:
            for n, source in enumerate(world.sources):
                name = source.replace("-", " ").title()
                c.write_row((source, f"fulfillment-source-{n}", name, 1))
