"""Reserving what a batch of decisions chose, on the StockItem aggregates: the arbiter.

Decisions are made against the supply view; the reservations they imply are gathered and made
afterwards. Each is an event of the item at the version after the one the item is taken at,
and the event store accepts it only if the item is still at that version: a stale view ends as
`InsufficientStockError` here or as a version conflict in the store, and the caller decides
again.

An item is taken known by the view's totals at the view's version (`StockItem.by_totals`: what
`reserve` checks, folded by the view from the item's very events), unless the batch's
reservations would bring it to a version that is snapshotted (a snapshot needs the whole item)
or the caller asks for loaded items (a retry after a conflict); then it is loaded, all of the
batch's together, in one query. Loading every item a batch reserves on was two queries per
batch and the decoding of each item's snapshot and events since (an item's snapshot lists every
open reservation of its SKU there), for figures the view holds already. The snapshots are
spaced by the units an item holds (`hub.store.stock_snapshot_every`), so a load where one is due
costs about as many events as the interval it comes after.

Nothing loaded is kept between batches. A cache of loaded items was kept (20,000 at most), but
a loaded item is current only until its next reservation, which the view's totals take, so the
cache served none of the 109,089 items taken for 30,000 orders (`benchmarks.route_aging`), while
what it held was the items no order had reserved on since their load, each listing every open
reservation of its row, more of them the longer the history (benchmarks/README.md, soak25).
"""

from collections import Counter
from dataclasses import dataclass
from datetime import datetime

from aggregates.errors import StockError
from aggregates.ids import stock_item_id
from aggregates.stock import StockItem
from hub.services.lookup import find_many
from hub.services.reserved_events import ReservedEvents, TotalsItem
from hub.services.supply_view import Holding, SupplyView
from hub.store import OrderStore, stock_snapshot_every

Key = tuple[str, str]  # (source_id, sku)


@dataclass(frozen=True)
class Reservation:
    source_id: str
    sku: str
    key: str  # one per shipment line (orchestration.reservation_key): new with every routing
    quantity: int


class StockItems:
    def __init__(self, store: OrderStore, supply: SupplyView) -> None:
        self._store = store
        self._supply = supply
        # Versions at which the store snapshots a stock item (none: it never does).
        self._snapshot_every = store.snapshotting_intervals.get(StockItem, 0)
        self._reserved = ReservedEvents(store)

    def reserve(
        self,
        reservations: list[Reservation],
        touched: dict[Key, "StockItem | TotalsItem"],
        at: datetime,
        by_totals: bool = True,
    ) -> None:
        """Make the reservations in order; `touched` gets each item changed (also when one
        fails). `by_totals`: items may be known by the view's totals (see the module's
        docstring); otherwise each is loaded."""
        wanted = Counter((r.source_id, r.sku) for r in reservations)
        for key in touched:
            del wanted[key]
        items = self._items(wanted, at, by_totals)
        for r in reservations:
            key = (r.source_id, r.sku)
            item = touched.setdefault(key, items[key])
            item.reserve(r.key, r.quantity, at=at)

    def _items(
        self, wanted: Counter[Key], at: datetime, by_totals: bool
    ) -> dict[Key, "StockItem | TotalsItem"]:
        """Each wanted item (with the number of reservations to make on it), taken as the
        module's docstring says."""
        items: dict[Key, StockItem | TotalsItem] = {}
        missing = []
        for key in sorted(wanted):
            holding = self._supply.holding(*key)
            if by_totals and holding is not None and not self._snapshot_due(holding, wanted[key]):
                items[key] = self._by_totals(key, holding, at)
            else:
                missing.append(key)
        if not missing:
            return items
        found = find_many(self._store, [stock_item_id(*key) for key in missing], StockItem)
        for key in missing:
            item = found.get(stock_item_id(*key))
            if item is None:
                ahead = "no stock item (the view is ahead of the store)"
                raise StockError(f"{key[0]}/{key[1]}: {ahead}")
            items[key] = item
        return items

    def _by_totals(self, key: Key, holding: Holding, at: datetime) -> "StockItem | TotalsItem":
        """The item known by the view's totals: its reservations written straight to their
        stored form (hub.services.reserved_events) where the store allows, else an aggregate."""
        totals = (holding.on_hand, holding.reserved, holding.safety_stock)
        if self._reserved.usable:
            return TotalsItem(*key, totals, holding.version, self._reserved)
        return StockItem.by_totals(*key, totals, holding.version, at)

    def _snapshot_due(self, holding: Holding, events: int) -> bool:
        """Whether `events` more events from the holding's version reach a version the store
        snapshots (the whole item is then needed: it is what the snapshot holds)."""
        if not self._snapshot_every:
            return False
        every = stock_snapshot_every(self._snapshot_every, holding.reserved)
        return (holding.version + events) // every > holding.version // every
