"""Stock loads over Kafka alone: the flow benchmark's setup stage, without the order steps.

Run:  python -m benchmarks.stock_feed [--skus 2000] [--runs 1] [--batch 500] [--json out.json]

Per run: a fresh distributed hub (`orderhub serve`, `relay`, `worker` on the real broker and a
fresh PostgreSQL database, topics under a prefix of their own), the generated network's sources
over REST, then every stock row as a snapshot on `orderhub.inventory.snapshots`, timed exactly as
`python -m benchmarks.flow` times it (first send → last stock item seen on
`orderhub.inventory.events`), and the time until the rows were all in the event store (the
fulfillment role's part, before the relay), also counted from the first row stored (the rate
once the worker has started: the rows are sent as the worker starts, and its start-up is most
of the time before). Then the raw store append of the same server at the
same batch size (`benchmarks.raw_limits`, orders/s, 2 events each), and the load average.
"""

import argparse
import asyncio
import json
import os
import time
from pathlib import Path
from typing import Any

import psycopg

from benchmarks.flow import raw_limits
from benchmarks.flow_hub import RunningHub, load_stock_kafka, register, running_hub
from benchmarks.flow_watch import KafkaWatcher
from benchmarks.network import Network, OrderMaker, generate_network
from benchmarks.procstats import CpuWindow

STOCK_REGISTERED = "StockItem.Registered"
ROLES = 4  # the worker's role processes


def stored_stock_items(conn: psycopg.Connection[Any]) -> int:
    """Stock items in the hub's event store (their first event), from another connection."""
    row = conn.execute(
        "SELECT count(*) FROM orderhub_events WHERE topic LIKE %s", (f"%{STOCK_REGISTERED}",)
    ).fetchone()
    return int(row[0]) if row else 0


def one_run(args: argparse.Namespace, run: int) -> dict[str, Any]:
    network = generate_network(args.sources, args.skus, args.seed)
    tmp = Path(f"/tmp/orderhub-stockfeed-{os.getpid()}-{run}")
    with running_hub("distributed", tmp, args.batch) as hub:
        register(hub, network)
        hub.start_worker()
        return asyncio.run(load(hub, network, args))


async def load(hub: RunningHub, network: Network, args: argparse.Namespace) -> dict[str, Any]:
    stop = asyncio.Event()
    watching = asyncio.create_task(KafkaWatcher(hub.settings, hub.seen).run(stop))
    assert hub.settings.database_url is not None
    url = hub.settings.database_url
    stored_at: list[float] = []
    first_at: list[float] = []

    async def watch_store(started: float) -> None:
        conn: psycopg.Connection[Any] = await asyncio.to_thread(
            lambda: psycopg.connect(url, autocommit=True)
        )
        with conn:
            while (stored := await asyncio.to_thread(stored_stock_items, conn)) < len(
                network.stock
            ):
                if stored and not first_at:
                    first_at.append(time.perf_counter() - started)
                await asyncio.sleep(0.2)
        stored_at.append(time.perf_counter() - started)

    try:
        # The roles' processes, once the worker has spawned them (their start-up is in the
        # load's time, as in benchmarks.flow, which sends right after starting the worker).
        pids = hub.pids()
        for _ in range(100):
            if sum(1 for name in pids if name.startswith("worker ")) >= ROLES:
                break
            await asyncio.sleep(0.05)
            pids = hub.pids()
        cpu = CpuWindow(pids)
        t0 = time.perf_counter()
        cpu.start(t0)
        storing = asyncio.create_task(watch_store(time.perf_counter()))
        seconds = await load_stock_kafka(hub, network, args.stall)
        await asyncio.wait_for(storing, args.stall)
        t1 = time.perf_counter()
        used = {k: v * (t1 - t0) for k, v in cpu.stop(t1).items()}
        load = os.getloadavg()
        raw = await raw_limits(hub, OrderMaker(network, seed=args.seed + 1), args, 2_000)
    finally:
        stop.set()
        await watching
    rows = len(network.stock)
    return {
        "rows": rows,
        "seconds": seconds,
        "rows_per_min": rows / seconds * 60,
        "stored_seconds": stored_at[0],
        "stored_rows_per_min": rows / stored_at[0] * 60,
        # From the first row in the store to the last: the rate once the worker has started
        # (the time before it is mostly the worker's start-up, as the load is sent at once).
        "first_stored_seconds": first_at[0] if first_at else 0.0,
        "steady_rows_per_min": rows / max(stored_at[0] - (first_at or [0.0])[0], 1e-9) * 60,
        "raw_store_orders_per_s": raw["store_orders_per_s"],
        "loadavg": load,
        # CPU seconds of each process (worker roles apart) per 1,000 rows, send to last seen.
        "cpu_s_per_1000_rows": {k: round(v * 1000 / rows, 3) for k, v in used.items()},
    }


def main(argv: list[str] | None = None) -> None:
    parser = argparse.ArgumentParser(
        description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter
    )
    parser.add_argument("--skus", type=int, default=2_000, help="10000: the issue's network")
    parser.add_argument("--sources", type=int, default=100)
    parser.add_argument("--seed", type=int, default=7)
    parser.add_argument("--batch", type=int, default=500, help="the hub's batch sizes")
    parser.add_argument("--runs", type=int, default=1, help="fresh hubs, one after the other")
    parser.add_argument("--stall", type=float, default=120)
    parser.add_argument("--json", type=Path)
    args = parser.parse_args(argv)
    results = []
    for run in range(args.runs):
        result = one_run(args, run)
        results.append(result)
        print(
            f"run {run + 1}: {result['rows']:,} rows in {result['seconds']:.1f} s: "
            f"{result['rows_per_min']:,.0f} rows/min on the inventory events topic, "
            f"{result['stored_rows_per_min']:,.0f} rows/min into the store (first row stored "
            f"after {result['first_stored_seconds']:.1f} s, then "
            f"{result['steady_rows_per_min']:,.0f} rows/min); raw store append "
            f"{result['raw_store_orders_per_s']:,.0f} orders/s (batch {args.batch}); "
            f"load {result['loadavg'][0]:.2f}",
            flush=True,
        )
        print("  CPU s per 1,000 rows:", result["cpu_s_per_1000_rows"], flush=True)
    if args.json:
        args.json.write_text(json.dumps({"args": vars(args) | {"json": str(args.json)},
                                         "runs": results}, indent=2))  # fmt: skip


if __name__ == "__main__":
    main()
