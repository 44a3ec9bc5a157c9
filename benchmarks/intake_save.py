"""The intake's save alone, beside a busy interpreter: the event store's insert answered by its
notification ids (`insert_events`) against the same save answered by one count (`append_events`,
what the intake calls), alternated batch by batch in one process against one database.

Run:  python -m benchmarks.intake_save [--batches 40] [--orders 500] [--busy/--no-busy]
          [--switch 0.001]

Each batch is `--orders` orders' two stored events (placed, accepted: the intake's shape, made
by the aggregate and the mapper as `raw_limits.raw_store_rate` makes them), saved in a thread
while the main thread runs Python (as the intake's parse of the next batch holds the
interpreter while its save runs, hub.streaming.overlap); `--no-busy`: the main thread waits.
With `--switch S`, a third way: the append with the
interpreter's switch interval at S seconds while it runs (how long a thread waiting for the
interpreter lets the one holding it run on; the save's thread waits at its start and when its
answer comes). Printed per way: the save's wall time (median, quartiles) and its thread's
CPU. Alternating the ways batch by batch puts them at the same moment of a busy machine's load.
"""

import argparse
import statistics
import sys
import threading
import time
import uuid
from collections.abc import Callable
from datetime import UTC, datetime
from functools import partial
from typing import Any

from eventsourcing.persistence import StoredEvent

from benchmarks.flow_hub import REST_CHANNEL
from benchmarks.flow_load import placed_now
from benchmarks.network import OrderMaker, generate_network
from benchmarks.raw_limits import accepted_order_events
from benchmarks.services import drop_database, fresh_database, postgres_server
from hub.settings import Settings
from hub.store import OrderStore


def batch(store: OrderStore, maker: OrderMaker, tag: str, orders: int) -> list[StoredEvent]:
    now = datetime.now(UTC)
    stored: list[StoredEvent] = []
    for n in range(orders):
        body = maker.order(REST_CHANNEL, f"{tag}-{n}", placed_now())
        stored += accepted_order_events(store, body, tag, now)
    return stored


def timed_beside(save: Callable[[], Any], busy: bool) -> tuple[float, float]:
    """The save's wall time and its thread's CPU, run in a thread while this one spins."""
    out: list[float] = []

    def run() -> None:
        started, cpu = time.perf_counter(), time.thread_time()
        save()
        out.extend((time.perf_counter() - started, time.thread_time() - cpu))

    thread = threading.Thread(target=run)
    thread.start()
    while busy and thread.is_alive():
        sum(range(2_000))  # Python holding the interpreter, a few µs at a time
    thread.join()
    return out[0], out[1]


def main(argv: list[str] | None = None) -> None:
    parser = argparse.ArgumentParser(
        description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter
    )
    parser.add_argument("--batches", type=int, default=40, help="per way")
    parser.add_argument("--orders", type=int, default=500, help="orders per batch")
    parser.add_argument("--busy", action=argparse.BooleanOptionalAction, default=True)
    parser.add_argument(
        "--switch",
        type=float,
        help="also the append with this interpreter switch interval (s; Python's is 0.005)",
    )
    args = parser.parse_args(argv)
    server = postgres_server()
    database = fresh_database(server)
    store = OrderStore(env=Settings(database_url=database).eventsourcing_env())
    recorder: Any = store.recorder
    try:
        maker = OrderMaker(generate_network(100, 10_000, 7), seed=9)
        run = uuid.uuid4().hex[:8]
        default = sys.getswitchinterval()
        ways = {
            "insert_events": (recorder.insert_events, default),
            "append_events": (recorder.append_events, default),
        }
        if args.switch is not None:
            ways[f"append, {args.switch * 1000:g} ms"] = (recorder.append_events, args.switch)
        for name, (way, _) in ways.items():  # each connection's statements prepared first
            for k in range(4):
                way(batch(store, maker, f"{run}-warm-{name}-{k}", args.orders))
        times: dict[str, list[tuple[float, float]]] = {name: [] for name in ways}
        for k in range(args.batches):
            for name, (way, switch) in ways.items():
                events = batch(store, maker, f"{run}-{name}-{k}", args.orders)
                sys.setswitchinterval(switch)
                times[name].append(timed_beside(partial(way, events), args.busy))
                sys.setswitchinterval(default)
        for name, pairs in times.items():
            walls = sorted(1000 * w for w, _ in pairs)
            q1, median, q3 = statistics.quantiles(walls, n=4)
            cpu = statistics.median(1000 * c for _, c in pairs)
            print(
                f"{name:14s} {len(pairs)} saves of {2 * args.orders} events"
                f"{' beside a busy thread' if args.busy else ''}: wall median {median:.1f} ms "
                f"(quartiles {q1:.1f}-{q3:.1f}), thread CPU median {cpu:.2f} ms"
            )
    finally:
        store.close()
        drop_database(server, database)


if __name__ == "__main__":
    main()
