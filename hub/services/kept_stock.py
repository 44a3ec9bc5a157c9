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
Every item handed out is made afresh from what is kept, so a change that is not saved never
reaches it. What is kept of an item is a tuple of its fields (its strings shared with the other
items', its dicts as tuples), about half of a `StockItem`'s bytes, and the items are bounded by
what they weigh, not by their number (an item's open reservations are most of an item that has
many): least recently used dropped first beyond `max_bytes` (or `size` items).
"""

import sys
import threading
from collections import OrderedDict
from collections.abc import Iterable
from typing import Any
from uuid import UUID

from aggregates.stock import StockItem
from hub.multi_get import project_events, select_events_of_many
from hub.services.lookup import find_many
from hub.store import OrderStore

KEPT_ITEMS = 200_000
# What the kept items may weigh, estimated per item (below): the network (~40,000 rows)
# whole, so that a row shipped or counted is read from the events after its kept version, not
# from its snapshot and up to 50 events after it (what a miss costs grows with the rows' history
# until their first snapshot and stays there: benchmarks.fulfillment_batch --history).
KEPT_BYTES = 48 * 2**20
# Measured with tracemalloc (benchmarks.fulfillment_batch --history): an item with no open
# reservation and one feed partition, its key and its place in the dict; each open reservation
# and each further partition adds about this much.
ITEM_BYTES = 700
ENTRY_BYTES = 150
# The fields kept, in this order (an item from a snapshot of an earlier release may lack some:
# they stay missing); any other field is kept in a dict after them.
FIELDS = (
    "_version",
    "_created_on",
    "_modified_on",
    "source_id",
    "sku",
    "on_hand",
    "safety_stock",
    "reserved_units",
    "counted_at",
    "reservations",
    "fed",
)
DICTS = frozenset({"reservations", "fed"})
MISSING = object()
Kept = tuple[Any, ...]


class KeptStock:
    def __init__(
        self, store: OrderStore, size: int = KEPT_ITEMS, max_bytes: int = KEPT_BYTES
    ) -> None:
        self._store = store
        self._size = size
        self._max_bytes = max_bytes
        self._kept: OrderedDict[UUID, Kept] = OrderedDict()
        self._bytes = 0  # estimated, of everything in `_kept`
        # The stock feed's and the updates' consumers run their batches in threads at once.
        self._lock = threading.Lock()

    def load(self, ids: Iterable[UUID]) -> dict[UUID, StockItem]:
        """The stored items of `ids` as the store holds them now (ids not stored left out)."""
        wanted = list(dict.fromkeys(ids))
        if self._size <= 0:
            return find_many(self._store, wanted, StockItem)
        with self._lock:
            kept = {i: _item(i, self._kept[i]) for i in wanted if i in self._kept}
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
                kept = _kept(item)
                self._bytes += weight(kept) - weight(self._kept.get(item.id))
                self._kept[item.id] = kept
                self._kept.move_to_end(item.id)
            while len(self._kept) > self._size or self._bytes > self._max_bytes:
                self._bytes -= weight(self._kept.popitem(last=False)[1])

    def __len__(self) -> int:
        return len(self._kept)

    def weight(self) -> int:
        """The estimated bytes of the kept items."""
        return self._bytes

    def clear(self) -> None:
        with self._lock:
            self._kept.clear()
            self._bytes = 0

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


def _kept(item: StockItem) -> Kept:
    """What is kept of an item: its fields in `FIELDS` order (dicts as tuples of their items,
    strings shared), then a dict of any other field, or None."""
    state = vars(item)
    fields: list[Any] = []
    for name in FIELDS:
        value = state.get(name, MISSING)
        if name in DICTS and type(value) is dict:
            value = tuple(value.items())
        elif type(value) is str:
            value = sys.intern(value)
        fields.append(value)
    known = {*FIELDS, "_id", "_pending_events"}
    others = {k: _copied(v) for k, v in state.items() if k not in known}
    fields.append(others or None)
    return tuple(fields)


def _item(item_id: UUID, kept: Kept) -> StockItem:
    """A `StockItem` of its own made from what is kept (no event pending)."""
    state: dict[str, Any] = {"_id": item_id, "_pending_events": []}
    for name, value in zip(FIELDS, kept, strict=False):
        if value is not MISSING:
            state[name] = dict(value) if name in DICTS and type(value) is tuple else value
    if kept[-1]:
        state |= {k: _copied(v) for k, v in kept[-1].items()}
    item = object.__new__(StockItem)
    item.__dict__.update(state)
    return item


def weight(kept: Kept | None) -> int:
    """The estimated bytes of what is kept of an item (0 for nothing)."""
    if kept is None:
        return 0
    reservations, fed = kept[FIELDS.index("reservations")], kept[FIELDS.index("fed")]
    entries = len(reservations) if type(reservations) is tuple else 0
    entries += max(0, len(fed) - 1) if type(fed) is tuple else 0
    return ITEM_BYTES + ENTRY_BYTES * entries


def _copied(value: Any) -> Any:
    return value.copy() if type(value) in (dict, list) else value
