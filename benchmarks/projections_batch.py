"""The projections role's consumer on PostgreSQL read models: one consumer per view (each
decoding every record of its topics, one transaction per view and batch, as the role ran until
December) against one consumer for all (each record decoded once, one transaction per batch).

Run:  python -m benchmarks.projections_batch [--orders 1000] [--rounds 3] [--batch 500]
          [--ways once] [--spy FILE]

A realistic history (benchmarks.projection_events: 100 sources, 10,000 SKUs, orders of 1-7
lines routed, a fifth shipped) is recorded once in a PostgreSQL database; the network's events
are applied to its views there, unmeasured. Each round copies that database (CREATE DATABASE …
TEMPLATE) and feeds the orders' records to the role's followers (`Hub.followers`, billing
among them) as consumed batches, through the role's handler; the two ways alternate round by
round. Printed: records/s and CPU ms per order (this process: decoding, folding, the client's
side of the SQL; and the database backends', from /proc), medians of the rounds. `--ways once`
measures only the role's way (decode once); `--spy FILE` records the measured rounds alone (not
the history's recording) with py-spy (`--gil -f raw`: the thread holding the interpreter, so a
thread waiting for it is not counted busy; py-spy on the PATH).
"""

import argparse
import asyncio
import os
import signal
import statistics
import subprocess
import tempfile
import time
import uuid
from collections.abc import Sequence
from pathlib import Path

import psycopg
from psycopg import sql

from benchmarks.projection_events import batches, projection_records, record_history
from benchmarks.route_batches import Backends
from benchmarks.route_profile import NOW
from benchmarks.services import drop_database, fresh_database, postgres_server
from connectors.consumed import ConsumedMessage
from connectors.publisher import RecordingPublisher
from hub.bootstrap import Hub, bootstrap
from hub.collector import collect_for_batches
from hub.settings import Settings
from hub.streaming.feeds import Feed, FeedsConsumer, feeds_of
from hub.streaming.roles import Role
from schemas.event_types import EventType

# Distributed settings build no in-process delivery; nothing connects to this broker.
NO_BROKER = "127.0.0.1:1"


def role_feeds(hub: Hub) -> list[Feed]:
    """The projections role's followers, as the worker feeds them (hub.streaming.worker)."""
    return feeds_of(hub.settings, (f for f in hub.followers if f.worker_role == Role.PROJECTIONS))


async def decode_once(hub: Hub, records: Sequence[ConsumedMessage], size: int) -> None:
    consumer = FeedsConsumer("projections", role_feeds(hub), RecordingPublisher(), hub.settings)
    for batch in batches(records, size):
        await consumer.handle(batch)


async def per_view(hub: Hub, records: Sequence[ConsumedMessage], size: int) -> None:
    """An agent per view, each reading batches of its own topics, all running at once."""

    async def run(feed: Feed) -> None:
        consumer = FeedsConsumer(feed.name, [feed], RecordingPublisher(), hub.settings)
        for batch in batches([r for r in records if r.topic in feed.topics], size):
            await consumer.handle(batch)

    await asyncio.gather(*(run(feed) for feed in role_feeds(hub)))


WAYS = {"one consumer per view": per_view, "decode once, one transaction": decode_once}
SHORT = {"per-view": "one consumer per view", "once": "decode once, one transaction"}


def copy_database(server: str, template: str, file_copy: bool = False) -> str:
    """`file_copy`: by copying the files (PostgreSQL >= 15; its default, WAL_LOG, writes a
    large template into the WAL again)."""
    name = f"orderhub_bench_{uuid.uuid4().hex[:8]}"
    strategy = sql.SQL(" STRATEGY FILE_COPY" if file_copy else "")
    with psycopg.connect(server, autocommit=True) as conn:
        conn.execute(
            sql.SQL("CREATE DATABASE {} TEMPLATE {}{}").format(
                sql.Identifier(name), sql.Identifier(template.rsplit("/", 1)[1]), strategy
            )
        )
    return template.rsplit("/", 1)[0] + f"/{name}"


def hub_on(url: str, tmp: Path) -> Hub:
    settings = Settings(data_dir=tmp, database_url=url, kafka_bootstrap=NO_BROKER)
    return bootstrap(settings, clock=lambda: NOW)


def prepare(server: str, orders: int, tmp: Path) -> tuple[str, list[ConsumedMessage], int]:
    """The template database (history recorded, the network applied to the views) and the
    orders' records to measure."""
    template = fresh_database(server)
    hub = hub_on(template, tmp)
    try:
        record_history(hub, orders)
        records = projection_records(hub)
        first = next(
            i for i, r in enumerate(records) if r.header("ce_type") == EventType.ORDER_PLACED
        )
        asyncio.run(decode_once(hub, records[:first], 2000))
    finally:
        hub.close()
    return template, records[first:], orders


def measure(
    server: str, template: str, way: str, records: list[ConsumedMessage], size: int, tmp: Path
) -> tuple[float, float, float]:
    """Wall seconds, this process's CPU seconds and the database backends' (the views' writes
    are mostly theirs)."""
    url = copy_database(server, template)
    hub = hub_on(url, tmp)
    backends = Backends(server, url.rsplit("/", 1)[1])
    try:
        pg = backends.cpu()
        wall, cpu = time.perf_counter(), time.process_time()
        asyncio.run(WAYS[way](hub, records, size))
        wall, cpu = time.perf_counter() - wall, time.process_time() - cpu
        return wall, cpu, backends.cpu() - pg
    finally:
        hub.close()
        drop_database(server, url)


_SPY = ("py-spy", "record", "-r", "200", "--gil", "-f", "raw")


def spy_on_self(out: Path) -> subprocess.Popen[bytes]:
    spy = subprocess.Popen(
        [*_SPY, "-p", str(os.getpid()), "-o", str(out)],
        stdout=subprocess.DEVNULL,
        stderr=subprocess.DEVNULL,
    )
    time.sleep(1.0)  # py-spy attaches before the first round starts
    return spy


Figures = dict[str, list[tuple[float, float, float]]]


def rounds(
    server: str,
    template: str,
    ways: list[str],
    records: list[ConsumedMessage],
    args: argparse.Namespace,
    tmp: Path,
) -> Figures:
    """Each way measured once a round, alternating."""
    figures: Figures = {way: [] for way in ways}
    for _ in range(args.rounds):
        for way in ways:
            figures[way].append(measure(server, template, way, records, args.batch, tmp))
    return figures


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--orders", type=int, default=1000)
    parser.add_argument("--rounds", type=int, default=3)
    parser.add_argument("--batch", type=int, default=500, help="records per consumed batch")
    parser.add_argument("--ways", default="per-view,once", help="of: " + ", ".join(SHORT))
    parser.add_argument("--spy", type=Path, help="py-spy's raw samples of the measured rounds")
    args = parser.parse_args()
    ways = [SHORT[w] for w in args.ways.split(",")]
    server = postgres_server()
    with tempfile.TemporaryDirectory(prefix="orderhub-projections-") as tmp:
        template, records, orders = prepare(server, args.orders, Path(tmp))
        # The collector set as a worker role sets it (hub.cli's worker): at Python's default
        # the cyclic collector scanned each batch's decoded events again and again, half of
        # the decoding's CPU here, which the role does not pay.
        collect_for_batches()
        spy = spy_on_self(args.spy) if args.spy else None
        try:
            figures = rounds(server, template, ways, records, args, Path(tmp))
        finally:
            if spy is not None:
                spy.send_signal(signal.SIGINT)  # py-spy writes its samples on an interrupt
                spy.wait()
            drop_database(server, template)
    print(f"{orders} orders, {len(records)} records, batches of {args.batch}, PostgreSQL views:")
    for way, runs in figures.items():
        wall = statistics.median(w for w, _, _ in runs)
        cpu = statistics.median(c for _, c, _ in runs)
        least = min(c for _, c, _ in runs)
        pg = statistics.median(p for _, _, p in runs)
        print(
            f"  {way:>30}: {len(records) / wall:7.0f} records/s, {orders / wall:6.0f} orders/s, "
            f"{cpu / orders * 1000:5.2f} ms CPU/order (least {least / orders * 1000:5.2f}), "
            f"PostgreSQL {pg / orders * 1000:5.2f}  "
            "(rounds: " + ", ".join(f"{len(records) / w:.0f}/s" for w, _, _ in runs) + ")"
        )


if __name__ == "__main__":
    main()
