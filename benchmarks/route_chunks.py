"""Routing new orders one by one vs in chunks (one view of stock, one save per chunk), on the
issue's network, in SQLite or PostgreSQL: orders/s and the router's own CPU per order.

Run:  python -m benchmarks.route_chunks [--postgres] [--chunk 50] [--orders 200] [--rounds 3]

Each way runs twice: reading the orders and stock items of a chunk (or of one order) together
in one query (`OrderStore.get_many`, what the hub does), and one aggregate per query (the
library's `repository.get`, as before). Rounds alternate the ways on fresh orders, so a busy
machine affects all alike.
"""

import argparse
import random
import statistics
import tempfile
import time
from collections.abc import Iterator
from contextlib import contextmanager
from pathlib import Path
from uuid import UUID

from benchmarks.route_profile import NOW, build_network, order_command
from benchmarks.services import drop_database, fresh_database, postgres_server
from hub.bootstrap import Hub, bootstrap
from hub.settings import Settings
from hub.store import OrderStore

BEFORE = "one query per aggregate"


@contextmanager
def one_query_per_aggregate(store: OrderStore, on: bool) -> Iterator[None]:
    """While on, `get_many` reads each aggregate by its own query, as the code did before."""

    if on:
        store.get_many = store.get_each  # type: ignore[method-assign]
    try:
        yield
    finally:
        vars(store).pop("get_many", None)


def _route(
    hub: Hub, rng: random.Random, first: int, count: int, chunk: int, separate: bool
) -> tuple[float, float]:
    commands = [order_command(rng, first + i, 10_000) for i in range(count)]
    hub.intake.place_orders(commands)
    ids = [c.order_id for c in commands]
    with one_query_per_aggregate(hub.store, separate):
        return _timed(hub, ids, chunk)


def _timed(hub: Hub, ids: list[UUID], chunk: int) -> tuple[float, float]:
    count = len(ids)
    wall, cpu = time.perf_counter(), time.process_time()
    if chunk == 1:
        for order_id in ids:
            hub.orchestration.orchestrate(order_id)
    else:
        for start in range(0, count, chunk):
            hub.orchestration.orchestrate_many(ids[start : start + chunk])
    wall, cpu = time.perf_counter() - wall, time.process_time() - cpu
    return count / wall, cpu / count * 1000


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--postgres", action="store_true", help="a fresh PostgreSQL database")
    parser.add_argument("--chunk", type=int, default=50)
    parser.add_argument("--orders", type=int, default=200, help="orders per round and way")
    parser.add_argument("--rounds", type=int, default=3)
    parser.add_argument("--sources", type=int, default=100)
    args = parser.parse_args()
    server = postgres_server() if args.postgres else None
    url = fresh_database(server) if server else None
    try:
        with tempfile.TemporaryDirectory(prefix="orderhub-chunks-") as tmp:
            settings = Settings(data_dir=Path(tmp), kafka_bootstrap=None, database_url=url)
            hub = bootstrap(settings, clock=lambda: NOW)
            rng = random.Random(7)
            build_network(hub, rng, args.sources, 10_000)
            hub.deliver()
            ways = [
                (f"{name}, {reads}", chunk, reads == BEFORE)
                for name, chunk in (("one by one", 1), (f"chunks of {args.chunk}", args.chunk))
                for reads in (BEFORE, "multi-get")
            ]
            figures: dict[str, list[tuple[float, float]]] = {way: [] for way, _, _ in ways}
            _route(hub, rng, 0, 20, args.chunk, False)  # warm-up: imports, compiled policy
            first = 1_000
            for _ in range(args.rounds):
                for way, chunk, separate in ways:
                    figures[way].append(_route(hub, rng, first, args.orders, chunk, separate))
                    first += args.orders
            hub.close()
        store = "PostgreSQL" if url else "SQLite"
        print(f"{store}, {args.sources} sources, {args.orders} orders x {args.rounds} rounds:")
        for way, runs in figures.items():
            rate = statistics.median(r for r, _ in runs)
            cpu = statistics.median(c for _, c in runs)
            print(f"  {way:>44}: median {rate:6.0f} orders/s, {cpu:5.2f} ms CPU/order (router)")
    finally:
        if server and url:
            drop_database(server, url)


if __name__ == "__main__":
    main()
