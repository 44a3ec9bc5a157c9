"""Loading a stock item as its history grows: from its last snapshot, and replaying everything.

Run:  python -m benchmarks.stock_history [--postgres] [--lengths 1000,10000,50000] [--loads 20]
          [--in-flight 200] [--save-events 2000]

A stock item takes an event per reservation, release, shipment and count of its SKU at its
source, so a popular SKU at a DC gathers thousands a week. Routing reloads an item whenever
another process changed it (a shipment, a stock count) or after a restart, and the fulfillment
role loads it for every shipment. This builds one item to each length (a reservation per
order, one in ten cancelled, the others shipped 200 orders later, a count every 25 orders; saved
four orders at a time as routing saves them) and times loading it with the store's snapshots
and with a store that replays every event; and the cost of saving with snapshots and without.

`--in-flight N`: the orders an item holds before they ship (200); with `--in-flight 0` nothing
ships, and an item's open reservations (what its snapshot lists) grow with its history, as for
pre-orders, backorders or slow drop-shippers. Loads and saves are also timed with a snapshot
every 50 events whatever the item holds (the store's rule before it spaced them by the units
reserved: `hub.store.stock_snapshot_every`), with the snapshots' bytes written per event.
"""

import argparse
import contextlib
import statistics
import tempfile
import time
from collections.abc import Callable, Iterator
from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import Any, ClassVar

from aggregates.stock import StockItem
from benchmarks.services import drop_database, fresh_database, postgres_server
from hub import store as store_module
from hub.settings import Settings
from hub.store import STOCK_SNAPSHOT_EVERY, OrderStore

T0 = datetime(2026, 11, 20, 9, 0, tzinfo=UTC)
REPLAY_UP_TO = 10_000  # replaying longer histories takes seconds a load
IN_FLIGHT = 200  # orders reserved here and not shipped yet: what a snapshot carries
NEVER = 0  # --in-flight 0: nothing ships


class ReplayingStore(OrderStore):
    """The same store, taking no snapshots (what the hub did before)."""

    name = OrderStore.name  # the same tables (the library names them after the class)
    snapshotting_intervals: ClassVar[dict[type[Any], int]] = {}


@contextlib.contextmanager
def every_fifty_events() -> Iterator[None]:
    """Snapshots every `STOCK_SNAPSHOT_EVERY` events whatever the item holds (the rule before)."""
    spacing = store_module.UNITS_PER_SNAPSHOT_EVENT
    store_module.UNITS_PER_SNAPSHOT_EVENT = 10**18
    try:
        yield
    finally:
        store_module.UNITS_PER_SNAPSHOT_EVENT = spacing


def grow(
    store: OrderStore, item: StockItem, to_version: int, start: int, in_flight: int = IN_FLIGHT
) -> int:
    """Commands on the item until it reaches a version; returns the next order number."""
    n = start
    while item.version < to_version:
        at = T0 + timedelta(seconds=n)
        item.reserve(f"order-{n}", 1, at)
        if n % 10 == 0:
            item.release(f"order-{n}", at, "cancelled")
        shipped = f"order-{n - in_flight}"
        if in_flight != NEVER and shipped in item.reservations:
            item.consume(shipped, 1, at)
        if n % 25 == 0:
            item.count(10**9 - n, None, at, "cycle count")
        n += 1
        if n % 4 == 0:
            store.save(item)
    store.save(item)
    return n


def median_ms(job: Callable[[], object], times: int) -> float:
    runs = []
    for _ in range(times):
        started = time.perf_counter()
        job()
        runs.append((time.perf_counter() - started) * 1000)
    return statistics.median(runs)


def run(
    env: dict[str, str], lengths: list[int], loads: int, in_flight: int, sku: str = "RED-CHAIR"
) -> list[tuple[int, float, float]]:
    store = OrderStore(env=env)
    item = StockItem(source_id="dc-fr", sku=sku, on_hand=10**9, safety_stock=0, at=T0)
    rows, n = [], 0
    for length in lengths:
        n = grow(store, item, length, n, in_flight)
        snap = median_ms(lambda: store.repository_for(StockItem).get(item.id), loads)
        replay = (  # the plain repository loads without snapshots
            median_ms(lambda: store.repository.get(item.id), max(3, loads // 5))
            if length <= REPLAY_UP_TO
            else float("nan")
        )
        rows.append((item.version, snap, replay))
    store.close()
    return rows


def save_cost(
    env: dict[str, str], store_class: type[OrderStore], events: int, in_flight: int, sku: str
) -> tuple[float, float]:
    """Milliseconds per save of four orders over a history of `events` events, and the bytes of
    snapshots written per event (`sku`: one item per variant in the same database)."""
    store = store_class(env=env)
    item = StockItem(source_id="dc-de", sku=sku, on_hand=10**9, safety_stock=0, at=T0)
    store.save(item)
    started = time.perf_counter()
    grow(store, item, events, 0, in_flight)
    elapsed = time.perf_counter() - started
    stored = store.snapshots.recorder.select_events(item.id) if store.snapshots else []
    written = sum(len(snapshot.state) for snapshot in stored)
    store.close()
    saves = events / (8.1 if in_flight != NEVER else 4.4)  # events per save of four orders
    return elapsed * 1000 / saves, written / events


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--postgres", action="store_true", help="a fresh PostgreSQL database")
    parser.add_argument("--lengths", default="1000,10000,50000")
    parser.add_argument("--loads", type=int, default=20, help="loads timed per length")
    parser.add_argument(
        "--in-flight", type=int, default=IN_FLIGHT, help="orders held till they ship; 0: never"
    )
    parser.add_argument("--save-events", type=int, default=2_000, help="history of the saves")
    args = parser.parse_args()
    lengths = [int(x) for x in args.lengths.split(",")]
    server = postgres_server() if args.postgres else None
    url = fresh_database(server) if server else None
    try:
        with tempfile.TemporaryDirectory(prefix="orderhub-stock-history-") as tmp:
            env = Settings(data_dir=Path(tmp), kafka_bootstrap=None, database_url=url)
            store_env = env.eventsourcing_env()
            rows = run(store_env, lengths, args.loads, args.in_flight)
            saving = args.save_events, args.in_flight
            with_snapshots = save_cost(store_env, OrderStore, *saving, "SOFA-spaced")
            without = save_cost(store_env, ReplayingStore, *saving, "SOFA-replaying")
            with every_fifty_events():
                fixed = save_cost(store_env, OrderStore, *saving, "SOFA-every-50")
                fixed_rows = run(store_env, lengths, args.loads, args.in_flight, "RED-SOFA")
        store = "PostgreSQL" if url else "SQLite"
        shipping = f"{args.in_flight} orders in flight" if args.in_flight else "nothing shipped"
        print(f"{store}, snapshots from every {STOCK_SNAPSHOT_EVERY} events, {shipping}")
        print(f"  {'events':>8} {'load, snapshots':>16} {'(every 50)':>11} {'replay all':>11}")
        for (version, snap, replay), (_, every_50, _) in zip(rows, fixed_rows, strict=True):
            print(f"  {version:>8,} {snap:>13.1f} ms {every_50:>8.1f} ms {replay:>8.1f} ms")
        print(
            f"  saves of four orders over {args.save_events:,} events (snapshot bytes per event):"
        )
        print(f"    with snapshots spaced by the units reserved: {_cost(with_snapshots)}")
        print(f"    with a snapshot every {STOCK_SNAPSHOT_EVERY} events: {_cost(fixed)}")
        print(f"    without snapshots: {_cost(without)}")
    finally:
        if server and url:
            drop_database(server, url)


def _cost(cost: tuple[float, float]) -> str:
    return f"{cost[0]:.2f} ms a save ({cost[1]:,.0f} B)"


if __name__ == "__main__":
    main()
