"""What one stock item's open reservations cost: a reservation, a snapshot, the memory.

Run:  python -m benchmarks.stock_item_costs [--open 1000,10000,50000]

For an item holding N open reservations (keys shaped as routing makes them): CPU µs of one more
reservation (the availability check included), ms to take and encode its snapshot (done every
`STOCK_SNAPSHOT_EVERY` events), the snapshot's size, and bytes of memory per open reservation.
An item's open reservations are the orders routed to it and not shipped yet.
"""

import argparse
import time
import tracemalloc
import uuid
from datetime import UTC, datetime

from eventsourcing.domain import Snapshot

from aggregates.stock import StockItem
from hub.services.orchestration import reservation_key
from hub.store import OrderStore

AT = datetime(2026, 12, 4, tzinfo=UTC)


def item_with(count: int) -> StockItem:
    item = StockItem(source_id="dc", sku="A", on_hand=10**9, safety_stock=0, at=AT)
    for _ in range(count):
        item.reserve(reservation_key(uuid.uuid4(), str(uuid.uuid4()), "1"), 1, AT)
        item.collect_events()
    return item


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--open", default="1000,10000,50000", help="open reservations")
    args = parser.parse_args()
    store = OrderStore(env={"PERSISTENCE_MODULE": "eventsourcing.popo"})
    for count in (int(n) for n in args.open.split(",")):
        tracemalloc.start()
        item = item_with(count)
        held = tracemalloc.get_traced_memory()[0]
        tracemalloc.stop()
        started = time.process_time()
        for n in range(200):
            item.reserve(f"more-{n}", 1, AT)
        reserve = (time.process_time() - started) / 200 * 1e6
        item.collect_events()
        started = time.process_time()
        for _ in range(5):
            stored = store.mapper.to_stored_event(Snapshot.take(item))
        snapshot = (time.process_time() - started) / 5 * 1e3
        print(
            f"{count:>7,} open: reserve {reserve:6.1f} µs, snapshot {snapshot:6.2f} ms "
            f"({len(stored.state) / 1e6:.2f} MB), {held / count:4.0f} B per open reservation"
        )


if __name__ == "__main__":
    main()
