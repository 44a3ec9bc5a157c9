"""Stock rows' histories grown to what many orders that ship leave them, for the fulfillment
role's benchmark (`benchmarks.fulfillment_batch --history`).

Routing 200,000 orders in process takes hours on a shared machine; what the fulfillment role
meets of such a history is in its stock rows (an event for each reservation, shipment and count
of the row, a snapshot every 50), so those are written straight to the items: for each line that
shipped from a row, a reservation, its consumption and the row counted back up (what the soak's
`--ship 1.0 --restock 60` makes of it), about 4 lines an order spread over the rows (each row
between half and one and a half times its share, so that the events after the rows' last
snapshots spread as a soak's do). Only the rows the measured rounds ship from are grown (the
others' histories change nothing the rounds measure, and growing all ~40,000 took most of an
hour on the shared machine); the orders themselves are not written (their table's size is
PostgreSQL's side).

After each growth the role's kept stock items are read again as a soak's would be by then: every
row read once in a random order, so that those kept are what its bound keeps of them.
"""

import os
import random
import tracemalloc
from collections.abc import Iterable, Iterator, Sequence
from datetime import timedelta
from typing import Any
from uuid import UUID

from aggregates.ids import stock_item_id
from aggregates.stock import StockItem
from benchmarks.route_profile import NOW
from hub.bootstrap import Hub
from hub.services.lookup import find_many

LINES_PER_ORDER = 4  # the network's orders have 1-7 lines
CHUNK = 500  # rows grown per transaction
MEASURED = 2_000  # rows read into an empty set of kept items to weigh one


class History:
    def __init__(self, hub: Hub, rng_seed: int = 11) -> None:
        self.hub = hub
        self.rows = stock_rows(hub)
        self.touches: dict[UUID, int] = {}  # lines shipped from each row so far
        self.rng = random.Random(rng_seed)

    def grow(self, rows: Iterable[tuple[str, str]], orders: int) -> None:
        """These rows' histories to `orders` orders' worth, then the kept items refilled."""
        share = LINES_PER_ORDER * orders / len(self.rows)
        ids = sorted(stock_item_id(source_id, sku) for source_id, sku in rows)
        for chunk in _chunks(ids, CHUNK):
            items = find_many(self.hub.store, chunk, StockItem)
            for item in items.values():
                done = self.touches.get(item.id, 0)
                target = max(done, round(share * self.rng.uniform(0.5, 1.5)))
                _ship_and_count(item, done, target)
                self.touches[item.id] = target
            self.hub.store.save(*items.values())
        self.refill()

    def refill(self) -> None:
        stock = self.hub.catalog.stock
        getattr(stock, "clear", stock._kept.clear)()  # main's had no `clear`
        shuffled = list(self.rows)
        self.rng.shuffle(shuffled)
        for chunk in _chunks(shuffled, 2_000):
            stock.load(chunk)

    def memory(self) -> tuple[float, float, float]:
        """This process's RSS (MB), the number of kept stock items, and the bytes one holds
        (what stays allocated after `MEASURED` rows are read into an empty set of kept items)."""
        stock = self.hub.catalog.stock
        fresh: Any = type(stock)(self.hub.store)
        sample = self.rng.sample(self.rows, min(MEASURED, len(self.rows)))
        tracemalloc.start()
        before = tracemalloc.get_traced_memory()[0]
        fresh.load(sample)
        after = tracemalloc.get_traced_memory()[0]
        tracemalloc.stop()
        return rss_mb(), float(len(stock)), (after - before) / len(sample)


def _ship_and_count(item: StockItem, done: int, target: int) -> None:
    first = item.on_hand
    if item.available < 1:
        return  # a row with nothing to give ships nothing
    for t in range(done, target):
        at = NOW + timedelta(seconds=t)
        key = f"history:{t}"
        item.reserve(key, 1, at)
        item.consume(key, 1, at)
        item.count(first, None, at, "restock")


def stock_rows(hub: Hub) -> list[UUID]:
    """Every stock item's id, in the order they were registered."""
    recorder: Any = hub.store.recorder
    table = f"{recorder.datastore.schema}.{recorder.events_table_name}"
    with recorder.datastore.get_connection() as conn, conn.cursor() as cur:
        cur.execute(
            f"SELECT originator_id FROM {table} WHERE originator_version = 1 AND topic LIKE %s"
            " ORDER BY notification_id",
            ("%StockItem.Registered",),
        )
        return [row["originator_id"] for row in cur.fetchall()]


def rss_mb() -> float:
    with open("/proc/self/statm") as statm:
        return int(statm.read().split()[1]) * os.sysconf("SC_PAGE_SIZE") / 2**20


def _chunks(ids: Sequence[UUID], size: int) -> Iterator[Sequence[UUID]]:
    for start in range(0, len(ids), size):
        yield ids[start : start + size]
