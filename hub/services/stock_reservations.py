"""Reserving what a batch of decisions chose, on the StockItem aggregates: the arbiter.

Decisions are made against the supply view; the reservations they imply are gathered and made
afterwards. Each is an event of the item at the version after the one the item is taken at,
and the event store accepts it only if the item is still at that version: a stale view or
cache ends as `InsufficientStockError` here or as a version conflict in the store, and the
caller decides again.

An item is taken, in this order: known by the view's totals at the view's version
(`StockItem.by_totals`: what `reserve` checks, folded by the view from the item's very events),
unless the batch's reservations would bring it to a version that is snapshotted (a snapshot
needs the whole item) or the caller asks for loaded items; else from a cache of loaded items,
if still at the view's version; else loaded, all of the batch's together, in one query. Loading
every item a batch reserves on was two queries per batch and the decoding of each item's
snapshot and events since (an item's snapshot lists every open reservation of its SKU there),
for figures the view holds already.

A cached item is dropped once reserved on by the totals (it is then behind the store). Kept
and preferred, an item loaded where a snapshot was due went on taking its reservations whole,
through the aggregate, and its open reservations stayed in this process: in a soak whose
orders never ship, the role's RSS rose 173 → 239 MB over 160,000 orders (benchmarks/README.md,
snap13). The snapshots are now spaced by the units an item holds
(`hub.store.stock_snapshot_every`), so a load where one is due costs about as many events as
the interval it comes after.
"""

from collections import Counter, OrderedDict
from dataclasses import dataclass
from datetime import datetime

from aggregates.errors import StockError
from aggregates.ids import stock_item_id
from aggregates.stock import StockItem
from hub.services.lookup import find_many
from hub.services.reserved_events import ReservedEvents, TotalsItem
from hub.services.supply_view import Holding, SupplyView
from hub.store import OrderStore, stock_snapshot_every

# StockItem aggregates kept between batches (validated by version before use): a hot item's
# history grows with every reservation, and replaying it for every order would grow with it.
CACHED_ITEMS = 20_000

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
        self._cache: OrderedDict[Key, StockItem] = OrderedDict()
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
        fails), so that the caller can forget what the store does not hold. `by_totals`:
        items may be known by the view's totals (see the module's docstring); otherwise
        each is a cached or loaded one."""
        wanted = Counter((r.source_id, r.sku) for r in reservations)
        for key in touched:
            del wanted[key]
        items = self._items(wanted, at, by_totals)
        for r in reservations:
            key = (r.source_id, r.sku)
            item = touched.setdefault(key, items[key])
            item.reserve(r.key, r.quantity, at=at)

    def cached(self) -> list[Key]:
        """The items kept between batches, least recently used first."""
        return list(self._cache)

    def forget(self, keys: list[Key]) -> None:
        """Items changed by a save that did not happen are not what the store holds."""
        for key in keys:
            self._cache.pop(key, None)

    def _items(
        self, wanted: Counter[Key], at: datetime, by_totals: bool
    ) -> dict[Key, "StockItem | TotalsItem"]:
        """Each wanted item (with the number of reservations to make on it), taken as the
        module's docstring says."""
        items: dict[Key, StockItem | TotalsItem] = {}
        missing = []
        for key in sorted(wanted):
            holding = self._supply.holding(*key)
            cached = self._current(key, holding)
            if by_totals and holding is not None and not self._snapshot_due(holding, wanted[key]):
                if cached is not None:  # this reservation moves the item past the copy
                    del self._cache[key]
                items[key] = self._by_totals(key, holding, at)
            elif cached is not None:
                items[key] = cached
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
            items[key] = self._cache[key] = item
            if len(self._cache) > CACHED_ITEMS:
                self._cache.popitem(last=False)
        return items

    def _by_totals(self, key: Key, holding: Holding, at: datetime) -> "StockItem | TotalsItem":
        """The item known by the view's totals: its reservations written straight to their
        stored form (hub.services.reserved_events) where the store allows, else an aggregate."""
        totals = (holding.on_hand, holding.reserved, holding.safety_stock)
        if self._reserved.usable:
            return TotalsItem(*key, totals, holding.version, self._reserved)
        return StockItem.by_totals(*key, totals, holding.version, at)

    def _current(self, key: Key, holding: Holding | None) -> StockItem | None:
        """The cached item if it is at the holding's version. One behind it is dropped: the
        item moved on without this copy (a reservation made by the view's totals, a shipment
        or a count saved by another process), and as versions only rise it can never be
        current again; kept, it would hold its reservations as they were until the cache's
        least recently used end reached it (nearly every cached item was such a copy in a
        soak whose orders ship: benchmarks/README.md, h-soak). One ahead of the view (saved
        here, not yet seen by the view) is kept for when the view catches up."""
        cached = self._cache.get(key)
        if cached is None or holding is None:
            return None
        if cached.version == holding.version:
            self._cache.move_to_end(key)
            return cached
        if cached.version < holding.version:
            del self._cache[key]
        return None

    def _snapshot_due(self, holding: Holding, events: int) -> bool:
        """Whether `events` more events from the holding's version reach a version the store
        snapshots (the whole item is then needed: it is what the snapshot holds)."""
        if not self._snapshot_every:
            return False
        every = stock_snapshot_every(self._snapshot_every, holding.reserved)
        return (holding.version + events) // every > holding.version // every
