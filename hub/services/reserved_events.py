"""Reservations on a stock item known by its totals, written straight to their stored form.

The orchestrator reserves most units on items known only by the supply view's totals at a
version (`StockItem.by_totals`, hub.services.stock_reservations): an aggregate made for the
`Reserved` events it takes, each built by the library's command-method machinery and applied,
then copied and written by the mapper, and the aggregate dropped. Here an item known by its
totals checks a reservation as `StockItem.reserve` does and writes its `Reserved` event as the
mapper would (the same fields in the same order, the same `stored_json` writer): the bytes are
the aggregate's (tests/unit/test_routed_events.py compares them). The version is the arbiter
as before: the event is the item's next version, which the event store accepts only if nobody
wrote that version first.

Only for a store writing the library's JSON with no compression, encryption or aggregate cache,
and `Reserved` of class version 1 (`usable`); otherwise the aggregate is made as before.
"""

from collections.abc import Callable
from datetime import datetime
from typing import Any

from eventsourcing.persistence import StoredEvent
from eventsourcing.utils import get_topic

from aggregates.ids import stock_item_id
from aggregates.stock import StockItem, check_reservation
from aggregates.stored_json import stored_json
from hub.services.order_events import writes_stored_json
from hub.store import OrderStore

_RESERVED: Any = vars(StockItem)["Reserved"]
_TOPIC = get_topic(_RESERVED)


def stored_straight(store: OrderStore, *events: Any) -> bool:
    """Whether the store writes these event classes as `stored_json` writes them: the
    library's JSON transcoder, no compression, encryption or aggregate cache, class version 1."""
    return store.repository.cache is None and writes_stored_json(store.mapper, *events)


def event_clock(event: Any, given: Callable[[], datetime] | None) -> Callable[[], datetime]:
    """The clock of an event class's timestamps, looked up at each call as the library's events
    do (unless one is given)."""
    return given or (lambda: event.create_timestamp())


class ReservedEvents:
    """The store's writer of `Reserved` events, and whether it may be used."""

    def __init__(self, store: OrderStore, timestamp: Callable[[], datetime] | None = None) -> None:
        self.transcoder: Any = store.mapper.transcoder
        self.timestamp = event_clock(_RESERVED, timestamp)
        self.usable = stored_straight(store, _RESERVED)


class TotalsItem:
    """A stock item at a version, known by its totals: takes reservations as `StockItem` does
    and keeps their stored events (`stored_events`: `OrderStore.save` takes such an object
    among aggregates, and writes them)."""

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
        self.stored_events: list[StoredEvent] = []
        self._keys: set[str] = set()
        self._events = events

    @property
    def available(self) -> int:
        return max(0, self.on_hand - self.reserved - self.safety_stock)

    def reserve(self, order_id: str, quantity: int, at: datetime) -> None:
        """`StockItem.reserve`'s checks, then its event in stored form."""
        check_reservation(self, self._keys, order_id, quantity)
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
        self.stored_events.append(
            StoredEvent(self.id, self.version, _TOPIC, stored_json(events.transcoder, state))
        )
        self.reserved += quantity
        self._keys.add(order_id)
