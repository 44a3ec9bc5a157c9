"""Saves to the event store while autovacuum visits its table: how long each waited.

    python -m benchmarks.save_beside_vacuum [--events 100000] [--seconds 40] [--lock both]

A scratch database on the benchmark's PostgreSQL server gets `--events` events, then saves of
`--batch` events `--rate` times a second for `--seconds`. The table's autovacuum and autoanalyze
thresholds are set so low that each autovacuum round visits it (the server's
`autovacuum_naptime`, 60 s by default: lower it on a server of your own for more rounds), and
each visit is slowed to outlast a second (`AUTOVACUUM`). `--lock table` saves through the
function as an earlier release created it (`LOCK TABLE ... IN EXCLUSIVE MODE`), `advisory` as
it is created now, `both` one run of each. Reported: each save's wall time, p50/p99/max, and
the saves over 500 ms.
"""

import argparse
import statistics
import time
from pathlib import Path
from uuid import uuid4

import psycopg
from eventsourcing.persistence import StoredEvent

from benchmarks.services import drop_database, fresh_database, postgres_server
from hub.pg_recorder import HubRecorder
from hub.settings import Settings
from hub.store import OrderStore

# Autovacuum and autoanalyze on every round, and slowed (cost-based delay) so that a visit
# outlasts a second as it did on the hub's events table under the flow benchmark (PostgreSQL's
# log: cancelled "while scanning block 4038" to "block 49797"; a visit there scans every page
# written since the last visit that finished, and a cancelled one leaves them all to the next).
AUTOVACUUM = (
    "autovacuum_vacuum_insert_threshold = 1000, autovacuum_vacuum_insert_scale_factor = 0, "
    "autovacuum_analyze_threshold = 1000, autovacuum_analyze_scale_factor = 0, "
    "autovacuum_vacuum_cost_limit = 10, autovacuum_vacuum_cost_delay = 10"
)
TABLE_LOCKED = (
    "CREATE OR REPLACE FUNCTION {f}(uuid[], bigint[], text[], bytea[], text) "
    "RETURNS SETOF bigint LANGUAGE plpgsql AS $body$ BEGIN "
    "PERFORM set_config('lock_timeout', $5, true); "
    "LOCK TABLE orderhub_events IN EXCLUSIVE MODE; "
    "RETURN QUERY INSERT INTO orderhub_events (originator_id, originator_version, topic, state) "
    "SELECT * FROM unnest($1, $2, $3, $4) RETURNING notification_id; END $body$"
)


def events(n: int) -> list[StoredEvent]:
    state = b'{"line": "%s"}' % (b"x" * 300)
    return [StoredEvent(uuid4(), 1, "aggregates.order:Order.Placed", state) for _ in range(n)]


def run(server: str, lock: str, args: argparse.Namespace) -> dict[str, float]:
    url = fresh_database(server)
    settings = Settings(_env_file=None, data_dir=Path("/tmp"), database_url=url)  # type: ignore[call-arg]
    store = OrderStore(env=settings.eventsourcing_env())
    recorder = store.recorder
    assert isinstance(recorder, HubRecorder)
    try:
        with psycopg.connect(url, autocommit=True) as conn:
            if lock == "table":
                conn.execute(TABLE_LOCKED.format(f=recorder.insert_function_name))
            # Filled before autovacuum may look: its first visit has every page to scan.
            conn.execute("ALTER TABLE orderhub_events SET (autovacuum_enabled = false)")
            for _ in range(args.events // 5000):
                recorder.insert_events(events(5000))
            conn.execute(
                f"ALTER TABLE orderhub_events SET (autovacuum_enabled = true, {AUTOVACUUM})"
            )
        waits: list[float] = []
        start = time.perf_counter()
        for i in range(int(args.seconds * args.rate)):
            due = start + i / args.rate
            time.sleep(max(0.0, due - time.perf_counter()))
            began = time.perf_counter()
            recorder.insert_events(events(args.batch))
            waits.append(time.perf_counter() - began)
    finally:
        store.close()
        drop_database(server, url)
    ordered = sorted(waits)
    return {
        "saves": len(waits),
        "p50_ms": statistics.median(waits) * 1000,
        "p99_ms": ordered[int(0.99 * (len(ordered) - 1))] * 1000,
        "max_ms": ordered[-1] * 1000,
        "over_500ms": sum(1 for w in waits if w > 0.5),
    }


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--events", type=int, default=100_000)
    parser.add_argument("--seconds", type=float, default=40.0)
    parser.add_argument("--rate", type=float, default=20.0, help="saves a second")
    parser.add_argument("--batch", type=int, default=20, help="events a save")
    parser.add_argument("--lock", choices=("table", "advisory", "both"), default="both")
    args = parser.parse_args()
    server = postgres_server()
    locks = ("table", "advisory") if args.lock == "both" else (args.lock,)
    for lock in locks:
        print(lock, run(server, lock, args), flush=True)


if __name__ == "__main__":
    main()
