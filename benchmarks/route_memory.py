"""What routing keeps per order: the allocations still alive after N more orders, by line.

Run:  python -m benchmarks.route_memory [--warm 4000] [--orders 8000] [--depth 4]
                                        [--ship 0.95] [--known 20000]

The `route_history` network (100 sources, 10,000 SKUs, deep stock), orders placed and routed in
chunks of 50 in one process on SQLite, as the routing process does, under tracemalloc from the
first order: the memory held after `--warm` orders and after `--orders` more, and the change by
line (and the top ones by their calls): what grows with the orders routed. Under tracemalloc
routing runs several times slower. Nothing is shipped (every reservation stays open, as in
`benchmarks.flow --history` without `--ship`) unless `--ship SHARE`: after every 1,000 orders
routed, that share of the shipments requested is reported shipped through the fulfillment
service. `--known` sets the orchestrator's bounded cache of recorded-inputs digests smaller, so
that it is full after the warm-up and what grows after it is what is not bounded.
"""

import argparse
import gc
import random
import tempfile
import tracemalloc
from pathlib import Path

from benchmarks.flow_history import Shipper
from benchmarks.route_history import DEEP, SKUS, route
from benchmarks.route_profile import NOW, build_network
from hub.bootstrap import Hub, bootstrap
from hub.services import recorded_inputs
from hub.settings import Settings
from schemas.fulfillment import FulfillmentUpdate


def route_and_ship(hub: Hub, rng: random.Random, first: int, count: int, ship: Shipper) -> None:
    """Route `count` orders a thousand at a time, shipping the chosen share after each."""
    for start in range(first, first + count, 1_000):
        route(hub, rng, start, min(1_000, first + count - start))
        for body in ship.updates(ship.new_shipments(), NOW):
            hub.fulfillment.apply_update(FulfillmentUpdate.model_validate(body))


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--warm", type=int, default=4_000, help="orders before tracing")
    parser.add_argument("--orders", type=int, default=8_000, help="orders traced")
    parser.add_argument("--depth", type=int, default=4, help="frames kept per allocation")
    parser.add_argument("--top", type=int, default=15)
    parser.add_argument("--ship", type=float, default=0.0, help="share of shipments shipped")
    parser.add_argument("--known", type=int, default=recorded_inputs.KNOWN)
    args = parser.parse_args()
    recorded_inputs.KNOWN = args.known
    with tempfile.TemporaryDirectory(prefix="orderhub-route-memory-") as tmp:
        settings = Settings(data_dir=Path(tmp), kafka_bootstrap=None, database_url=None)
        hub = bootstrap(settings, clock=lambda: NOW)
        rng = random.Random(11)
        build_network(hub, rng, 100, SKUS, depth=DEEP)
        hub.orchestration.supply.refresh()
        ship = Shipper(settings, args.ship, seed=3)
        # Traced from the first order: what is replaced later (a cache's entries) is seen freed.
        tracemalloc.start(args.depth)
        route_and_ship(hub, rng, 0, args.warm, ship)
        gc.collect()
        before = tracemalloc.take_snapshot()
        held = tracemalloc.get_traced_memory()[0]
        print(f"{args.warm:,} orders (warm-up), {ship.requested:,} shipments requested")
        route_and_ship(hub, rng, args.warm, args.orders, ship)
        gc.collect()
        after = tracemalloc.take_snapshot()
        grown = tracemalloc.get_traced_memory()[0] - held
        print(f"held after the warm-up {held / 1e6:.1f} MB; ", end="")
        print(f"after {args.orders:,} more orders {grown / 1e6:+.1f} MB, ", end="")
        print(f"{grown / args.orders:,.0f} bytes per order; by line:")
        for stat in after.compare_to(before, "lineno")[: args.top]:
            print(f"  {stat}")
        print("the largest by their calls:")
        for stat in after.compare_to(before, "traceback")[:5]:
            print(f"  {stat.size_diff / 1e3:,.0f} kB in {stat.count_diff:,} blocks")
            for line in stat.traceback.format()[: 2 * args.depth]:
                print(f"    {line}")
        ship.close()
        hub.close()


if __name__ == "__main__":
    main()
