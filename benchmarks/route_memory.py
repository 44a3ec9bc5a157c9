"""What routing keeps per order: the allocations still alive after N more orders, by line.

Run:  python -m benchmarks.route_memory [--warm 4000] [--orders 8000] [--depth 4]

The `route_history` network (100 sources, 10,000 SKUs, deep stock), orders placed and routed in
chunks of 50 in one process on SQLite, as the routing process does. After `--warm` orders,
tracemalloc starts; after `--orders` more, the allocations made meanwhile and still alive are
listed by line (and the top ones by their calls): what grows with the orders routed. Under
tracemalloc routing runs several times slower, and the process's RSS counts tracemalloc's own
books, so the traced total is the figure to read. Nothing is shipped: every reservation stays
open, as in `benchmarks.flow --history` without `--ship`.
"""

import argparse
import gc
import random
import tempfile
import tracemalloc
from pathlib import Path

from benchmarks.route_history import DEEP, SKUS, route
from benchmarks.route_profile import NOW, build_network
from hub.bootstrap import bootstrap
from hub.settings import Settings


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--warm", type=int, default=4_000, help="orders before tracing")
    parser.add_argument("--orders", type=int, default=8_000, help="orders traced")
    parser.add_argument("--depth", type=int, default=4, help="frames kept per allocation")
    parser.add_argument("--top", type=int, default=15)
    args = parser.parse_args()
    with tempfile.TemporaryDirectory(prefix="orderhub-route-memory-") as tmp:
        settings = Settings(data_dir=Path(tmp), kafka_bootstrap=None, database_url=None)
        hub = bootstrap(settings, clock=lambda: NOW)
        rng = random.Random(11)
        build_network(hub, rng, 100, SKUS, depth=DEEP)
        hub.orchestration.supply.refresh()
        rate, cpu = route(hub, rng, 0, args.warm)
        print(f"{args.warm:,} orders before tracing: {rate:,.0f} orders/s, {cpu:.2f} ms CPU/order")
        gc.collect()
        tracemalloc.start(args.depth)
        before = tracemalloc.take_snapshot()
        route(hub, rng, args.warm, args.orders)
        gc.collect()
        after = tracemalloc.take_snapshot()
        traced = tracemalloc.get_traced_memory()[0]
        print(f"alive after {args.orders:,} more orders: {traced / 1e6:.1f} MB, ", end="")
        print(f"{traced / args.orders:,.0f} bytes per order; by line:")
        for stat in after.compare_to(before, "lineno")[: args.top]:
            print(f"  {stat}")
        print("the largest by their calls:")
        for stat in after.compare_to(before, "traceback")[:5]:
            print(f"  {stat.size_diff / 1e3:,.0f} kB in {stat.count_diff:,} blocks")
            for line in stat.traceback.format()[: 2 * args.depth]:
                print(f"    {line}")
        hub.close()


if __name__ == "__main__":
    main()
