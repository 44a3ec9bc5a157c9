"""SQLite statements compiled again each time vs kept in the connection's cache.

Run:  python -m benchmarks.sqlite_statements [--events 100000 --pairs 5000 --rounds 2]

The embedded event store's connections were opened by eventsourcing with a cache of one
statement (`cached_statements=True`); `hub.sqlite_statements` gives them 128. This times the
difference on a table shaped as the store's (`stored_events`, its key, 300-byte states): the
multi-get's select of one aggregate's events (`hub.multi_get`'s statement) and a second
statement, run in turn as the hub's paths run several, with each cache size; CPU µs per pair,
rounds alternating (benchmarks/README.md, stmt18).
"""

import argparse
import sqlite3
import statistics
import tempfile
import time
import uuid
from pathlib import Path

from hub.sqlite_statements import STATEMENTS

SELECT = (
    "WITH wanted(originator_id, gt) AS (VALUES (?, ?)) SELECT e.* FROM stored_events AS e "
    "JOIN wanted ON e.originator_id = wanted.originator_id AND e.originator_version > "
    "wanted.gt ORDER BY e.originator_id, e.originator_version"
)
OTHER = "SELECT MAX(originator_version) FROM stored_events WHERE originator_id = ?"


def filled(path: Path, events: int) -> list[str]:
    conn = sqlite3.connect(path, isolation_level=None)
    conn.execute("PRAGMA journal_mode=WAL")
    conn.execute(
        "CREATE TABLE stored_events (originator_id TEXT, originator_version INTEGER, "
        "topic TEXT, state BLOB, PRIMARY KEY (originator_id, originator_version))"
    )
    ids = [uuid.uuid4().hex for _ in range(events // 5)]
    conn.execute("BEGIN")
    conn.executemany(
        "INSERT INTO stored_events VALUES (?, ?, ?, ?)",
        ((i, v, "t", b"x" * 300) for i in ids for v in range(1, 6)),
    )
    conn.execute("COMMIT")
    conn.close()
    return ids


def per_pair(path: Path, ids: list[str], cache: int, pairs: int) -> float:
    conn = sqlite3.connect(path, isolation_level=None, cached_statements=cache)
    started = time.process_time()
    for n in range(pairs):
        conn.execute(SELECT, (ids[n % len(ids)], 0)).fetchall()
        conn.execute(OTHER, (ids[n % len(ids)],)).fetchall()
    spent = time.process_time() - started
    conn.close()
    return 1e6 * spent / pairs


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--events", type=int, default=100_000)
    parser.add_argument("--pairs", type=int, default=5000)
    parser.add_argument("--rounds", type=int, default=2)
    args = parser.parse_args()
    with tempfile.TemporaryDirectory(prefix="orderhub-stmt-") as tmp:
        path = Path(tmp) / "events.sqlite3"
        ids = filled(path, args.events)
        times: dict[int, list[float]] = {1: [], STATEMENTS: []}
        for n in range(args.rounds):
            for cache in (1, STATEMENTS) if n % 2 == 0 else (STATEMENTS, 1):
                times[cache].append(per_pair(path, ids, cache, args.pairs))
    for cache, runs in times.items():
        print(
            f"cache of {cache:>3} statements: {statistics.median(runs):6.1f} µs of CPU per pair "
            f"(rounds: {' '.join(f'{r:.1f}' for r in runs)})"
        )


if __name__ == "__main__":
    main()
