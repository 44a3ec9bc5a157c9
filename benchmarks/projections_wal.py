"""The projections role's writes on PostgreSQL, counted: WAL bytes and the backends' CPU per order.

Run:  python -m benchmarks.projections_wal [--orders 600] [--rounds 3] [--batch 50] [--checkpoint]

The history and the rounds of `benchmarks.projections_batch` (the decode-once path: each round
a copy of the recorded database, the orders' records fed to the role's followers as consumed
batches). Per round: the cluster's WAL between the round's start and end, the CPU of the
round's database backends (/proc) and of this process, per order. The same records in the
same batches each time, so the WAL is repeatable to a few per cent whatever the machine's load;
the cluster must have no other writer (a cluster of its own: ORDERHUB_PG_CLUSTER). With
--checkpoint a CHECKPOINT starts each round: pages are then logged whole on their first change.
"""

import argparse
import asyncio
import statistics
import tempfile
import time
from pathlib import Path

import psycopg

from benchmarks import projections_batch as batch
from benchmarks.procstats import cpu_seconds
from benchmarks.services import drop_database, postgres_server
from connectors.consumed import ConsumedMessage


def wal_position(server: str) -> int:
    with psycopg.connect(server, autocommit=True) as conn:
        row = conn.execute("SELECT pg_current_wal_lsn() - '0/0'::pg_lsn").fetchone()
    return int(row[0]) if row else 0


def backends_cpu(server: str, url: str) -> dict[int, float]:
    with psycopg.connect(server, autocommit=True) as conn:
        rows = conn.execute(
            "SELECT pid FROM pg_stat_activity WHERE datname = %s", (url.rsplit("/", 1)[1],)
        ).fetchall()
    return {int(r[0]): cpu_seconds(int(r[0])) or 0.0 for r in rows}


def one_round(
    server: str, template: str, records: list[ConsumedMessage], args: argparse.Namespace
) -> tuple[float, float, float]:
    """WAL bytes, backends' CPU ms and this process's CPU ms of one round, per order."""
    url = batch.copy_database(server, template)
    with tempfile.TemporaryDirectory(prefix="orderhub-wal-") as tmp:
        hub = batch.hub_on(url, Path(tmp))
        try:
            if args.checkpoint:
                with psycopg.connect(server, autocommit=True) as conn:
                    conn.execute("CHECKPOINT")
            before = backends_cpu(server, url)
            start, cpu = wal_position(server), time.process_time()
            asyncio.run(batch.decode_once(hub, records, args.batch))
            wal, cpu = wal_position(server) - start, time.process_time() - cpu
            after = backends_cpu(server, url)
        finally:
            hub.close()
            drop_database(server, url)
    backends = sum(used - before.get(pid, 0.0) for pid, used in after.items())
    return wal / args.orders, backends * 1000 / args.orders, cpu * 1000 / args.orders


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--orders", type=int, default=600)
    parser.add_argument("--rounds", type=int, default=3)
    parser.add_argument("--batch", type=int, default=50, help="records per consumed batch")
    parser.add_argument("--checkpoint", action="store_true", help="a CHECKPOINT before each")
    args = parser.parse_args()
    server = postgres_server()
    with tempfile.TemporaryDirectory(prefix="orderhub-projections-") as tmp:
        template, records, _ = batch.prepare(server, args.orders, Path(tmp))
        try:
            rounds = [one_round(server, template, records, args) for _ in range(args.rounds)]
        finally:
            drop_database(server, template)
    print(f"{args.orders} orders, {len(records)} records, batches of {args.batch}, per order:")
    for wal, backends, role in rounds:
        print(f"  WAL {wal:8,.0f} B   backends {backends:5.2f} ms   this process {role:5.2f} ms")
    wal, backends, role = (statistics.median(r[i] for r in rounds) for i in range(3))
    print(f"  median: WAL {wal:,.0f} B, backends {backends:.2f} ms, this process {role:.2f} ms")


if __name__ == "__main__":
    main()
