"""One call's CPU warm and cold: what a request's code costs when other work ran in between.

Run:  python -m benchmarks.cold_calls [--orders 500] [--rounds 3]

The API validates each captured order (`OrderSubmission.model_validate`); inside the serving
process that took 76-81 µs of the thread's CPU per order, against 16 µs for the same call in a
loop (benchmarks/README.md, uv22). Here the same call on the flow's generated orders, timed by
the thread's CPU clock around the call alone, one order after another (warm), and with other
work between two calls, outside the timed part, as a request's code meets it on a shared
machine: 32 MB of memory touched (another process's working set through the caches), 200,000
Python objects walked (another thread's or process's Python work), or a 1 ms sleep (the core
left to whatever else runs). Rounds alternate the kinds; medians printed. A single call timed in
a loop is the warm figure; the others bound what the same code costs between other work.
"""

import argparse
import statistics
import time
from collections.abc import Callable

from benchmarks.network import OrderMaker, generate_network
from schemas.submission import OrderSubmission

MEMORY_TOUCHED = 32 * 1024 * 1024
OBJECTS_WALKED = 200_000


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    parser.add_argument("--orders", type=int, default=500)
    parser.add_argument("--rounds", type=int, default=3)
    args = parser.parse_args()
    maker = OrderMaker(generate_network(sources=100, skus=10_000))
    orders = [maker.order("web", f"cold-{i}", "2026-12-07T10:00:00Z") for i in range(args.orders)]
    memory = bytearray(MEMORY_TOUCHED)
    objects = [{"n": i} for i in range(OBJECTS_WALKED)]

    def touch_memory() -> None:
        for i in range(0, MEMORY_TOUCHED, 64):  # one byte per cache line
            memory[i] = (memory[i] + 1) & 255

    def walk_objects() -> None:
        total = 0
        for item in objects:
            total += item["n"]

    between: dict[str, Callable[[], None] | None] = {
        "warm (one after another)": None,
        "after 1 ms asleep": lambda: time.sleep(0.001),
        "after 200,000 objects walked": walk_objects,
        "after 32 MB touched": touch_memory,
    }
    figures: dict[str, list[float]] = {name: [] for name in between}
    for _ in range(args.rounds):
        for name, work in between.items():
            spent = 0
            for order in orders:
                if work is not None:
                    work()
                started = time.thread_time_ns()
                OrderSubmission.model_validate(order)
                spent += time.thread_time_ns() - started
            figures[name].append(spent / len(orders) / 1000)
    for name, values in figures.items():
        rounds = ", ".join(f"{v:.1f}" for v in values)
        print(f"{name:>30}: {statistics.median(values):6.1f} µs CPU per validation ({rounds})")


if __name__ == "__main__":
    main()
