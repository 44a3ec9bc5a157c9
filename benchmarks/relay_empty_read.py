"""The relay's read that finds nothing, alone: its CPU per read in the relay (the read handed to a
thread and back, as `connectors.relay` does) and in PostgreSQL's backend.

Run:  python -m benchmarks.relay_empty_read [--reads 2000] [--rounds 3]

Woken by a commit's notice, the relay used to read the log again after publishing what it found,
until a read came back empty: one such read per notice while the hub is not saturated. This
prices one (benchmarks/README.md, latency9). A fresh database gets 1,000 orders' intake events.
"""

import argparse
import asyncio
import time
from pathlib import Path

import psycopg

from benchmarks.services import drop_database, fresh_database, postgres_server
from hub.bootstrap import bootstrap
from hub.services.intake import IntakeService
from hub.settings import Settings
from hub.stored_records import RecordReader
from hub.streaming.relay import route_for
from schemas.event_types import UNPUBLISHED
from tests.contracts.factories import NOW, fixed_clock, submit_order


def backend_cpu(database: str) -> float:
    """CPU seconds so far of the database's other backends (the store's connections)."""
    with psycopg.connect(database, autocommit=True) as conn:
        pids = conn.execute(
            "SELECT pid FROM pg_stat_activity "
            "WHERE datname = current_database() AND pid <> pg_backend_pid()"
        ).fetchall()
    total = 0.0
    for (pid,) in pids:
        try:
            total += int(Path(f"/proc/{pid}/schedstat").read_text().split()[0]) / 1e9
        except OSError:  # a connection closed meanwhile
            continue
    return total


async def empty_reads(reader: RecordReader, after: int, count: int) -> None:
    for _ in range(count):
        if await asyncio.to_thread(reader.read_records, after, 500):
            raise AssertionError("the log grew during the run")


def measure(database: str, reads: int, rounds: int) -> None:
    settings = Settings(_env_file=None, database_url=database)  # type: ignore[call-arg]
    hub = bootstrap(settings)
    try:
        intake = IntakeService(hub.store, fixed_clock(NOW))
        for i in range(20):
            intake.place_orders([submit_order(external_id=f"R-{i}-{j}") for j in range(50)])
        reader = RecordReader(hub.store, route_for(settings), UNPUBLISHED)
        last = reader.read_records(None, 1_000_000)[-1][0]
        asyncio.run(empty_reads(reader, last, 200))  # connections and plans made
        for round_ in range(rounds):
            cpu, backend = time.process_time(), backend_cpu(database)
            asyncio.run(empty_reads(reader, last, reads))
            cpu, backend = time.process_time() - cpu, backend_cpu(database) - backend
            print(
                f"round {round_ + 1}: relay {1e6 * cpu / reads:.0f} µs, "
                f"PostgreSQL {1e6 * backend / reads:.0f} µs per empty read (log of {last} events)"
            )
    finally:
        hub.close()


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--reads", type=int, default=2000)
    parser.add_argument("--rounds", type=int, default=3)
    args = parser.parse_args()
    server = postgres_server()
    database = fresh_database(server)
    try:
        measure(database, args.reads, args.rounds)
    finally:
        drop_database(server, database)


if __name__ == "__main__":
    main()
