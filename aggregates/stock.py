"""StockItem: what one source holds of one SKU, and what is promised to orders from it."""

from collections.abc import Container
from datetime import datetime
from typing import Protocol
from uuid import UUID

from eventsourcing.domain import Aggregate, event

from aggregates.errors import InsufficientStockError, StockError
from aggregates.ids import stock_item_id


class StockItem(Aggregate):
    """available = on_hand - reserved - safety_stock; a reservation never exceeds it.

    Every reservation is a new version of this aggregate, so two orders reserving the last unit
    at once conflict in the event store and the second one re-reads and decides again.
    """

    @staticmethod
    def create_id(source_id: str, sku: str) -> UUID:
        return stock_item_id(source_id, sku)

    @event("Registered")
    def __init__(
        self,
        source_id: str,
        sku: str,
        on_hand: int,
        safety_stock: int,
        at: datetime,
        feed: str | None = None,
        offset: int | None = None,
    ) -> None:
        check_not_negative("on_hand", on_hand)
        check_not_negative("safety_stock", safety_stock)
        self.source_id = source_id
        self.sku = sku
        self.on_hand = on_hand
        self.safety_stock = safety_stock
        self.reservations: dict[str, int] = {}
        self.reserved_units = 0  # sum of `reservations`, kept as they change
        self.counted_at = at
        # The last offset applied from each stock-feed partition ("topic/partition"): a feed
        # message delivered again (at-least-once) is recognised and changes nothing twice.
        self.fed: dict[str, int] = {feed: offset} if feed is not None and offset is not None else {}

    @classmethod
    def by_totals(
        cls,
        source_id: str,
        sku: str,
        totals: tuple[int, int, int],
        version: int,
        at: datetime,
    ) -> "StockItem":
        """The item at `version` known by its totals (on hand, reserved, safety stock) alone,
        as a follower of its events folds them: what `reserve` checks, and a new reservation
        is the event after that version, which the event store accepts only if the item is
        still at it. Its reservations are not listed (a key already taken cannot be told
        here: the caller's keys must be new by construction), so such an item is saved only
        for the events it takes and is never snapshotted or kept."""
        on_hand, reserved, safety_stock = totals
        item = object.__new__(cls)
        item.__dict__.update(
            _id=stock_item_id(source_id, sku),
            _version=version,
            _created_on=at,
            _modified_on=at,
            _pending_events=[],
            source_id=source_id,
            sku=sku,
            on_hand=on_hand,
            safety_stock=safety_stock,
            reservations={},
            reserved_units=reserved,
        )
        return item

    @property
    def reserved(self) -> int:
        # Kept by the event methods rather than summed: an item sold to orders that have not
        # shipped holds thousands of reservations, and every reservation asks this.
        units: int | None = self.__dict__.get("reserved_units")
        if units is None:  # loaded from a snapshot taken before the total was kept
            units = self.reserved_units = sum(self.reservations.values())
        return units

    @property
    def available(self) -> int:
        return max(0, self.on_hand - self.reserved - self.safety_stock)

    def already_fed(self, feed: str, offset: int) -> bool:
        """Whether the feed's message at this offset (or a later one) was applied already."""
        # Snapshots taken before feeds were tracked carry no `fed`.
        last = getattr(self, "fed", {}).get(feed)
        return last is not None and offset <= last

    def count(
        self,
        on_hand: int,
        safety_stock: int | None,
        at: datetime,
        reason: str,
        feed: str | None = None,
        offset: int | None = None,
    ) -> None:
        """An absolute snapshot from the source's own system (from `offset` of a `feed`)."""
        check_not_negative("on_hand", on_hand)
        if safety_stock is not None:
            check_not_negative("safety_stock", safety_stock)
        if on_hand == self.on_hand and safety_stock in (None, self.safety_stock):
            return  # a repeated snapshot changes nothing and records nothing
        self._counted(
            source_id=self.source_id,
            sku=self.sku,
            on_hand=on_hand,
            safety_stock=self.safety_stock if safety_stock is None else safety_stock,
            at=at,
            reason=reason,
            feed=feed,
            offset=offset,
        )

    # `feed` and `offset` are absent from events recorded before feeds were tracked.
    @event("Counted")
    def _counted(
        self,
        source_id: str,
        sku: str,
        on_hand: int,
        safety_stock: int,
        at: datetime,
        reason: str,
        feed: str | None = None,
        offset: int | None = None,
    ) -> None:
        self.on_hand = on_hand
        self.safety_stock = safety_stock
        self.counted_at = at
        self._note_fed(feed, offset)

    def _note_fed(self, feed: str | None, offset: int | None) -> None:
        if feed is not None and offset is not None:
            self.fed = {**getattr(self, "fed", {}), feed: offset}

    def adjust(
        self,
        delta: int,
        at: datetime,
        reason: str,
        feed: str | None = None,
        offset: int | None = None,
    ) -> None:
        """A relative change (receipt, damage, found units), from `offset` of a `feed`."""
        if self.on_hand + delta < 0:
            raise StockError(
                f"{self.source_id}/{self.sku}: on-hand {self.on_hand} cannot go down by {-delta}"
            )
        if delta:
            self._adjusted(
                source_id=self.source_id,
                sku=self.sku,
                delta=delta,
                at=at,
                reason=reason,
                feed=feed,
                offset=offset,
            )

    @event("Adjusted")
    def _adjusted(
        self,
        source_id: str,
        sku: str,
        delta: int,
        at: datetime,
        reason: str,
        feed: str | None = None,
        offset: int | None = None,
    ) -> None:
        self.on_hand += delta
        self._note_fed(feed, offset)

    def reserve(self, order_id: str, quantity: int, at: datetime) -> None:
        check_reservation(self, self.reservations, order_id, quantity)
        self._reserved(
            source_id=self.source_id, sku=self.sku, order_id=order_id, quantity=quantity, at=at
        )

    @event("Reserved")
    def _reserved(
        self, source_id: str, sku: str, order_id: str, quantity: int, at: datetime
    ) -> None:
        self.reserved_units = self.reserved + quantity
        self.reservations[order_id] = quantity

    def release(self, order_id: str, at: datetime, reason: str) -> None:
        """Give an order's units back (cancelled, re-routed); releasing nothing is a no-op."""
        if order_id in self.reservations:
            self._released(
                source_id=self.source_id,
                sku=self.sku,
                order_id=order_id,
                quantity=self.reservations[order_id],
                at=at,
                reason=reason,
            )

    @event("Released")
    def _released(
        self, source_id: str, sku: str, order_id: str, quantity: int, at: datetime, reason: str
    ) -> None:
        self.reserved_units = self.reserved - self.reservations.pop(order_id)

    def consume(self, order_key: str, quantity: int, at: datetime) -> None:
        """Units shipped against a reservation leave on-hand; what was not shipped is freed."""
        reserved = self.reservations.get(order_key)
        if reserved is None:
            raise StockError(f"{self.source_id}/{self.sku}: nothing reserved for {order_key}")
        if not 0 < quantity <= reserved:
            raise StockError(
                f"{self.source_id}/{self.sku}: {quantity} shipped but {reserved} reserved"
            )
        self._consumed(
            source_id=self.source_id,
            sku=self.sku,
            order_id=order_key,
            quantity=quantity,
            freed=reserved - quantity,
            at=at,
        )

    @event("Consumed")
    def _consumed(
        self, source_id: str, sku: str, order_id: str, quantity: int, freed: int, at: datetime
    ) -> None:
        self.reserved_units = self.reserved - self.reservations.pop(order_id)
        self.on_hand -= quantity


class Reservable(Protocol):
    source_id: str
    sku: str

    @property
    def available(self) -> int: ...


def check_reservation(
    item: Reservable, taken: Container[str], order_id: str, quantity: int
) -> None:
    """Whether `item` may reserve `quantity` under the key `order_id` (keys in `taken` are
    reserved already): the checks of `StockItem.reserve`, shared with what reserves on an item
    known by its totals (hub.services.reserved_events)."""
    if quantity <= 0:
        raise StockError(f"a reservation needs a positive quantity, got {quantity}")
    if order_id in taken:
        raise StockError(f"{item.source_id}/{item.sku}: order {order_id} already reserved")
    if quantity > item.available:
        raise InsufficientStockError(item.source_id, item.sku, quantity, item.available)


def check_not_negative(name: str, value: int) -> None:
    if value < 0:
        raise StockError(f"{name} cannot be negative, got {value}")
