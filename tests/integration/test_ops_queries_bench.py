"""The operations-queries benchmark, on 2,000 orders, so that the script cannot rot.

No timing is asserted: this checks that every console query runs through the real views and
finds rows where the loaded data must have some.
"""

import json
from datetime import UTC, datetime
from pathlib import Path

import psycopg
import pytest

from benchmarks import ops_queries

pytestmark = pytest.mark.postgres


def test_the_benchmark_loads_the_views_and_runs_every_query(
    database_url: str, tmp_path: Path
) -> None:
    out = tmp_path / "ops.json"

    assert (
        ops_queries.main(
            [
                *("--database-url", database_url, "--orders", "2000", "--audit-orders", "300"),
                *("--repeat", "2", "--json", str(out)),
            ]
        )
        == 0
    )

    report = json.loads(out.read_text())
    with psycopg.connect(database_url) as conn:
        views = ops_queries.open_views(database_url)
        try:
            sample = ops_queries.Sample(now=datetime.now(UTC))
            expected = [s.name for s in ops_queries.specs(views, sample)]
        finally:
            views.db.close()
        orders = conn.execute("SELECT count(*) FROM order_status").fetchone()
    assert orders == (2000,)
    assert report["rows"]["order_status_skus"] >= 2000
    assert report["rows"]["exception_queue"] > 0
    assert report["rows"]["audit_trail"] >= 300 * 4
    assert report["rows"]["stock_levels"] == 50 * 5000
    assert [q["query"] for q in report["queries"]] == expected
    for query in report["queries"]:
        assert query["calls"] == 2, query["query"]
        if query["must_return_rows"]:
            assert query["rows_min"] > 0, query["query"]


def test_a_loaded_database_is_queried_again_and_slow_queries_are_explained(
    database_url: str,
) -> None:
    ops_queries.load(database_url, orders=2000, audit_orders=200, log=lambda _: None)
    sample = ops_queries.sample_of(database_url)
    views = ops_queries.open_views(database_url)
    try:
        results = ops_queries.run_queries(views, sample, repeat=1, only=["orders: sku", "stock"])
    finally:
        views.db.close()
    ops_queries.explain(database_url, results, threshold_ms=0)

    assert {r.name for r in results} >= {"orders: sku", "orders: sku + source", "stock: sku prefix"}
    assert all(r.plans for r in results if r.name in ("orders: sku", "stock: sku prefix"))
    for result in results:
        assert len(result.times_ms) == 1
        assert len(result.plans) == len(result.slowest), result.name  # one per statement
        assert all("Execution Time" in plan for plan in result.plans)
