"""Reservations on a stock item known by its totals, written straight to their stored form.

The orchestrator reserves most units on items known only by the supply view's totals at a
version (`StockItem.by_totals`, hub.services.stock_reservations): an aggregate made for the
`Reserved` events it takes, each built by the library's command-method machinery and applied,
then copied and written by the mapper, and the aggregate dropped. Here an item known by its
totals checks a reservation as `StockItem.reserve` does and writes its `Reserved` event as the
mapper would (the same fields in the same order, the same `stored_json` writer): the bytes are
the aggregate's (tests/unit/test_reserved_events.py compares them). The version is the arbiter
as before: the event is the item's next version, which the event store accepts only if nobody
wrote that version first.

Only for a store writing the library's JSON with no compression, encryption or aggregate cache,
and `Reserved` of class version 1 (`usable`); otherwise the aggregate is made as before.
"""

from collections.abc import Callable
from datetime import datetime
from typing import Any

from eventsourcing.persistence import JSONTranscoder, StoredEvent
from eventsourcing.utils import get_topic

from aggregates.errors import InsufficientStockError, StockError
from aggregates.ids import stock_item_id
from aggregates.stock import StockItem
from aggregates.stored_json import stored_json
from hub.store import OrderStore

_RESERVED: Any = vars(StockItem)["Reserved"]
_TOPIC = get_topic(_RESERVED)


class ReservedEvents:
    """The store's writer of `Reserved` events, and whether it may be used."""

    def __init__(self, store: OrderStore, timestamp: Callable[[], datetime] | None = None) -> None:
        mapper = store.mapper
        self.transcoder: Any = mapper.transcoder
        # The events' own clock, looked up at each call as the library's events do.
        self.timestamp = timestamp or (lambda: _RESERVED.create_timestamp())
        self.usable = (
            type(mapper.transcoder) is JSONTranscoder
            and not mapper.compressor
            and not mapper.cipher
            and store.repository.cache is None
            and getattr(_RESERVED, "class_version", 1) == 1
        )


class TotalsItem:
    """A stock item at a version, known by its totals: takes reservations as `StockItem` does
    and keeps their stored events (`stored`) for the batch's save."""

    def __init__(
        self,
        source_id: str,
        sku: str,
        totals: tuple[int, int, int],  # on hand, reserved, safety stock
        version: int,
        events: ReservedEvents,
    ) -> None:
        self.source_id, self.sku = source_id, sku
        self.on_hand, self.reserved, self.safety_stock = totals
        self.id = stock_item_id(source_id, sku)
        self.version = version
        self.stored: list[StoredEvent] = []
        self._keys: set[str] = set()
        self._events = events

    @property
    def available(self) -> int:
        return max(0, self.on_hand - self.reserved - self.safety_stock)

    def reserve(self, order_id: str, quantity: int, at: datetime) -> None:
        """`StockItem.reserve`'s checks, then its event in stored form."""
        if quantity <= 0:
            raise StockError(f"a reservation needs a positive quantity, got {quantity}")
        if order_id in self._keys:
            raise StockError(f"{self.source_id}/{self.sku}: order {order_id} already reserved")
        if quantity > self.available:
            raise InsufficientStockError(self.source_id, self.sku, quantity, self.available)
        events = self._events
        state = {
            "timestamp": events.timestamp(),
            "source_id": self.source_id,
            "sku": self.sku,
            "order_id": order_id,
            "quantity": quantity,
            "at": at,
        }
        self.version += 1
        self.stored.append(
            StoredEvent(self.id, self.version, _TOPIC, stored_json(events.transcoder, state))
        )
        self.reserved += quantity
        self._keys.add(order_id)
