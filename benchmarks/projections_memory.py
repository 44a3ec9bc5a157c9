"""What the projections role keeps per order: its consumer fed a realistic history's records in
one process, no broker, under tracemalloc from the end of a warm-up; the memory still held after
the rest, by the line that allocated it.

Run:  python -m benchmarks.projections_memory [--orders 6000] [--warm 2000] [--batch 500]
      python -m benchmarks.projections_memory --series 100000 [--orders 2000] [--every 10000]

The history of `benchmarks.projections_batch` (100 sources, 10,000 SKUs, orders of 1-7 lines
routed, a fifth shipped) recorded in a PostgreSQL database, the network applied to its views;
then its orders' records handed to the role's one consumer (`FeedsConsumer`, every view and
billing) in batches: the first `--warm` orders' records unmeasured (the bounded caches fill),
then the rest. What grows between the two snapshots and is not a bounded cache is kept per
order. A soak's floors (benchmarks.flow --orders) count, besides, what a lagging role holds in
its consumer's buffers; this does not.

`--series N`: no tracemalloc; the process set up as a worker role's (`collect_for_batches`:
the start frozen, the young generation collected after 50,000, malloc trimmed every 30 s),
then N orders more fed in one event loop, copies of the recorded orders with their ids
renamed (`benchmarks.projections_history.clone`), in batches of 20 to `--batch` records
(a consumer's batches vary with its lag); every `--every` orders the process's RSS and
glibc's `mallinfo2` (taken from the system, in use, free; mmapped apart). The malloc settings
of a process can be set with `--mallopt`. `--billing`: billing in the consumer too, handed
the recorded orders' shipments again with every copy (it loads those orders from the event
store and finds them invoiced: the copies' orders are not in the store).
"""

import argparse
import asyncio
import ctypes
import ctypes.util
import gc
import os
import random
import tempfile
import time
import tracemalloc
from pathlib import Path

from benchmarks.procstats import rss_bytes
from benchmarks.projections_batch import copy_database, hub_on, prepare, role_feeds
from benchmarks.projections_history import Offsets, clone, history_consumer, load_prepared
from benchmarks.services import drop_database, postgres_server
from benchmarks.soak_trace.soak_tracer import _mallinfo
from connectors.consumed import ConsumedMessage
from connectors.publisher import RecordingPublisher
from hub.collector import collect_for_batches
from hub.streaming.feeds import FeedsConsumer
from schemas.event_types import EventType

MB = 1024 * 1024
# glibc's malloc.h
MALLOPT = {"trim": -1, "mmap": -3, "arenas": -8}


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


def mallopt(settings: str) -> None:
    """`name=value,…` of glibc's mallopt (mmap, trim, arenas), as a process could set them at
    its start; before any thread is made."""
    call = ctypes.CDLL(ctypes.util.find_library("c") or "libc.so.6").mallopt
    for item in filter(None, settings.split(",")):
        name, value = item.split("=")
        if call(MALLOPT[name], int(value)) != 1:
            raise SystemExit(f"mallopt {name}={value} refused")


def memory_line(orders: int, started: float) -> str:
    info = _mallinfo()
    taken = (info.get("arena", 0) + info.get("hblkhd", 0)) / MB
    rss = (rss_bytes(os.getpid()) or 0) / MB
    return (
        f"{orders:>9,} {time.perf_counter() - started:7.0f} {rss:8.1f} {taken:8.1f} "
        f"{info.get('uordblks', 0) / MB:8.1f} {info.get('fordblks', 0) / MB:8.1f} "
        f"{info.get('hblkhd', 0) / MB:8.1f}"
    )


async def series(consumer: FeedsConsumer, records: list[ConsumedMessage], args: argparse.Namespace,
                 topics: frozenset[str]) -> None:  # fmt: skip
    """`args.series` orders as copies of the recorded ones, in batches of varying size, with
    the memory line every `args.every` orders."""
    rng = random.Random(11)
    offsets = Offsets()
    per_copy = sum(1 for r in records if r.header("ce_type") == EventType.ORDER_PLACED)
    started = time.perf_counter()
    heads = ("s", "RSS MB", "malloc", "in use", "free", "mmapped")
    print(f"{'orders':>9} {heads[0]:>7} " + " ".join(f"{h:>8}" for h in heads[1:]))
    print(memory_line(0, started), flush=True)
    done = 0
    # The copies' orders are not in the event store, so billing finds none of them: each copy
    # hands it the recorded orders' shipments again, which it loads (and finds invoiced).
    shipped = [r for r in records if r.header("ce_type") == EventType.ORDER_SHIPMENT_PROGRESSED]
    for copy in range(1, args.series // per_copy + 1):
        placed = offsets.place(clone(records, copy, topics))
        if args.billing:
            placed += offsets.place(iter(shipped))
        start = 0
        while start < len(placed):
            size = rng.randint(20, args.batch)
            await consumer.handle(placed[start : start + size])
            start += size
        done += per_copy
        if done % args.every < per_copy:
            print(memory_line(done, started), flush=True)


def run_series(server: str, template: str, records: list[ConsumedMessage],
               args: argparse.Namespace, tmp: Path) -> None:  # fmt: skip
    url = copy_database(server, template)
    hub = hub_on(url, tmp)
    try:
        consumer = (
            FeedsConsumer("projections", role_feeds(hub), RecordingPublisher(), hub.settings)
            if args.billing
            else history_consumer(hub)
        )
        topics = frozenset(hub.settings.topic(t) for t in ("order_events", "rejected"))
        collect_for_batches()
        asyncio.run(series(consumer, records, args, topics))
    finally:
        hub.close()
        drop_database(server, url)


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--series", type=int, default=0, help="orders fed, memory by orders")
    parser.add_argument("--every", type=int, default=10_000)
    parser.add_argument("--billing", action="store_true", help="billing too, as said above")
    parser.add_argument("--mallopt", default="", help="e.g. mmap=1048576,arenas=2")
    parser.add_argument(
        "--load",
        type=Path,
        help="projections_history --save's FILE: its short history's "
        "template and records, so that this process records nothing before the series",
    )
    parser.add_argument("--orders", type=int, default=6000)
    parser.add_argument("--warm", type=int, default=2000)
    parser.add_argument("--batch", type=int, default=500, help="records per consumed batch")
    parser.add_argument("--frames", type=int, default=3)
    parser.add_argument("--top", type=int, default=15)
    args = parser.parse_args()
    mallopt(args.mallopt)
    server = postgres_server()
    if args.load:
        kept = load_prepared(args.load)
        with tempfile.TemporaryDirectory(prefix="orderhub-projections-") as tmp:
            run_series(server, kept.templates["short"], kept.records, args, Path(tmp))
        return
    with tempfile.TemporaryDirectory(prefix="orderhub-projections-") as tmp:
        template, records, _ = prepare(server, args.orders, Path(tmp))
        try:
            if args.series:
                run_series(server, template, records, args, Path(tmp))
            else:
                run(server, template, records, args, Path(tmp))
        finally:
            drop_database(server, template)


if __name__ == "__main__":
    main()
