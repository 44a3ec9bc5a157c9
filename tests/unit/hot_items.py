"""A stock item that another writer keeps changing while a batch holding it is saved."""

from typing import Any

from eventsourcing.domain import Aggregate

from aggregates.stock import StockItem
from hub.services.catalog import CatalogService
from hub.store import OrderStore
from schemas.sources import StockDelta
from tests.contracts.factories import NOW, fixed_clock


def change(sku: str, delta: int, source_id: str = "wh-lyon") -> StockDelta:
    return StockDelta(source_id=source_id, sku=sku, delta=delta, reason="receipt")


class HotItem:
    """Another writer (routing, say) changes item `sku` just before every save of more than
    `alone` stock items that holds it: such a save always conflicts."""

    def __init__(self, store: OrderStore, sku: str, alone: int = 1) -> None:
        self.other = CatalogService(store, fixed_clock(NOW))
        self.sku, self.alone = sku, alone
        self.races = 0
        self._racing = False  # the other writer's own save does not race
        self.saved_sizes: list[int] = []
        save = store.save

        def racing_save(*aggregates: Aggregate, **kwargs: Any) -> Any:
            items = [a for a in aggregates if isinstance(a, StockItem)]
            hot = any(i.sku == self.sku for i in items)
            if hot and len(items) > self.alone and not self._racing:
                self.races += 1
                self._racing = True
                try:
                    self.other.apply_stock(change(self.sku, +100), "system:routing")
                finally:
                    self._racing = False
            result = save(*aggregates, **kwargs)
            if not self._racing:
                self.saved_sizes.append(len(items))
            return result

        store.save = racing_save  # type: ignore[method-assign]
