"""PostgreSQL's side of a measured window, for a benchmark that runs the hub in its own process:
the CPU of one database's backends from /proc and pg_stat_statements' counters per statement,
summed over the phases measured (what the benchmark does between them is left out)."""

import time
from typing import Any

import psycopg

from benchmarks.procstats import cpu_seconds

_STATEMENTS = """
SELECT queryid, query, calls, total_exec_time, shared_blks_hit, shared_blks_read, rows
FROM pg_stat_statements s JOIN pg_database d ON d.oid = s.dbid WHERE d.datname = %s
"""
_BACKENDS = "SELECT pid FROM pg_stat_activity WHERE datname = %s AND pid <> pg_backend_pid()"


def snapshot(server: str, database: str) -> dict[str, Any]:
    with psycopg.connect(server, autocommit=True) as conn:
        statements = {r[0]: r[1:] for r in conn.execute(_STATEMENTS, (database,))}
        pids = [int(r[0]) for r in conn.execute(_BACKENDS, (database,))]
    return {"statements": statements, "cpu": {p: cpu_seconds(p) or 0.0 for p in pids}}


def statement_deltas(before: dict[str, Any], after: dict[str, Any]) -> list[dict[str, Any]]:
    rows = []
    for qid, (query, calls, ms, hit, read, nrows) in after["statements"].items():
        old = before["statements"].get(qid, (query, 0, 0.0, 0, 0, 0))
        if calls - old[1]:
            rows.append(
                {
                    "query": " ".join(query.split())[:150],
                    "calls": calls - old[1],
                    "ms": ms - old[2],
                    "hit": hit - old[3],
                    "read": read - old[4],
                    "rows": nrows - old[5],
                }
            )
    return sorted(rows, key=lambda r: -r["ms"])


class Window:
    """The database's backends' CPU and statements, summed over the measured phases only (the
    benchmark's own reads of the log between them are left out)."""

    def __init__(self, server: str, url: str) -> None:
        self.server, self.database = server, url.rsplit("/", 1)[1]
        self.pg = self.hub = 0.0
        self.statements: dict[str, dict[str, Any]] = {}

    def run(self, phase: Any, *args: Any) -> Any:
        before, cpu = snapshot(self.server, self.database), time.process_time()
        result = phase(*args)
        self.hub += time.process_time() - cpu
        after = snapshot(self.server, self.database)
        self.pg += sum(c - before["cpu"].get(p, 0.0) for p, c in after["cpu"].items())
        for row in statement_deltas(before, after):
            kept = self.statements.setdefault(row["query"], dict.fromkeys(row, 0) | row)
            if kept is not row:
                for key in ("calls", "ms", "hit", "read", "rows"):
                    kept[key] += row[key]
        return result
