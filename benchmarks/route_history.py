"""Routing cost against the length of the history: the first orders of a hub vs after many more.

Run:  python -m benchmarks.route_history [--postgres] [--history 50000] [--window 2000]
                                         [--no-snapshots]

The network of `route_profile` (100 sources, 10,000 SKUs each at 2-6 of them, orders of 1-7
lines), with every non-scarce stock row deep enough that the history does not empty it (so the
orders after it meet the same network, not a sold-out one). Orders are placed and routed in
chunks of 50, as the orchestrator follower does, in one process on the event store (no broker,
no HTTP). Measured: a window of orders on the fresh hub; `--history` more orders routed the
same way (each stock item it touches gathers events: reservations on popular SKUs run to
thousands); the window again; and how long a new supply view takes to rebuild from the log
(what a restarting worker does).
"""

import argparse
import random
import tempfile
import time
from pathlib import Path

from benchmarks.route_profile import NOW, build_network, order_command
from benchmarks.services import drop_database, fresh_database, postgres_server
from hub.bootstrap import Hub, bootstrap
from hub.services.supply_view import SupplyView
from hub.settings import Settings
from hub.store import OrderStore

CHUNK = 50
SKUS = 10_000
DEEP = 1_000  # non-scarce on-hand is multiplied by this: the history does not sell it out


def route(hub: Hub, rng: random.Random, first: int, count: int) -> tuple[float, float]:
    """Place and route `count` orders in chunks; orders/s (routing only) and CPU ms per order."""
    commands = [order_command(rng, first + i, SKUS) for i in range(count)]
    wall = cpu = 0.0
    for start in range(0, count, 1_000):
        part = commands[start : start + 1_000]
        hub.intake.place_orders(part)
        ids = [c.order_id for c in part]
        w, c = time.perf_counter(), time.process_time()
        for at in range(0, len(ids), CHUNK):
            hub.orchestration.orchestrate_many(ids[at : at + CHUNK])
        wall += time.perf_counter() - w
        cpu += time.process_time() - c
    return count / wall, cpu / count * 1000


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--postgres", action="store_true", help="a fresh PostgreSQL database")
    parser.add_argument("--history", type=int, default=50_000, help="orders between the windows")
    parser.add_argument("--window", type=int, default=2_000, help="orders measured each time")
    parser.add_argument("--sources", type=int, default=100)
    parser.add_argument(
        "--no-snapshots", action="store_true", help="stock items without snapshots (as before)"
    )
    args = parser.parse_args()
    if args.no_snapshots:
        OrderStore.snapshotting_intervals = {}
    server = postgres_server() if args.postgres else None
    url = fresh_database(server) if server else None
    rows: list[tuple[str, float, float]] = []
    try:
        with tempfile.TemporaryDirectory(prefix="orderhub-route-history-") as tmp:
            settings = Settings(data_dir=Path(tmp), kafka_bootstrap=None, database_url=url)
            hub = bootstrap(settings, clock=lambda: NOW)
            rng = random.Random(11)
            build_network(hub, rng, args.sources, SKUS, depth=DEEP)
            hub.orchestration.supply.refresh()
            n = 0
            rows.append(("first orders", *route(hub, rng, n, args.window)))
            n += args.window
            for done in range(0, args.history, 10_000):
                part = min(10_000, args.history - done)
                rate, _ = route(hub, rng, n, part)
                n += part
                print(f"  history: {done + part:,} of {args.history:,} ({rate:,.0f} orders/s)")
            rows.append((f"after {args.history:,} more", *route(hub, rng, n, args.window)))
            n += args.window
            events = hub.store.max_position()
            started = time.perf_counter()
            applied = SupplyView(hub.store).refresh()
            rebuild = time.perf_counter() - started
            hub.close()
        store = "PostgreSQL" if url else "SQLite"
        snapshots = "no snapshots" if args.no_snapshots else "stock snapshots"
        print(f"{store}, {args.sources} sources, chunks of {CHUNK}, {snapshots}:")
        for label, rate, cpu in rows:
            print(f"  {label:<30} {rate:8.0f} orders/s  {cpu:6.2f} ms CPU/order")
        print(
            f"  supply view rebuilt from the log ({events:,} events, {applied:,} about supply): "
            f"{rebuild:.1f} s"
        )
    finally:
        if server and url:
            drop_database(server, url)


if __name__ == "__main__":
    main()
