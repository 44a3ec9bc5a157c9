"""The operations console's queries on a million orders in PostgreSQL (goal: p95 < 50 ms).

    python -m benchmarks.ops_queries --orders 1000000 [--database-url URL] [--repeat 50]
        [--audit-orders 200000] [--json PATH] [--keep] [--seed 7] [--only TEXT]
    python -m benchmarks.ops_queries --database-url URL --reuse   # query a kept database again

1. Makes a scratch database on the benchmark server (``ORDERHUB_BENCH_DATABASE_URL``, else
   ``infra/postgres.sh``), or uses the empty database ``--database-url`` names (never dropped),
   and creates the tables through the views' own classes, so the real DDL and indexes are used.
2. Loads synthetic orders with COPY, in the columns and encoding the views write
   (``projections.order_status._to_params``, ``projections.exceptions._params``, ...): ~6
   channels of skewed volume, ~100k customers, 5,000 SKUs of Zipf-like popularity (1-4 an
   order), 50 sources, statuses by the order's age (a few per cent held, backordered or
   unroutable), placed over the last 365 days in arrival order (external ids numbered in
   time, as in a live table); the child rows; exceptions for ~5 % of the
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
from collections.abc import Sequence
from datetime import UTC, datetime
from pathlib import Path

import psycopg

from benchmarks.ops_queries.loading import _BENCH_TABLES, load
from benchmarks.ops_queries.queries import specs
from benchmarks.ops_queries.report import Result, explain, open_views, print_results, run_queries
from benchmarks.ops_queries.world import GOAL_MS, Sample
from benchmarks.services import drop_database, fresh_database, postgres_server
from projections import exceptions as exception_module
from projections import order_status as order_module


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
            if r.plans:
                print(f"\n## {r.name}: p95 {r.p95:.1f} ms, its slowest call's statements")
            for plan in r.plans:
                print(f"\n{plan}")
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
