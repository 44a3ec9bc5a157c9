"""The event store's own operations on PostgreSQL, alone: the server's (backend's) and the
client's CPU per operation, for the statements every routed order sends through the store.

Run:  python -m benchmarks.pg_store_ops [--ops 1000] [--rounds 3] [--sslmode prefer,disable]

Each round opens an `OrderStore` on a fresh database with a pool of one connection (so one
backend does all the work), then runs each operation `--ops` times: `save 2` (the intake's save
of an order: two events, 1.5 and 3 kB), `save 30` (a chunk of the orchestration role's save:
thirty events; a tenth as many), `check new` (the API's duplicate check: a multi-get of one id
not stored, 0 rows), `get 5` (the events of five stored orders in one multi-get, not decoded)
and `read 20` (the relay's read of the next twenty notifications). The backend's CPU is the
scheduler's (/proc/PID/schedstat, in ns), the client's `time.process_time()`. `--sslmode` runs
each round once per libpq `sslmode` (PGSSLMODE: `disable` sends in clear what `prefer` encrypts
when the server has ssl on). On a loaded machine both CPUs grow with the waits (each wake-up
costs more): alternate runs from two worktrees to compare two versions of the store.
"""

import argparse
import json
import os
import statistics
import subprocess
import sys
import time
from pathlib import Path
from typing import Any
from uuid import UUID, uuid4

from benchmarks.services import drop_database, fresh_database, postgres_server


def backend_seconds(pid: int) -> float:
    """The process's time on a CPU, in ns from the scheduler (/proc/PID/stat's ticks of 10 ms
    are charged by sampling: a backend that runs a few µs per statement was off by 2-3x)."""
    return int(Path(f"/proc/{pid}/schedstat").read_text().split()[0]) / 1e9


def _events(n: int, sizes: tuple[int, ...]) -> list[Any]:
    from eventsourcing.persistence import StoredEvent

    return [
        StoredEvent(uuid4(), 1, "aggregates.order:Order.Placed", os.urandom(sizes[i % len(sizes)]))
        for i in range(n)
    ]


def one_round(url: str, ops: int) -> dict[str, dict[str, float]]:
    """In this process: each operation `ops` times on a fresh store; µs of CPU per operation."""
    from hub.multi_get import select_events_of_many
    from hub.settings import Settings
    from hub.store import OrderStore

    settings = Settings(data_dir=Path("/tmp"), kafka_bootstrap=None, database_url=url)
    env = settings.eventsourcing_env() | {"POSTGRES_POOL_SIZE": "1", "POSTGRES_MAX_OVERFLOW": "0"}
    store = OrderStore(env=env)
    recorder: Any = store.recorder
    with recorder.datastore.get_connection() as conn:
        pid = conn.execute("SELECT pg_backend_pid()").fetchone()["pg_backend_pid"]
    stored: list[UUID] = []
    for _ in range(200):  # a log to read and orders to load, before the clock starts
        events = _events(2, (1_500, 3_000))
        recorder.insert_events(events)
        stored.append(events[0].originator_id)
    position = [1]

    def read() -> None:
        got = recorder.select_notifications(start=position[0], limit=20, inclusive_of_start=False)
        position[0] = got[-1].id if len(got) == 20 else 1

    operations = {
        "save 2": lambda: recorder.insert_events(_events(2, (1_500, 3_000))),
        "save 30": lambda: recorder.insert_events(_events(30, (1_500, 3_000, 400))),
        "check new": lambda: select_events_of_many(recorder, {uuid4(): 0}),
        "get 5": lambda: select_events_of_many(recorder, dict.fromkeys(stored[:5], 0)),
        "read 20": read,
    }
    found = {}
    for name, operation in operations.items():
        count = ops // 10 if name == "save 30" else ops
        for _ in range(20):
            operation()
        server, client, wall = backend_seconds(pid), time.process_time(), time.perf_counter()
        for _ in range(count):
            operation()
        found[name] = {
            "server_us": (backend_seconds(pid) - server) * 1e6 / count,
            "client_us": (time.process_time() - client) * 1e6 / count,
            "wall_us": (time.perf_counter() - wall) * 1e6 / count,
        }
    store.close()
    return found


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__)
    parser.add_argument("--ops", type=int, default=1000)
    parser.add_argument("--rounds", type=int, default=3)
    parser.add_argument("--sslmode", default="", help="e.g. prefer,disable: a round per mode")
    parser.add_argument("--round", help=argparse.SUPPRESS)  # a child: one round on this URL
    args = parser.parse_args()
    if args.round:
        print(json.dumps(one_round(args.round, args.ops)))
        return
    server = postgres_server()
    modes = [m for m in args.sslmode.split(",") if m] or [os.environ.get("PGSSLMODE", "")]
    results: dict[str, list[dict[str, dict[str, float]]]] = {m: [] for m in modes}
    for _ in range(args.rounds):
        for mode in modes:
            url = fresh_database(server)
            env = dict(os.environ) | ({"PGSSLMODE": mode} if mode else {})
            try:
                out = subprocess.run(
                    [
                        sys.executable,
                        "-m",
                        "benchmarks.pg_store_ops",
                        "--ops",
                        str(args.ops),
                        "--round",
                        url,
                    ],
                    env=env,
                    check=True,
                    capture_output=True,
                    text=True,
                ).stdout
            finally:
                drop_database(server, url)
            results[mode].append(json.loads(out.strip().splitlines()[-1]))
    for mode, rounds in results.items():
        print(f"sslmode {mode or '(default)'}: µs of CPU per operation, median of {len(rounds)}")
        print(f"  {'operation':10} {'server':>8} {'client':>8} {'wall':>8}   server each round")
        for name in rounds[0]:
            cols = [
                statistics.median(r[name][k] for r in rounds)
                for k in ("server_us", "client_us", "wall_us")
            ]
            each = ", ".join(f"{r[name]['server_us']:.0f}" for r in rounds)
            print(f"  {name:10} {cols[0]:8.0f} {cols[1]:8.0f} {cols[2]:8.0f}   {each}")


if __name__ == "__main__":
    main()
