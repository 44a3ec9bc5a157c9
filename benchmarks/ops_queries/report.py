"""Running the queries, timing them, explaining the slow ones, printing the results."""

from __future__ import annotations

import random
import statistics
import time
from collections.abc import Sequence
from dataclasses import dataclass, field
from typing import Any

import psycopg

from benchmarks.ops_queries.queries import RecordingDatabase, Views, specs
from benchmarks.ops_queries.world import GOAL_MS, Sample
from projections.audit_trail import SqlAuditTrail
from projections.exceptions import SqlExceptionQueue
from projections.order_status import SqlOrderStatusView
from projections.stock_levels import SqlStockLevels


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
