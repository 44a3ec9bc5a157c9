"""What PostgreSQL does per routed order in the distributed flow: statements, transactions, WAL,
backend CPU, by role.

Run:  python -m benchmarks.pg_costs [--top 25] [--out costs.json] [benchmarks.flow's options]
      python -m benchmarks.pg_costs --rates 100 --seconds 20 --warmup 5

Runs `benchmarks.flow` in distributed mode and, over each step's measured window, reads from the
run's database: `pg_stat_statements` (calls, rows, WAL bytes per statement; the server must load
it: `ORDERHUB_PG_STAT_STATEMENTS=1 infra/postgres.sh start` on a cluster of its own,
`ORDERHUB_PG_CLUSTER=...`, and the extension created in the server's database and template1),
`pg_stat_database` (commits, rollbacks), the cluster's WAL position, and the CPU of each backend
connected to the run's database from /proc, grouped by `application_name` (`orderhub-<role>`).
With pg_walinspect (see benchmarks.pg_wal), the window's WAL by resource manager and relation.
Everything is divided by the orders routed in the window. Statement and WAL counts do not
depend on the machine's load; CPU does. Without the extension the statements are left out.
"""

import argparse
import json
import time
from collections import defaultdict
from pathlib import Path
from typing import Any

import psycopg

from benchmarks import flow, pg_wal
from benchmarks.flow_report import console
from benchmarks.procstats import CpuWindow, cpu_seconds

_STATEMENTS = """
SELECT queryid, query, calls, rows, wal_bytes, wal_records, total_exec_time
FROM pg_stat_statements s JOIN pg_database d ON d.oid = s.dbid WHERE d.datname = %s
"""
_DATABASE = (
    "SELECT xact_commit, xact_rollback, tup_inserted, tup_updated, blks_read, blks_hit "
    "FROM pg_stat_database "
)
_COUNTERS = ("commits", "rollbacks", "inserted", "updated", "blks_read", "blks_hit")
_BACKENDS = "SELECT pid, application_name FROM pg_stat_activity WHERE datname = %s"


def snapshot(server: str, database: str) -> dict[str, Any]:
    """The counters of one database at one moment (read over a connection to another one, so
    the reading is not counted)."""
    with psycopg.connect(server, autocommit=True) as conn:
        try:
            statements = {
                r[0]: {
                    "query": r[1],
                    "calls": r[2],
                    "rows": r[3],
                    "wal_bytes": int(r[4]),
                    "wal_records": r[5],
                    "ms": r[6],
                }
                for r in conn.execute(_STATEMENTS, (database,)).fetchall()
            }
        except psycopg.Error:
            statements = {}
        db = conn.execute(_DATABASE + "WHERE datname = %s", (database,)).fetchone()
        lsn = conn.execute(
            "SELECT pg_current_wal_lsn() - '0/0'::pg_lsn, pg_current_wal_lsn()::text"
        ).fetchone()
        backends = {int(p): name or "?" for p, name in conn.execute(_BACKENDS, (database,))}
    return {
        "at": time.perf_counter(),
        "statements": statements,
        "commits": db[0] if db else 0,
        "rollbacks": db[1] if db else 0,
        "inserted": db[2] if db else 0,
        "updated": db[3] if db else 0,
        "blks_read": db[4] if db else 0,
        "blks_hit": db[5] if db else 0,
        "wal_lsn": int(lsn[0]) if lsn else 0,
        "wal_lsn_text": lsn[1] if lsn else "0/0",
        "backends": backends,
        "cpu": {pid: cpu_seconds(pid) for pid in backends},
    }


def delta(before: dict[str, Any], after: dict[str, Any]) -> dict[str, Any]:
    statements = []
    for key, row in after["statements"].items():
        old = before["statements"].get(key, {})
        calls = row["calls"] - old.get("calls", 0)
        if calls:
            statements.append(
                {"query": " ".join(row["query"].split())}
                | {k: row[k] - old.get(k, 0) for k in ("calls", "rows", "wal_bytes", "ms")}
            )
    cpu: dict[str, float] = defaultdict(float)
    for pid, name in before["backends"].items():
        start, end = before["cpu"].get(pid), after["cpu"].get(pid)
        if start is not None and end is not None:
            cpu[name] += end - start
    return {
        "seconds": after["at"] - before["at"],
        # Dearest first: the server's execution time (pg_stat_statements.total_exec_time).
        "statements": sorted(statements, key=lambda s: -s["ms"]),
        **{k: after[k] - before[k] for k in _COUNTERS},
        "wal_bytes": after["wal_lsn"] - before["wal_lsn"],
        "cpu_seconds": dict(cpu),
    }


class _Windows:
    """Hooks into benchmarks.flow: a snapshot where a step's CPU window starts and stops."""

    hub: Any = None
    checkpoint = False
    first: dict[str, Any] | None = None
    last: dict[str, Any] | None = None

    @classmethod
    def take(cls) -> dict[str, Any] | None:
        hub = cls.hub
        if hub is None or hub.server is None or hub.settings.database_url is None:
            return None
        return snapshot(hub.server, hub.settings.database_url.rsplit("/", 1)[1])


class _PgCpuWindow(CpuWindow):
    def start(self, now: float) -> None:
        hub = _Windows.hub
        if _Windows.checkpoint and hub is not None and hub.server is not None:
            # Every page's first change after a checkpoint is logged whole (a full-page image):
            # a window that starts with one shows what the WAL costs right after each.
            with psycopg.connect(hub.server, autocommit=True) as conn:
                conn.execute("CHECKPOINT")
        _Windows.first = _Windows.take()
        super().start(now)

    def stop(self, now: float) -> dict[str, float]:
        used = super().stop(now)
        _Windows.last = _Windows.take()
        return used


def per_order(step: dict[str, Any], costs: dict[str, Any]) -> dict[str, Any]:
    routed = max(step["routed_per_s"] * step["seconds"], 1.0)
    statements = costs["statements"]
    offered = max(step.get("measured_orders", 0), 1)
    return {
        "routed": routed,
        # A saturated hub routes fewer orders in the window than it takes in: per order offered
        # in the window too, to compare runs that kept up with runs that did not.
        "offered": offered,
        "statements_per_offered": sum(s["calls"] for s in statements) / offered,
        "cpu_ms_per_offered": sum(costs["cpu_seconds"].values()) * 1000 / offered,
        "statements": sum(s["calls"] for s in statements) / routed,
        "commits": costs["commits"] / routed,
        "rollbacks": costs["rollbacks"] / routed,
        "rows_inserted": costs["inserted"] / routed,
        "rows_updated": costs["updated"] / routed,
        "blocks_read": costs["blks_read"] / routed,
        "blocks_hit": costs["blks_hit"] / routed,
        "wal_bytes_cluster": costs["wal_bytes"] / routed,
        "wal_bytes_statements": sum(s["wal_bytes"] for s in statements) / routed,
        "cpu_ms": sum(costs["cpu_seconds"].values()) * 1000 / routed,
        "cpu_ms_by_role": {k: v * 1000 / routed for k, v in sorted(costs["cpu_seconds"].items())},
        "top": [
            s
            | {
                "per_order": s["calls"] / routed,
                "rows_per_call": s["rows"] / s["calls"],
                "wal_per_order": s["wal_bytes"] / routed,
                "us_per_order": s["ms"] * 1000 / routed,
            }
            for s in statements
        ],
    }


def show(rate: int, row: dict[str, Any], top: int) -> None:
    console.print(
        f"[bold]{rate}/s offered[/bold], {row['routed']:,.0f} routed in the window; per routed "
        f"order: {row['statements']:.1f} statements, {row['commits']:.2f} commits "
        f"({row['rollbacks']:.2f} rollbacks), {row['rows_inserted']:.1f} rows inserted, "
        f"{row['rows_updated']:.1f} updated, blocks read {row['blocks_read']:.1f} / hit "
        f"{row['blocks_hit']:.0f}, WAL {row['wal_bytes_cluster']:,.0f} B (cluster) / "
        f"{row['wal_bytes_statements']:,.0f} B (statements), backend CPU {row['cpu_ms']:.2f} ms"
    )
    console.print(
        f"  per order offered in the window ({row['offered']:,}): "
        f"{row['statements_per_offered']:.1f} statements, "
        f"backend CPU {row['cpu_ms_per_offered']:.2f} ms"
    )
    console.print(
        "  backend CPU ms by role: "
        + ", ".join(f"{k} {v:.2f}" for k, v in row["cpu_ms_by_role"].items())
    )
    console.print(
        f"  {'calls/order':>11} {'rows/call':>9} {'WAL B/order':>11} {'µs/order':>8}  statement"
    )
    for s in row["top"][:top]:
        console.print(
            f"  {s['per_order']:11.2f} {s['rows_per_call']:9.1f} {s['wal_per_order']:11,.0f} "
            f"{s['us_per_order']:8.1f}  {s['query'][:150]}",
            soft_wrap=True,
        )


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__)
    parser.add_argument("--top", type=int, default=25, help="statements shown per step")
    parser.add_argument("--out", type=Path, help="also write the figures here (JSON)")
    parser.add_argument(
        "--checkpoint",
        action="store_true",
        help="a CHECKPOINT where each window starts (superuser or pg_checkpoint): the WAL's "
        "full-page images at their most",
    )
    args, flow_args = parser.parse_known_args()
    _Windows.checkpoint = args.checkpoint
    found: list[dict[str, Any]] = []
    step = flow.Session.step

    async def measured(self: Any, rate: int, warmup: float, seconds: float) -> dict[str, Any]:
        _Windows.hub = self.hub
        result: dict[str, Any] = await step(self, rate, warmup, seconds)
        first, last, hub = _Windows.first, _Windows.last, self.hub
        if first is not None and last is not None:
            row = {"rate": rate} | per_order(result, delta(first, last))
            row["wal"] = pg_wal.breakdown(
                hub.server, hub.settings.database_url, first["wal_lsn_text"], last["wal_lsn_text"]
            )
            row["unscanned_indexes"] = pg_wal.unscanned_indexes(hub.settings.database_url)
            found.append(row)
        return result

    flow.Session.step = measured  # type: ignore[method-assign]
    flow.CpuWindow = _PgCpuWindow  # type: ignore[attr-defined]
    flow.main(["--mode", "distributed", *flow_args])
    for row in found:
        show(row["rate"], row, args.top)
        pg_wal.show(row["wal"], row["routed"], args.top, console)
        console.print("  indexes never scanned: " + ", ".join(row["unscanned_indexes"]))
    if args.out:
        args.out.write_text(json.dumps(found, indent=2, default=str))


if __name__ == "__main__":
    main()
