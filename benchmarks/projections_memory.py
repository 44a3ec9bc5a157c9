"""What the projections role keeps per order: its consumer fed a realistic history's records in
one process, no broker, under tracemalloc from the end of a warm-up; the memory still held after
the rest, by the line that allocated it.

Run:  python -m benchmarks.projections_memory [--orders 6000] [--warm 2000] [--batch 500]

The history of `benchmarks.projections_batch` (100 sources, 10,000 SKUs, orders of 1-7 lines
routed, a fifth shipped) recorded in a PostgreSQL database, the network applied to its views;
then its orders' records handed to the role's one consumer (`FeedsConsumer`, every view and
billing) in batches: the first `--warm` orders' records unmeasured (the bounded caches fill),
then the rest. What grows between the two snapshots and is not a bounded cache is kept per
order. A soak's floors (benchmarks.flow --orders) count, besides, what a lagging role holds in
its consumer's buffers; this does not.
"""

import argparse
import asyncio
import gc
import tempfile
import tracemalloc
from pathlib import Path

from benchmarks.projections_batch import copy_database, hub_on, prepare, role_feeds
from benchmarks.services import drop_database, postgres_server
from connectors.consumed import ConsumedMessage
from connectors.publisher import RecordingPublisher
from hub.streaming.feeds import FeedsConsumer
from schemas.event_types import EventType

MB = 1024 * 1024


async def feed(consumer: FeedsConsumer, records: list[ConsumedMessage], size: int) -> None:
    for start in range(0, len(records), size):
        await consumer.handle(records[start : start + size])


def split_at_order(records: list[ConsumedMessage], warm: int) -> int:
    """The index of the record that places order number `warm` + 1."""
    placed = 0
    for i, record in enumerate(records):
        if record.header("ce_type") == EventType.ORDER_PLACED:
            placed += 1
            if placed > warm:
                return i
    return len(records)


def snapshot() -> tracemalloc.Snapshot:
    gc.collect()
    return tracemalloc.take_snapshot()


def run(server: str, template: str, records: list[ConsumedMessage], args: argparse.Namespace,
        tmp: Path) -> None:  # fmt: skip
    url = copy_database(server, template)
    hub = hub_on(url, tmp)
    try:
        consumer = FeedsConsumer("projections", role_feeds(hub), RecordingPublisher(), hub.settings)
        cut = split_at_order(records, args.warm)
        asyncio.run(feed(consumer, records[:cut], args.batch))
        tracemalloc.start(args.frames)
        before = snapshot()
        asyncio.run(feed(consumer, records[cut:], args.batch))
        after = snapshot()
        held = sum(s.size for s in after.statistics("filename"))
        orders = args.orders - args.warm
        print(f"{orders:,} orders after {args.warm:,}: {held / MB:.2f} MB traced at the end")
        keep = [tracemalloc.Filter(False, tracemalloc.__file__)]
        stats = after.filter_traces(keep).compare_to(before.filter_traces(keep), "traceback")
        grown = sum(s.size_diff for s in stats)
        print(f"  grown {grown / MB:+.2f} MB, {grown / orders:+,.0f} bytes per order; the largest:")
        for stat in sorted(stats, key=lambda s: s.size_diff, reverse=True)[: args.top]:
            where = stat.traceback.format(limit=args.frames, most_recent_first=True)
            print(f"  {stat.size_diff / MB:+7.3f} MB {stat.count_diff:+8,d}  {where[0].strip()}")
            for caller in where[2::2]:
                print(f"  {'':25} <- {caller.strip()}")
    finally:
        hub.close()
        drop_database(server, url)


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--orders", type=int, default=6000)
    parser.add_argument("--warm", type=int, default=2000)
    parser.add_argument("--batch", type=int, default=500, help="records per consumed batch")
    parser.add_argument("--frames", type=int, default=3)
    parser.add_argument("--top", type=int, default=15)
    args = parser.parse_args()
    server = postgres_server()
    with tempfile.TemporaryDirectory(prefix="orderhub-projections-") as tmp:
        template, records, _ = prepare(server, args.orders, Path(tmp))
        try:
            run(server, template, records, args, Path(tmp))
        finally:
            drop_database(server, template)


if __name__ == "__main__":
    main()
