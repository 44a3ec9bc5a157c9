"""Stock items kept between batches, brought up to date from the events after the kept version.

The fulfillment role reads the same stock items again and again: a shipment's units consumed,
then the row counted by its source a minute later, then the next shipment. Each read was the
item's last snapshot (which lists every open reservation of the row) and up to 50 events since,
decoded by the store's mapper: 26-43 % of the role in a soak whose orders ship
(benchmarks/README.md, soak3). Kept here, an item is read as the events saved after its kept
version, for all the batch's kept items in one query: usually none or a few reservations.

Nothing here decides anything on a stale item: the event store still checks each save against
the version the item was read at (another process reserving the row meanwhile fails the save,
and the caller reads again), and an item is kept only as the store held it (read, or saved).
Every item handed out is a copy of the kept one, so a change that is not saved never reaches
the kept copy. Items are dropped least recently used first beyond `size`.
"""

import threading
from collections import OrderedDict
from collections.abc import Iterable
from typing import Any
from uuid import UUID

from aggregates.stock import StockItem
from hub.multi_get import project_events, select_events_of_many
from hub.services.lookup import find_many
from hub.store import OrderStore

# About 1-2 kB an item with few open reservations: a bounded share of the role's memory.
KEPT_ITEMS = 20_000


class KeptStock:
    def __init__(self, store: OrderStore, size: int = KEPT_ITEMS) -> None:
        self._store = store
        self._size = size
        self._kept: OrderedDict[UUID, StockItem] = OrderedDict()
        # The stock feed's and the updates' consumers run their batches in threads at once.
        self._lock = threading.Lock()

    def load(self, ids: Iterable[UUID]) -> dict[UUID, StockItem]:
        """The stored items of `ids` as the store holds them now (ids not stored left out)."""
        wanted = list(dict.fromkeys(ids))
        if self._size <= 0:
            return find_many(self._store, wanted, StockItem)
        with self._lock:
            kept = {i: _copy(self._kept[i]) for i in wanted if i in self._kept}
        found = find_many(self._store, [i for i in wanted if i not in kept], StockItem)
        found |= self._forwarded(kept)
        self.keep(found.values())
        return found

    def keep(self, items: Iterable[StockItem]) -> None:
        """Keep these items as they are: read from the store, or saved to it."""
        if self._size <= 0:
            return
        with self._lock:
            for item in items:
                self._kept[item.id] = _copy(item)
                self._kept.move_to_end(item.id)
            while len(self._kept) > self._size:
                self._kept.popitem(last=False)

    def __len__(self) -> int:
        return len(self._kept)

    def _forwarded(self, kept: dict[UUID, StockItem]) -> dict[UUID, StockItem]:
        """The kept items with the events saved since their version applied (one query)."""
        if not kept:
            return kept
        events = self._store.repository_for(StockItem).event_store
        newer = select_events_of_many(events.recorder, {i: k.version for i, k in kept.items()})
        decode = events.mapper.to_domain_event
        for item_id, stored in newer.items():
            kept[item_id] = project_events(kept[item_id], map(decode, stored))
        return kept


def _copy(item: StockItem) -> StockItem:
    """An item no change to the other reaches: its containers copied, events pending dropped
    (a copy is of an item as the store holds it)."""
    state: dict[str, Any] = {
        name: value.copy() if type(value) in (dict, list) else value
        for name, value in vars(item).items()
    }
    state["_pending_events"] = []
    copied = object.__new__(StockItem)
    copied.__dict__.update(state)
    return copied
