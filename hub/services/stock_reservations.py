"""Reserving what a batch of decisions chose, on the StockItem aggregates: the arbiter.

Decisions are made against the supply view; the reservations they imply are gathered and made
afterwards, on items taken from a cache (only while at the view's version) or else loaded for
the whole batch in one query. The save then checks each item's version as loaded: a stale view
or cache ends as `InsufficientStockError` here or as a version conflict in the store, and the
caller decides again.
"""

from collections import OrderedDict
from dataclasses import dataclass
from datetime import datetime

from aggregates.errors import StockError
from aggregates.ids import stock_item_id
from aggregates.stock import StockItem
from hub.services.lookup import find_many
from hub.services.supply_view import SupplyView
from hub.store import OrderStore

# StockItem aggregates kept between batches (validated by version before use): a hot item's
# history grows with every reservation, and replaying it for every order would grow with it.
CACHED_ITEMS = 20_000

Key = tuple[str, str]  # (source_id, sku)


@dataclass(frozen=True)
class Reservation:
    source_id: str
    sku: str
    key: str  # one per shipment line (orchestration.reservation_key)
    quantity: int


class StockItems:
    def __init__(self, store: OrderStore, supply: SupplyView) -> None:
        self._store = store
        self._supply = supply
        self._cache: OrderedDict[Key, StockItem] = OrderedDict()

    def reserve(
        self, reservations: list[Reservation], touched: dict[Key, StockItem], at: datetime
    ) -> None:
        """Make the reservations in order; `touched` gets each item changed (also when one
        fails), so that the caller can forget what the store does not hold."""
        items = self._items({(r.source_id, r.sku) for r in reservations} - touched.keys())
        for r in reservations:
            key = (r.source_id, r.sku)
            item = touched.setdefault(key, items[key])
            item.reserve(r.key, r.quantity, at=at)

    def forget(self, keys: list[Key]) -> None:
        """Items changed by a save that did not happen are not what the store holds."""
        for key in keys:
            self._cache.pop(key, None)

    def _items(self, keys: set[Key]) -> dict[Key, StockItem]:
        """Cached items still at the view's version; the others from the store, in one query."""
        items, missing = {}, []
        for key in sorted(keys):
            holding = self._supply.holding(*key)
            cached = self._cache.get(key)
            if cached is not None and holding is not None and cached.version == holding.version:
                self._cache.move_to_end(key)
                items[key] = cached
            else:
                missing.append(key)
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
