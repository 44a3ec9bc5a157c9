"""The orchestration role's backorder sweep on PostgreSQL: what a sweep costs as orders wait.

Run:  python -m benchmarks.route_sweep [--orders 2000] [--sweeps 5] [--raise 0]

`route_batches`' network and orders (100 sources, 10,000 SKUs, every tenth SKU scarce: 0-3
units at each of its sources, orders of 1-7 lines of 1-3 units): `--orders` new orders routed
in batches of 50 as the worker's consumer hands them over, every follower then brought up to
date (the backorder view), and `--sweeps` backorder sweeps timed one after the other: orders
waiting, orders decided again, the router's CPU and this run's PostgreSQL backends' CPU per
sweep. Many orders wait for more units of a scarce SKU than any one source holds while a unit
is free somewhere, so the sweep's first test (a free unit) passes for them every time.
`--raise N`: before each sweep after the first, N scarce SKUs counted up by one unit at one of
their sources (their wake-ups not delivered), so the sweep has that much to find.
"""

import argparse
import random
import statistics
import tempfile
import time

from benchmarks.route_batches import network_router
from benchmarks.route_profile import sku_name
from benchmarks.services import drop_database, fresh_database, postgres_server
from hub.bootstrap import Hub
from schemas.sources import StockSnapshot


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--orders", type=int, default=2000)
    parser.add_argument("--sweeps", type=int, default=5)
    parser.add_argument("--raise", dest="raised", type=int, default=0)
    args = parser.parse_args()
    server = postgres_server()
    url = fresh_database(server)
    try:
        rows = _measure(args, server, url)
    finally:
        drop_database(server, url)
    print(f"PostgreSQL, 100 sources, {args.orders} orders routed; per sweep:")
    for n, (waiting, tried, cpu, backend) in enumerate(rows, 1):
        print(
            f"  sweep {n}: {waiting} waiting, {tried} decided again, router {cpu:7.1f} ms CPU, "
            f"PostgreSQL {backend:6.1f} ms CPU"
        )
    later = rows[1:] or rows
    print(
        f"  median of sweeps 2-{len(rows)}: router {statistics.median(r[2] for r in later):.1f} ms,"
        f" PostgreSQL {statistics.median(r[3] for r in later):.1f} ms"
    )


Row = tuple[int, int, float, float]  # waiting, decided again, router ms, PostgreSQL ms


def _measure(args: argparse.Namespace, server: str, url: str) -> list[Row]:
    with tempfile.TemporaryDirectory(prefix="orderhub-sweep-") as tmp:
        router = network_router(server, url, tmp)
        hub = router.hub
        accepted = router.accepted(args.orders)
        router.timed([accepted[i : i + 50] for i in range(0, len(accepted), 50)])
        hub.deliver()  # the backorder view (and every other follower) up to date
        rng = random.Random(11)
        rows = []
        for n in range(args.sweeps):
            if n and args.raised:
                _raise(hub, rng, args.raised)
            waiting = len(hub.backorders.all_waiting({}))
            backend, cpu = router.backends.cpu(), time.process_time()
            tried = hub.orchestrator.sweep_backorders()
            cpu, backend = time.process_time() - cpu, router.backends.cpu() - backend
            rows.append((waiting, tried, 1000 * cpu, 1000 * backend))
        hub.close()
    return rows


def _raise(hub: Hub, rng: random.Random, count: int) -> None:
    """Scarce SKUs counted one unit up at a source holding them (not delivered)."""
    view = hub.orchestration.supply
    for _ in range(count):
        sku = sku_name(10 * rng.randrange(1_000))
        source_id = rng.choice(view.holders([sku])[sku])
        held = view.holding(source_id, sku)
        on_hand = (held.on_hand if held is not None else 0) + 1
        snapshot = StockSnapshot(source_id=source_id, sku=sku, on_hand=on_hand)
        hub.catalog.apply_stock(snapshot, actor="system:bench")


if __name__ == "__main__":
    main()
