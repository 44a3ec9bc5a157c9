"""Loading a stock item as its history grows: from its last snapshot, and replaying everything.

Run:  python -m benchmarks.stock_history [--postgres] [--lengths 1000,10000,50000] [--loads 20]

A stock item takes an event per reservation, release, shipment and count of its SKU at its
source, so a popular SKU at a DC gathers thousands a week. Routing reloads an item whenever
another process changed it (a shipment, a stock count) or after a restart, and the fulfillment
role loads it for every shipment. This builds one item to each length (a reservation per
order, one in ten cancelled, the others shipped 200 orders later, a count every 25 orders; saved
four orders at a time as routing saves them) and times loading it with the store's snapshots
and with a store that replays every event; and the cost of saving with snapshots and without.
"""

import argparse
import statistics
import tempfile
import time
from collections.abc import Callable
from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import Any, ClassVar

from aggregates.stock import StockItem
from benchmarks.services import drop_database, fresh_database, postgres_server
from hub.settings import Settings
from hub.store import STOCK_SNAPSHOT_EVERY, OrderStore

T0 = datetime(2026, 11, 20, 9, 0, tzinfo=UTC)
REPLAY_UP_TO = 10_000  # replaying longer histories takes seconds a load
IN_FLIGHT = 200  # orders reserved here and not shipped yet: what a snapshot carries


class ReplayingStore(OrderStore):
    """The same store, taking no snapshots (what the hub did before)."""

    name = OrderStore.name  # the same tables (the library names them after the class)
    snapshotting_intervals: ClassVar[dict[type[Any], int]] = {}


def grow(store: OrderStore, item: StockItem, to_version: int, start: int) -> int:
    """Commands on the item until it reaches a version; returns the next order number."""
    n = start
    while item.version < to_version:
        at = T0 + timedelta(seconds=n)
        item.reserve(f"order-{n}", 1, at)
        if n % 10 == 0:
            item.release(f"order-{n}", at, "cancelled")
        shipped = f"order-{n - IN_FLIGHT}"
        if shipped in item.reservations:
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


def run(env: dict[str, str], lengths: list[int], loads: int) -> list[tuple[int, float, float]]:
    store = OrderStore(env=env)
    item = StockItem(source_id="dc-fr", sku="RED-CHAIR", on_hand=10**9, safety_stock=0, at=T0)
    rows, n = [], 0
    for length in lengths:
        n = grow(store, item, length, n)
        snap = median_ms(lambda: store.repository_for(StockItem).get(item.id), loads)
        replay = (  # the plain repository loads without snapshots
            median_ms(lambda: store.repository.get(item.id), max(3, loads // 5))
            if length <= REPLAY_UP_TO
            else float("nan")
        )
        rows.append((item.version, snap, replay))
    store.close()
    return rows


def save_cost(env: dict[str, str], store_class: type[OrderStore], events: int) -> float:
    """Milliseconds per save of four orders, over a history of `events` events."""
    store = store_class(env=env)
    sku = f"SOFA-{store_class.__name__}"  # one item per store class in the same database
    item = StockItem(source_id="dc-de", sku=sku, on_hand=10**9, safety_stock=0, at=T0)
    store.save(item)
    started = time.perf_counter()
    grow(store, item, events, 0)
    elapsed = time.perf_counter() - started
    store.close()
    return elapsed * 1000 / (events / 8.1)  # about 8.1 events per save of four orders


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--postgres", action="store_true", help="a fresh PostgreSQL database")
    parser.add_argument("--lengths", default="1000,10000,50000")
    parser.add_argument("--loads", type=int, default=20, help="loads timed per length")
    args = parser.parse_args()
    lengths = [int(x) for x in args.lengths.split(",")]
    server = postgres_server() if args.postgres else None
    url = fresh_database(server) if server else None
    try:
        with tempfile.TemporaryDirectory(prefix="orderhub-stock-history-") as tmp:
            env = Settings(data_dir=Path(tmp), kafka_bootstrap=None, database_url=url)
            store_env = env.eventsourcing_env()
            rows = run(store_env, lengths, args.loads)
            with_snapshots = save_cost(store_env, OrderStore, 2_000)
            without = save_cost(store_env, ReplayingStore, 2_000)
        store = "PostgreSQL" if url else "SQLite"
        print(f"{store}, a snapshot every {STOCK_SNAPSHOT_EVERY} events")
        print(f"  {'events':>8} {'load, snapshots':>16} {'load, replay all':>17}")
        for version, snap, replay in rows:
            print(f"  {version:>8,} {snap:>13.1f} ms {replay:>14.1f} ms")
        print(
            f"  save of four orders: {with_snapshots:.2f} ms with snapshots, "
            f"{without:.2f} ms without"
        )
    finally:
        if server and url:
            drop_database(server, url)


if __name__ == "__main__":
    main()
