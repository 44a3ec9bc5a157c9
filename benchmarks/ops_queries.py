"""The operations console's queries on a million orders in PostgreSQL (goal: p95 < 50 ms).

    python -m benchmarks.ops_queries --orders 1000000 [--database-url URL] [--repeat 50]
        [--audit-orders 200000] [--json PATH] [--keep] [--seed 7]

1. Makes a scratch database on the benchmark server (``ORDERHUB_BENCH_DATABASE_URL``, else
   ``infra/postgres.sh``), or uses the empty database ``--database-url`` names (never dropped),
   and creates the tables through the views' own classes, so the real DDL and indexes are used.
2. Loads synthetic orders with COPY, in the columns and encoding the views write
   (``projections.order_status._to_params``, ``projections.exceptions._params``, ...): ~6
   channels of skewed volume, ~100k customers, 5,000 SKUs of Zipf-like popularity (1-4 an
   order), 50 sources, statuses by the order's age (a few per cent held, backordered or
   unroutable), placed over the last 365 days; the child rows; exceptions for ~5 % of the
   orders (most resolved); audit-trail lines for ``--audit-orders`` orders; 50 x 5,000 stock
   rows. Secondary indexes are dropped for the load and rebuilt by the views' constructors,
   then ``VACUUM ANALYZE`` (what autovacuum would have done on a live table).
3. Times each console query through the real view methods, ``--repeat`` times with parameters
   drawn from the data (round robin over the queries, after one warm-up round), and prints
   p50 / p95 / max in ms and the rows returned; ``--json PATH`` writes them as JSON.
4. For every query with p95 >= 50 ms, prints ``EXPLAIN (ANALYZE, BUFFERS)`` of its slowest call.
5. Drops the scratch database unless ``--keep``.
"""

from __future__ import annotations

import argparse
import json
import random
import statistics
import sys
import time
import uuid
from collections.abc import Callable, Iterator, Sequence
from contextlib import ExitStack, contextmanager
from dataclasses import astuple, dataclass, field, replace
from datetime import UTC, datetime, timedelta
from itertools import accumulate
from pathlib import Path
from typing import Any

import psycopg

if __package__ in (None, ""):
    sys.path.insert(0, str(Path(__file__).resolve().parents[1]))

from benchmarks.services import drop_database, fresh_database, postgres_server
from projections import exceptions as exception_module
from projections import order_status as order_module
from projections import stock_levels as stock_module
from projections.audit_trail import AuditEntry, SqlAuditTrail
from projections.exception_rules import KIND_SEVERITY, SEVERITY_RANK, ExceptionRow
from projections.exceptions import ExceptionQuery, SqlExceptionQueue
from projections.kpis import day_range, kpis
from projections.order_query import OrderQuery
from projections.order_rows import SHIPPED_STATUSES, OrderStatusRow, utc_text
from projections.order_status import SqlOrderStatusView
from projections.sqldb import Cursor, SqlDatabase
from projections.stock_levels import SqlStockLevels
from projections.stock_rows import StockLevel

GOAL_MS = 50.0

# -- the synthetic world -----------------------------------------------------------------------

# (channel id, external id prefix, share of orders)
CHANNELS = [
    ("web", "WEB", 0.42),
    ("app", "APP", 0.25),
    ("marketplace", "MKT", 0.17),
    ("stores", "STO", 0.09),
    ("b2b", "B2B", 0.05),
    ("phone", "PHO", 0.02),
]
COUNTRIES = [("FR", "EUR", 40), ("DE", "EUR", 20), ("GB", "GBP", 12), ("ES", "EUR", 9)]
COUNTRIES += [("IT", "EUR", 8), ("BE", "EUR", 5), ("NL", "EUR", 4), ("US", "USD", 2)]
CITIES = ["paris", "lyon", "lille", "bordeaux", "koeln", "leeds", "madrid", "milano"]
STUCK = ("held", "backordered", "unroutable")
# Statuses by the order's age: (statuses, weights). Old orders are finished, a few stay stuck.
FRESH = (  # under 2 days
    (
        *("placed", "accepted", "routed", "in_fulfillment", "partially_shipped", "shipped"),
        *("held", "backordered", "unroutable", "rerouting", "cancelling", "cancelled", "rejected"),
    ),
    (1, 4, 10, 42, 2, 22, 4, 6, 2, 1, 0.5, 3, 2.5),
)
RECENT = (  # 2 to 14 days
    (
        *("in_fulfillment", "partially_shipped", "shipped", "delivered", "completed", "held"),
        *("backordered", "unroutable", "cancelled", "rejected", "returned", "partially_returned"),
    ),
    (4, 1.5, 30, 40, 12, 1.2, 3, 0.8, 3, 1.5, 1.5, 1),
)
OLD = (  # over 14 days
    (
        *("delivered", "completed", "shipped", "returned", "partially_returned", "cancelled"),
        *("rejected", "held", "backordered", "unroutable", "in_fulfillment"),
    ),
    (44, 42, 1.5, 3, 2, 4, 1.5, 0.4, 0.6, 0.3, 0.2),
)
HOLD_RULES = ["fraud_check: score 0.91", "credit_limit: over limit", "address: unverified"]
EXCEPTION_KINDS_RESOLVED = (
    (
        *("on_hold", "backordered", "delivery_failed", "jeopardy", "late", "unroutable"),
        "no_source_left",
    ),
    (25, 25, 15, 20, 8, 5, 2),
)
ASSIGNEES = ["", "", "", "user:alice", "user:bob", "user:chen", "user:dana"]


@dataclass
class Sample:
    """What the queries draw their parameters from: values that exist in the loaded data."""

    now: datetime
    orders: list[tuple[str, str, str, str, tuple[str, ...], tuple[str, ...]]] = field(
        default_factory=list
    )  # (order_id, channel, customer, external_id, skus, sources), every 50th order
    audited: list[str] = field(default_factory=list)
    exception_customers: list[str] = field(default_factory=list)
    exception_skus: list[str] = field(default_factory=list)
    exception_sources: list[str] = field(default_factory=list)
    exception_channels: list[str] = field(default_factory=list)
    skus: list[str] = field(default_factory=list)
    sources: list[str] = field(default_factory=list)
    counts: dict[str, int] = field(default_factory=dict)


def _uuid(rng: random.Random) -> str:
    return str(uuid.UUID(int=rng.getrandbits(128), version=4))


def _zipf(n: int, s: float) -> list[float]:
    return list(accumulate(1 / (k + 1) ** s for k in range(n)))


class World:
    def __init__(self, orders: int, seed: int, now: datetime) -> None:
        self.rng = random.Random(seed)
        self.now = now
        self.n_orders = orders
        self.customers = max(100, min(100_000, orders // 10))
        self.skus = [f"SKU-{i:05d}" for i in range(5_000)]
        rng = random.Random(seed + 1)
        rng.shuffle(self.skus)  # popularity is not alphabetical
        self.sku_weights = _zipf(len(self.skus), 1.0)
        dcs = [f"dc-{city}" for city in CITIES]
        stores = [f"store-{i:03d}" for i in range(1, 43)]
        self.sources = dcs + stores
        self.source_weights = list(accumulate([60 / len(dcs)] * len(dcs) + [1.0] * len(stores)))
        self.channel_weights = list(accumulate(share for _, _, share in CHANNELS))
        self.country_weights = list(accumulate(w for _, _, w in COUNTRIES))
        self.external_seq = {c: 0 for c, _, _ in CHANNELS}

    def _status(self, age_days: float) -> str:
        statuses, weights = FRESH if age_days < 2 else RECENT if age_days < 14 else OLD
        return self.rng.choices(statuses, weights)[0]

    def order(self, i: int) -> OrderStatusRow:
        rng = self.rng
        # Volume grows over the year: more orders recently.
        age = 365 * rng.random() ** 1.3
        placed = self.now - timedelta(days=age)
        placed = placed.replace(microsecond=0)
        channel, prefix, _ = CHANNELS[
            min(len(CHANNELS) - 1, _pick(self.channel_weights, rng.random()))
        ]
        self.external_seq[channel] += 1
        customer = f"cus-{int(self.customers * rng.random() ** 2.2):06d}"
        country, currency, _ = COUNTRIES[_pick(self.country_weights, rng.random())]
        n_lines = rng.choices((1, 2, 3, 4), (55, 25, 12, 8))[0]
        skus = tuple(sorted(set(rng.choices(self.skus, cum_weights=self.sku_weights, k=n_lines))))
        quantities = [rng.choice((1, 1, 1, 2, 2, 3)) for _ in range(n_lines)]
        units = sum(quantities)
        total = sum(rng.randrange(499, 25_000) * q for q in quantities)
        status = self._status(age)
        delivery = rng.choices(("standard", "express", "pickup"), (75, 20, 5))[0]
        promise = placed + timedelta(days={"standard": 4, "express": 1, "pickup": 2}[delivery])
        routed = status not in ("placed", "accepted", "held", "rejected", "unroutable")
        sources: tuple[str, ...] = ()
        shipments: dict[str, str] = {}
        if routed and status != "backordered":
            n_src = 2 if rng.random() < 0.08 else 1
            sources = tuple(
                sorted(set(rng.choices(self.sources, cum_weights=self.source_weights, k=n_src)))
            )
            state = {
                "shipped": "shipped",
                "delivered": "delivered",
                "completed": "delivered",
                "returned": "delivered",
                "partially_returned": "delivered",
                "cancelled": "cancelled",
                "cancelling": "accepted",
            }.get(status, "requested")
            shipments = {f"shp-{i:08d}-{k}": state for k in range(len(sources))}
        elif status in ("backordered", "unroutable") and rng.random() < 0.3:
            # A source refused the order's shipment: waiting for stock, or nowhere left to go.
            sources = (self.sources[_pick(self.source_weights, rng.random())],)
            shipments = {f"shp-{i:08d}-0": "rejected"}
        shipped = status in SHIPPED_STATUSES or status == "partially_shipped"
        shipped_units = units if shipped else 0
        facts: dict[str, Any] = {
            "invoiced": sorted(shipments) if status == "completed" else [],
            "shipments": shipments,
            "waiting": status == "backordered",
        }
        if shipped_units:
            facts["shipped_units"] = shipped_units
        reasons: tuple[str, ...] = ()
        if status == "held":
            reasons = (rng.choice(HOLD_RULES),)
        elif status == "backordered":
            reasons = (f"line-1: waiting for {skus[0]}",)
        elif status == "unroutable":
            reasons = (f"no source can ship {skus[0]} to {country}",)
        elif status == "rejected":
            reasons = ("ship_to.postal_code: not a valid postal code",)
        hours_to_ship = rng.lognormvariate(3.0, 0.6)
        updated = placed + timedelta(hours=min(age * 24, hours_to_ship * (3 if shipped else 1)))
        return OrderStatusRow(
            order_id=_uuid(rng),
            channel=channel,
            external_id=f"{prefix}-{self.external_seq[channel]:08d}",
            status=status,
            customer_id=customer,
            demand_class=rng.choices(("standard", "priority", "vip"), (85, 12, 3))[0],
            country=country,
            currency=currency,
            total=f"{total // 100}.{total % 100:02d}",
            line_count=n_lines,
            placed_at=utc_text(placed),  # as the view spells it
            received_at=(placed + timedelta(seconds=rng.randrange(1, 90))).isoformat(),
            updated_at=updated.isoformat(),
            version=3 + len(shipments) * 3 + (1 if status == "completed" else 0),
            digest=f"{rng.getrandbits(256):064x}",
            reasons=reasons,
            fulfillment=json.dumps(facts, sort_keys=True),
            delivery_method=delivery,
            promised_by=utc_text(promise),
            skus=skus,
            sources=sources,
            units_ordered=units,
            units_shipped=shipped_units,
            shipped_at=utc_text(placed + timedelta(hours=hours_to_ship)) if shipped else "",
            split=len(sources) > 1,
            distance_km=round(rng.uniform(3, 900), 3) if sources else None,
            backordered=status == "backordered" or rng.random() < 0.02,
        )

    def exceptions(self, row: OrderStatusRow) -> list[ExceptionRow]:
        """The order's exceptions: an open one for a stuck order, resolved ones for ~3.5 %."""
        rng = self.rng
        placed = datetime.fromisoformat(row.placed_at)
        found: list[ExceptionRow] = []
        kinds: list[tuple[str, bool]] = []
        if row.status in STUCK:
            kind = {"held": "on_hold", "backordered": "backordered"}.get(row.status, "unroutable")
            if kind == "unroutable" and row.sources:
                kind = "no_source_left"
            kinds.append((kind, True))
        elif row.status == "shipped" and rng.random() < 0.03:
            kinds.append(("delivery_failed", True))
        elif row.status in ("in_fulfillment", "routed") and rng.random() < 0.08:
            kinds.append((rng.choice(("jeopardy", "late")), rng.random() < 0.7))
        if rng.random() < 0.035:
            kinds.append((rng.choices(*EXCEPTION_KINDS_RESOLVED)[0], False))
        for n, (kind, is_open) in enumerate(kinds):
            opened = placed + timedelta(minutes=rng.randrange(1, 60 * 48))
            severity = KIND_SEVERITY[kind]
            if kind == "jeopardy":
                severity = rng.choice(("low", "medium", "high"))
            source = ""
            if kind in ("delivery_failed", "no_source_left") and row.sources:
                source = row.sources[0]
            elif kind in ("delivery_failed", "no_source_left"):
                source = self.sources[_pick(self.source_weights, rng.random())]
            resolved = "" if is_open else (opened + timedelta(hours=rng.randrange(1, 72)))
            found.append(
                ExceptionRow(
                    exception_id=f"{kind}:{row.order_id}:{row.version + n}",
                    kind=kind,
                    severity=severity,
                    order_id=row.order_id,
                    channel=row.channel,
                    customer_id=row.customer_id,
                    skus=row.skus[:1] if kind == "backordered" else row.skus,
                    source_id=source,
                    reason=row.reasons[0] if row.reasons else f"{kind.replace('_', ' ')}",
                    opened_at=opened.isoformat(),
                    resolved_at=resolved.isoformat() if isinstance(resolved, datetime) else "",
                    resolved_by="" if is_open else rng.choice(("system:hub", "user:alice")),
                    resolution="" if is_open else "resolved",
                    assignee=rng.choice(ASSIGNEES) if is_open else "",
                )
            )
        return found

    def submission_exceptions(self, count: int) -> list[ExceptionRow]:
        """Rejected and parked submissions: no order, a channel."""
        rng = self.rng
        rows = []
        for _ in range(count):
            kind = "parked" if rng.random() < 0.2 else "rejected_submission"
            opened = self.now - timedelta(days=365 * rng.random() ** 1.3)
            is_open = rng.random() < 0.2
            channel = CHANNELS[min(len(CHANNELS) - 1, _pick(self.channel_weights, rng.random()))]
            rows.append(
                ExceptionRow(
                    exception_id=f"{kind}:{_uuid(rng)}",
                    kind=kind,
                    severity=KIND_SEVERITY[kind],
                    order_id="",
                    channel=channel[0],
                    customer_id="",
                    skus=(),
                    source_id="",
                    reason="invalid: lines.0.quantity must be positive",
                    opened_at=opened.isoformat(),
                    resolved_at="" if is_open else (opened + timedelta(hours=2)).isoformat(),
                    resolved_by="" if is_open else "user:bob",
                    resolution="" if is_open else "resubmitted",
                )
            )
        return rows

    def audit(self, row: OrderStatusRow) -> list[AuditEntry]:
        rng = self.rng
        placed = datetime.fromisoformat(row.placed_at)
        channel_actor = f"channel:{row.channel}"
        steps: list[tuple[str, str, str, dict[str, Any]]] = [
            (
                "orderhub.order.placed",
                channel_actor,
                f"Placed by channel {row.channel} as {row.external_id}: "
                f"{row.line_count} lines, {row.total} {row.currency}, "
                f"{row.delivery_method} delivery to {row.country}",
                {
                    "submission": {
                        "channel": row.channel,
                        "external_id": row.external_id,
                        "currency": row.currency,
                        "lines": [
                            {"line_id": f"line-{n}", "sku": sku, "quantity": 1}
                            for n, sku in enumerate(row.skus, 1)
                        ],
                    },
                    "received_at": row.received_at,
                    "digest": row.digest,
                },
            ),
            ("orderhub.order.accepted", "system:hub", "Accepted: passed the intake checks", {}),
        ]
        if row.status == "held":
            steps.append(("orderhub.order.held", "system:hub", f"Held: {row.reasons[0]}", {}))
        for source in row.sources:
            sid = f"shp-{rng.getrandbits(32):08x}"
            steps.append(
                (
                    "orderhub.order.routed",
                    "system:orchestrator",
                    f"Routed with policy default v3: {source} ships {row.units_ordered} units",
                    {"policy_id": "default", "policy_version": 3, "source_id": source},
                )
            )
            steps.append(
                (
                    "orderhub.order.fulfillment_requested",
                    "system:orchestrator",
                    f"Shipment {sid} requested from {source}",
                    {"shipment_id": sid, "source_id": source},
                )
            )
            for state in ("accepted", "picked", "shipped", "delivered"):
                if state in ("shipped", "delivered") and row.status not in SHIPPED_STATUSES:
                    break
                steps.append(
                    (
                        "orderhub.order.shipment_progressed",
                        f"source:{source}",
                        f"Shipment {sid} {state} at {source}",
                        {"shipment_id": sid, "source_id": source, "state": state},
                    )
                )
        entries = []
        moment = placed
        for sequence, (type_, actor, summary, data) in enumerate(steps, 1):
            moment += timedelta(minutes=rng.randrange(1, 600))
            entries.append(
                AuditEntry(
                    order_id=row.order_id,
                    event_id=_uuid(rng),
                    sequence=sequence,
                    time=moment.isoformat(timespec="microseconds"),
                    actor=actor,
                    actor_kind=actor.partition(":")[0],
                    type=type_,
                    summary=summary,
                    data=json.dumps(data, sort_keys=True),
                )
            )
        return entries

    def stock(self, source: str, sku: str) -> StockLevel:
        rng = self.rng
        on_hand = 0 if rng.random() < 0.06 else rng.randrange(1, 400)
        safety = rng.choice((0, 0, 2, 5))
        held = {}
        if on_hand and rng.random() < 0.1:
            held = {_uuid(rng): rng.randrange(1, 3) for _ in range(rng.randrange(1, 4))}
        reserved = sum(held.values())
        moment = self.now - timedelta(minutes=rng.randrange(1, 60 * 24 * 30))
        return StockLevel(
            source_id=source,
            sku=sku,
            on_hand=on_hand,
            reserved=reserved,
            safety_stock=safety,
            available=max(0, on_hand - reserved - safety),
            updated_at=moment.strftime("%Y-%m-%dT%H:%M:%S.%fZ"),
            version=rng.randrange(1, 60),
            reservations=json.dumps(held, sort_keys=True, separators=(",", ":")),
        )


def _pick(cumulative: Sequence[float], u: float) -> int:
    target = u * cumulative[-1]
    low, high = 0, len(cumulative) - 1
    while low < high:
        mid = (low + high) // 2
        if cumulative[mid] < target:
            low = mid + 1
        else:
            high = mid
    return low


# -- loading -----------------------------------------------------------------------------------

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


class Encoder:
    """A row as COPY text in the table's column order, encoded as the view's own `reference`
    (its INSERT parameters) encodes it.

    The reference is a deep `asdict` per row, most of the load's time on a million rows, so
    rows are encoded by column name (JSON text for tuples, `_DERIVED` for stored extras) and
    every 997th row, the first ten included, is checked against the reference: the encoding
    cannot drift from the view's. A column this cannot name makes it use the reference alone.
    """

    def __init__(
        self,
        reference: Callable[[Any], Sequence[Any]],
        columns: Sequence[str],
        fields: Sequence[str],
        tuples: Sequence[str] = (),
    ) -> None:
        self.reference = reference
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
        if column in self.tuples:
            return json.dumps(list(getattr(row, column)))
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
        order_module._to_params, columns["order_status"], order_fields, order_module._TUPLES
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


# -- the queries -------------------------------------------------------------------------------


class RecordingDatabase(SqlDatabase):
    """The real database wrapper, remembering the statements a call ran (to EXPLAIN them)."""

    def __init__(self, url: str) -> None:
        super().__init__(url)
        self.statements: list[tuple[str, tuple[Any, ...]]] = []

    @contextmanager
    def transaction(self) -> Iterator[Cursor]:
        with super().transaction() as cur:
            yield _Recorder(cur, self.statements)


class _Recorder:
    def __init__(self, cursor: Cursor, statements: list[tuple[str, tuple[Any, ...]]]) -> None:
        self._cursor = cursor
        self._statements = statements

    def execute(self, sql: str, params: Sequence[Any] = ()) -> Any:
        self._statements.append((sql, tuple(params)))
        return self._cursor.execute(sql, params)

    def executemany(self, sql: str, params: Sequence[Sequence[Any]]) -> Any:
        return self._cursor.executemany(sql, params)

    def fetchall(self) -> list[Any]:
        return self._cursor.fetchall()

    def fetchone(self) -> Any:
        return self._cursor.fetchone()


@dataclass
class Views:
    db: RecordingDatabase
    orders: SqlOrderStatusView
    exceptions: SqlExceptionQueue
    audit: SqlAuditTrail
    stock: SqlStockLevels


# A query: given a random generator, prepares one call (untimed: e.g. fetching page 1 for a
# cursor) and returns the call to time, which returns the number of rows it got.
Call = Callable[[], int]
Prepare = Callable[[random.Random], Call]


@dataclass(frozen=True)
class Spec:
    name: str
    prepare: Prepare
    must_return_rows: bool = False  # on any loaded data set, this query finds rows


def _order_search(views: Views, make: Callable[[random.Random], OrderQuery]) -> Prepare:
    def prepare(rng: random.Random) -> Call:
        query = make(rng)
        return lambda: len(views.orders.search(query).rows)

    return prepare


def _order_page_two(views: Views, make: Callable[[random.Random], OrderQuery]) -> Prepare:
    def prepare(rng: random.Random) -> Call:
        query = make(rng)
        first = views.orders.search(query)
        if first.next_cursor is None:
            return lambda: 0
        second = OrderQuery(**{**query.__dict__, "after": first.next_cursor})
        return lambda: len(views.orders.search(second).rows)

    return prepare


def _queue(views: Views, make: Callable[[random.Random], ExceptionQuery]) -> Prepare:
    def prepare(rng: random.Random) -> Call:
        query = make(rng)
        return lambda: len(views.exceptions.queue(query).rows)

    return prepare


def specs(views: Views, sample: Sample) -> list[Spec]:
    s = sample
    today = s.now.date()

    def order(rng: random.Random) -> tuple[str, str, str, str, tuple[str, ...], tuple[str, ...]]:
        return rng.choice(s.orders)

    def routed(rng: random.Random) -> tuple[str, ...]:
        while True:
            sources = order(rng)[5]
            if sources:
                return sources

    def in_week(rng: random.Random) -> OrderQuery:
        start = today - timedelta(days=rng.randrange(7, 365))
        return OrderQuery(
            placed_from=start.isoformat(), placed_to=(start + timedelta(days=7)).isoformat()
        )

    def month(rng: random.Random) -> str:
        return (today - timedelta(days=30)).isoformat()

    def prefix(rng: random.Random) -> str:
        external = order(rng)[3]
        cut = external[: len(external) - rng.randrange(1, 5)]  # 10 to 10,000 candidates
        return cut.lower() if rng.random() < 0.5 else cut

    def stuck(rng: random.Random) -> tuple[str, ...]:
        return rng.choice((("held",), ("backordered",), ("unroutable",), STUCK))

    common = ("shipped", "delivered", "in_fulfillment", "cancelled", "returned")
    pick = random.Random.choice
    o = views.orders
    q = views.exceptions

    def trail(rng: random.Random) -> Call:
        order_id = rng.choice(s.audited)
        return lambda: len(views.audit.trail(order_id))

    def stock(**fixed: Any) -> Prepare:
        def prepare(rng: random.Random) -> Call:
            kwargs = {k: (v(rng) if callable(v) else v) for k, v in fixed.items()}
            return lambda: len(views.stock.search(**kwargs).rows)

        return prepare

    def stock_page_two(rng: random.Random) -> Call:
        source = rng.choice(s.sources)
        first = views.stock.search(source_id=source)
        return lambda: len(views.stock.search(source_id=source, after=first.next_cursor).rows)

    def counts(make: Callable[[random.Random], ExceptionQuery]) -> Prepare:
        def prepare(rng: random.Random) -> Call:
            query = make(rng)
            return lambda: sum(q.counts(query).values())

        return prepare

    def summary(by: Any, state: Any) -> Prepare:
        def prepare(rng: random.Random) -> Call:
            return lambda: len(q.summary(by, ExceptionQuery(state=state)))

        return prepare

    def kpi_days(channel: bool) -> Prepare:
        def prepare(rng: random.Random) -> Call:
            end = today - timedelta(days=rng.randrange(0, 60))
            low, high = day_range(end - timedelta(days=13), end)
            chosen = order(rng)[1] if channel else None
            return lambda: len(kpis(o.placed_between(low, high, chosen)))

        return prepare

    def queue_page_two(rng: random.Random) -> Call:
        first = q.queue(ExceptionQuery())
        if first.next_cursor is None:
            return lambda: 0
        second = ExceptionQuery(after=first.next_cursor)
        return lambda: len(q.queue(second).rows)

    def ex_sku(rng: random.Random) -> str:
        return rng.choice(s.exception_skus)

    return [
        # /v1/ops/orders
        Spec("orders: latest", _order_search(views, lambda r: OrderQuery()), True),
        Spec("orders: latest, page 2", _order_page_two(views, lambda r: OrderQuery()), True),
        Spec(
            "orders: status held/backordered/unroutable",
            _order_search(views, lambda r: OrderQuery(status=stuck(r))),
        ),
        Spec(
            "orders: stuck status, oldest first",
            _order_search(views, lambda r: OrderQuery(status=stuck(r), descending=False)),
        ),
        Spec(
            "orders: common status",
            _order_search(views, lambda r: OrderQuery(status=(pick(r, common),))),
        ),
        Spec(
            "orders: channel", _order_search(views, lambda r: OrderQuery(channel=order(r)[1])), True
        ),
        Spec(
            "orders: customer",
            _order_search(views, lambda r: OrderQuery(customer_id=order(r)[2])),
            True,
        ),
        Spec(
            "orders: sku",
            _order_search(views, lambda r: OrderQuery(sku=pick(r, order(r)[4]))),
            True,
        ),
        Spec(
            "orders: sku, page 2",
            _order_page_two(views, lambda r: OrderQuery(sku=pick(r, order(r)[4]))),
        ),
        Spec(
            "orders: source",
            _order_search(views, lambda r: OrderQuery(source_id=pick(r, routed(r)))),
            True,
        ),
        Spec(
            "orders: placed in one week",
            _order_search(views, in_week),
            True,
        ),
        Spec(
            "orders: external id prefix",
            _order_search(views, lambda r: OrderQuery(text=prefix(r))),
            True,
        ),
        Spec(
            "orders: channel + status + last 30 days",
            _order_search(
                views,
                lambda r: OrderQuery(channel=order(r)[1], status=stuck(r), placed_from=month(r)),
            ),
        ),
        Spec(
            "orders: customer + common status",
            _order_search(
                views, lambda r: OrderQuery(customer_id=order(r)[2], status=(pick(r, common),))
            ),
        ),
        Spec(
            "orders: sku + stuck status",
            _order_search(views, lambda r: OrderQuery(sku=pick(r, order(r)[4]), status=stuck(r))),
        ),
        Spec(
            "orders: source + stuck status",
            _order_search(
                views, lambda r: OrderQuery(source_id=pick(r, routed(r)), status=stuck(r))
            ),
        ),
        Spec(
            "orders: sku + source",
            _order_search(
                views, lambda r: OrderQuery(sku=order(r)[4][0], source_id=pick(r, routed(r)))
            ),
        ),
        Spec(
            "orders: sku + one week",
            _order_search(views, lambda r: replace(in_week(r), sku=pick(r, order(r)[4]))),
        ),
        Spec(
            "orders: by updated_at",
            _order_search(views, lambda r: OrderQuery(sort="updated_at")),
            True,
        ),
        Spec(
            "orders: stuck status by updated_at",
            _order_search(views, lambda r: OrderQuery(status=stuck(r), sort="updated_at")),
        ),
        Spec(
            "orders: channel by updated_at",
            _order_search(views, lambda r: OrderQuery(channel=order(r)[1], sort="updated_at")),
            True,
        ),
        Spec(
            "orders: sku by updated_at",
            _order_search(views, lambda r: OrderQuery(sku=pick(r, order(r)[4]), sort="updated_at")),
            True,
        ),
        # /v1/ops/exceptions (the queue and its counts per kind)
        Spec("exceptions: open", _queue(views, lambda r: ExceptionQuery()), True),
        Spec(
            "exceptions: open, page 2",
            queue_page_two,
        ),
        Spec(
            "exceptions: open, one kind",
            _queue(
                views,
                lambda r: ExceptionQuery(
                    kinds=(pick(r, ("on_hold", "backordered", "unroutable", "jeopardy")),)
                ),
            ),
            True,
        ),
        Spec("exceptions: open, high", _queue(views, lambda r: ExceptionQuery(severity="high"))),
        Spec(
            "exceptions: open, channel",
            _queue(views, lambda r: ExceptionQuery(channel=pick(r, s.exception_channels))),
            True,
        ),
        Spec(
            "exceptions: open, customer",
            _queue(views, lambda r: ExceptionQuery(customer_id=pick(r, s.exception_customers))),
            True,
        ),
        Spec("exceptions: open, sku", _queue(views, lambda r: ExceptionQuery(sku=ex_sku(r))), True),
        Spec(
            "exceptions: all, source",
            _queue(
                views,
                lambda r: ExceptionQuery(source_id=pick(r, s.exception_sources), state="all"),
            ),
            True,
        ),
        Spec(
            "exceptions: resolved, customer",
            _queue(
                views,
                lambda r: ExceptionQuery(customer_id=order(r)[2], state="resolved"),
            ),
        ),
        Spec("exceptions: all", _queue(views, lambda r: ExceptionQuery(state="all")), True),
        Spec("exception counts: open", counts(lambda r: ExceptionQuery()), True),
        Spec(
            "exception counts: open, channel",
            counts(lambda r: ExceptionQuery(channel=pick(r, s.exception_channels))),
            True,
        ),
        Spec("exception counts: open, sku", counts(lambda r: ExceptionQuery(sku=ex_sku(r))), True),
        Spec("exception counts: all", counts(lambda r: ExceptionQuery(state="all")), True),
        # /v1/ops/exceptions/summary
        *(
            Spec(f"exception summary: by {by}, {state}", summary(by, state), True)
            for state in ("open", "all")
            for by in ("customer_id", "sku", "source_id", "channel")
        ),
        # /v1/orders/{id}/audit
        Spec("audit trail: one order", trail, True),
        # /v1/ops/stock
        Spec("stock: first page", stock(), True),
        Spec("stock: one source", stock(source_id=lambda r: r.choice(s.sources)), True),
        Spec("stock: one source, page 2", stock_page_two, True),
        Spec(
            "stock: sku prefix",
            stock(sku_prefix=lambda r: r.choice(s.skus)[: r.choice((7, 8))]),
            True,
        ),
        Spec("stock: short only", stock(short_only=True), True),
        Spec(
            "stock: one source, short only",
            stock(source_id=lambda r: r.choice(s.sources), short_only=True),
            True,
        ),
        # /v1/ops/kpis (14 days of orders read and folded in Python)
        Spec("kpis: 14 days, all channels", kpi_days(False), True),
        Spec("kpis: 14 days, one channel", kpi_days(True), True),
    ]


@dataclass
class Result:
    name: str
    times_ms: list[float]
    rows: list[int]
    must_return_rows: bool = False
    slowest: list[tuple[str, tuple[Any, ...]]] = field(default_factory=list)
    plans: list[str] = field(default_factory=list)

    @property
    def p50(self) -> float:
        return statistics.median(self.times_ms)

    @property
    def p95(self) -> float:
        return _quantile(self.times_ms, 0.95)

    @property
    def max(self) -> float:
        return max(self.times_ms)

    def summary(self) -> dict[str, Any]:
        return {
            "query": self.name,
            "calls": len(self.times_ms),
            "p50_ms": round(self.p50, 2),
            "p95_ms": round(self.p95, 2),
            "max_ms": round(self.max, 2),
            "rows_mean": round(statistics.fmean(self.rows), 1),
            "rows_min": min(self.rows),
            "rows_max": max(self.rows),
            "must_return_rows": self.must_return_rows,
            "plans": self.plans,
        }


def _quantile(values: list[float], p: float) -> float:
    ordered = sorted(values)
    rank = (len(ordered) - 1) * p
    low = int(rank)
    high = min(low + 1, len(ordered) - 1)
    return ordered[low] + (ordered[high] - ordered[low]) * (rank - low)


def open_views(url: str) -> Views:
    db = RecordingDatabase(url)
    return Views(
        db, SqlOrderStatusView(db), SqlExceptionQueue(db), SqlAuditTrail(db), SqlStockLevels(db)
    )


def run_queries(
    views: Views,
    sample: Sample,
    repeat: int,
    seed: int = 11,
    only: Sequence[str] = (),
) -> list[Result]:
    """One warm-up round, then `repeat` rounds over every query, each call timed."""
    rng = random.Random(seed)
    chosen = [s for s in specs(views, sample) if not only or any(o in s.name for o in only)]
    results = {s.name: Result(s.name, [], [], s.must_return_rows) for s in chosen}
    for round_ in range(repeat + 1):
        for spec in chosen:
            call = spec.prepare(rng)
            views.db.statements.clear()
            started = time.perf_counter()
            rows = call()
            elapsed = (time.perf_counter() - started) * 1000
            if round_ == 0:
                continue  # warm-up
            result = results[spec.name]
            if not result.times_ms or elapsed > max(result.times_ms):
                result.slowest = list(views.db.statements)
            result.times_ms.append(elapsed)
            result.rows.append(rows)
    return list(results.values())


def explain(url: str, results: Sequence[Result], threshold_ms: float = GOAL_MS) -> None:
    """EXPLAIN (ANALYZE, BUFFERS) of the statements of each slow query's slowest call."""
    with psycopg.connect(url, autocommit=True) as conn:
        for result in results:
            if result.p95 < threshold_ms:
                continue
            for sql, params in result.slowest:
                plan = conn.execute(
                    "EXPLAIN (ANALYZE, BUFFERS) " + sql.replace("?", "%s"),
                    params,
                ).fetchall()
                result.plans.append(
                    f"-- {sql}\n-- params: {list(params)}\n" + "\n".join(r[0] for r in plan)
                )


def print_results(results: Sequence[Result], title: str) -> None:
    from rich.console import Console
    from rich.table import Table

    table = Table(title=title)
    for column in ("query", "p50 ms", "p95 ms", "max ms", "rows (mean)"):
        table.add_column(column, justify="left" if column == "query" else "right")
    for r in results:
        style = "bold red" if r.p95 >= GOAL_MS else None
        table.add_row(
            r.name,
            f"{r.p50:.1f}",
            f"{r.p95:.1f}",
            f"{r.max:.1f}",
            f"{statistics.fmean(r.rows):.1f}",
            style=style,
        )
    Console().print(table)


def main(argv: Sequence[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0] if __doc__ else None)
    parser.add_argument("--orders", type=int, default=1_000_000)
    parser.add_argument("--audit-orders", type=int, default=200_000)
    parser.add_argument("--repeat", type=int, default=50)
    parser.add_argument("--database-url", help="an empty database to use (kept)")
    parser.add_argument("--json", type=Path, help="write the results as JSON here")
    parser.add_argument("--keep", action="store_true", help="keep the scratch database")
    parser.add_argument("--seed", type=int, default=7)
    parser.add_argument("--only", action="append", default=[], help="queries whose name has it")
    parser.add_argument(
        "--reuse", action="store_true", help="--database-url is loaded already: only query it"
    )
    args = parser.parse_args(argv)

    server = None
    url = args.database_url
    if url is None:
        server = postgres_server()
        url = fresh_database(server)
    print(f"database: {url.rsplit('@', 1)[-1]}")
    try:
        audit_orders = min(args.audit_orders, args.orders)
        if args.reuse:
            _check_versions(url)
            sample, timings = sample_of(url), dict[str, float]()
        else:
            print(f"loading {args.orders:,} orders ({audit_orders:,} with audit trails)...")
            sample, timings = load(url, args.orders, audit_orders, seed=args.seed)
            for step, seconds in timings.items():
                print(f"  {step}: {seconds:.1f} s")
            print("  rows: " + ", ".join(f"{t} {n:,}" for t, n in sample.counts.items()))
        views = open_views(url)
        try:
            results = run_queries(views, sample, args.repeat, only=args.only)
        finally:
            views.db.close()
        explain(url, results)
        print_results(
            results, f"{args.orders:,} orders, {args.repeat} calls per query (after a warm-up)"
        )
        for r in results:
            for plan in r.plans:
                print(f"\n## {r.name}: p95 {r.p95:.1f} ms\n{plan}")
        slow = [r.name for r in results if r.p95 >= GOAL_MS]
        print(f"\n{len(results) - len(slow)}/{len(results)} queries under {GOAL_MS:.0f} ms at p95")
        if args.json:
            args.json.parent.mkdir(parents=True, exist_ok=True)
            args.json.write_text(
                json.dumps(
                    {
                        "benchmark": "ops_queries",
                        "at": datetime.now(UTC).isoformat(timespec="seconds"),
                        "orders": args.orders,
                        "audit_orders": audit_orders,
                        "repeat": args.repeat,
                        "rows": sample.counts,
                        "load_seconds": {k: round(v, 1) for k, v in timings.items()},
                        "goal_p95_ms": GOAL_MS,
                        "queries": [r.summary() for r in results],
                    },
                    indent=2,
                )
            )
            print(f"results: {args.json}")
    finally:
        if server is not None and not args.keep:
            drop_database(server, url)
        elif server is not None:
            print(f"kept: {url}")
    return 0


def _check_versions(url: str) -> None:
    """A view whose version changed since the load would drop its tables when opened."""
    expected = {
        order_module.FOLLOWER: order_module.VERSION,
        exception_module.FOLLOWER: exception_module.VERSION,
    }
    with psycopg.connect(url) as conn:
        rows = conn.execute("SELECT view, version FROM orderhub_view_versions").fetchall()
    stored: dict[str, int] = {str(v): int(n) for v, n in rows}
    for view, version in expected.items():
        if stored.get(view) != version:
            raise SystemExit(
                f"{view} was loaded at version {stored.get(view)}, the code is at {version}: "
                "load the database again (opening the view would empty it)"
            )


def _json_tuple(text: str) -> tuple[str, ...]:
    return tuple(json.loads(text))


def sample_of(url: str) -> Sample:
    """Parameters drawn from a database loaded by an earlier run (--keep, then --reuse); the
    same database gives the same parameters, so that runs before and after a change compare."""
    sample = Sample(now=datetime.now(UTC).replace(microsecond=0))
    with psycopg.connect(url) as conn:
        found = conn.execute("SELECT max(placed_at) FROM order_status").fetchone()
        if found and found[0]:
            sample.now = datetime.fromisoformat(str(found[0]))
        for order_id, channel, customer, external, skus, sources in conn.execute(
            "SELECT order_id, channel, customer_id, external_id, skus, sources "
            "FROM order_status TABLESAMPLE SYSTEM (2) REPEATABLE (7) ORDER BY order_id LIMIT 20000"
        ):
            sample.orders.append(
                (order_id, channel, customer, external, *map(_json_tuple, (skus, sources)))
            )
        sample.audited = [
            r[0]
            for r in conn.execute(
                "SELECT DISTINCT order_id FROM audit_trail ORDER BY order_id LIMIT 10000"
            )
        ]
        open_rows = conn.execute(
            "SELECT customer_id, skus, channel FROM exception_queue WHERE is_open "
            "ORDER BY exception_id LIMIT 5000"
        ).fetchall()
        sample.exception_customers = [c for c, _, _ in open_rows if c]
        sample.exception_skus = [sku for _, skus, _ in open_rows for sku in json.loads(skus)]
        sample.exception_channels = [ch for _, _, ch in open_rows]
        sample.exception_sources = [
            r[0]
            for r in conn.execute(
                "SELECT DISTINCT source_id FROM exception_queue WHERE source_id <> '' ORDER BY 1"
            )
        ]
        sample.skus = [
            r[0] for r in conn.execute("SELECT DISTINCT sku FROM stock_levels ORDER BY 1")
        ]
        sample.sources = [
            r[0] for r in conn.execute("SELECT source_id FROM stock_level_sources ORDER BY 1")
        ]
        for table in _BENCH_TABLES:
            n = conn.execute(f"SELECT count(*) FROM {table}").fetchone()
            sample.counts[table] = int(n[0]) if n else 0
    return sample


__all__ = [
    "Result",
    "Sample",
    "explain",
    "load",
    "main",
    "open_views",
    "run_queries",
    "sample_of",
    "specs",
]


if __name__ == "__main__":
    raise SystemExit(main())
