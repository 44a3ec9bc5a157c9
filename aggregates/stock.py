"""StockItem: what one source holds of one SKU, and what is promised to orders from it."""

from datetime import datetime
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
        self, source_id: str, sku: str, on_hand: int, safety_stock: int, at: datetime
    ) -> None:
        check_not_negative("on_hand", on_hand)
        check_not_negative("safety_stock", safety_stock)
        self.source_id = source_id
        self.sku = sku
        self.on_hand = on_hand
        self.safety_stock = safety_stock
        self.reservations: dict[str, int] = {}
        self.counted_at = at

    @property
    def reserved(self) -> int:
        return sum(self.reservations.values())

    @property
    def available(self) -> int:
        return max(0, self.on_hand - self.reserved - self.safety_stock)

    def count(self, on_hand: int, safety_stock: int | None, at: datetime, reason: str) -> None:
        """An absolute snapshot from the source's own system."""
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
        )

    @event("Counted")
    def _counted(
        self,
        source_id: str,
        sku: str,
        on_hand: int,
        safety_stock: int,
        at: datetime,
        reason: str,
    ) -> None:
        self.on_hand = on_hand
        self.safety_stock = safety_stock
        self.counted_at = at

    def adjust(self, delta: int, at: datetime, reason: str) -> None:
        """A relative change (receipt, damage, found units)."""
        if self.on_hand + delta < 0:
            raise StockError(
                f"{self.source_id}/{self.sku}: on-hand {self.on_hand} cannot go down by {-delta}"
            )
        if delta:
            self._adjusted(
                source_id=self.source_id, sku=self.sku, delta=delta, at=at, reason=reason
            )

    @event("Adjusted")
    def _adjusted(self, source_id: str, sku: str, delta: int, at: datetime, reason: str) -> None:
        self.on_hand += delta

    def reserve(self, order_id: str, quantity: int, at: datetime) -> None:
        if quantity <= 0:
            raise StockError(f"a reservation needs a positive quantity, got {quantity}")
        if order_id in self.reservations:
            raise StockError(f"{self.source_id}/{self.sku}: order {order_id} already reserved")
        if quantity > self.available:
            raise InsufficientStockError(self.source_id, self.sku, quantity, self.available)
        self._reserved(
            source_id=self.source_id, sku=self.sku, order_id=order_id, quantity=quantity, at=at
        )

    @event("Reserved")
    def _reserved(
        self, source_id: str, sku: str, order_id: str, quantity: int, at: datetime
    ) -> None:
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
        del self.reservations[order_id]

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
        del self.reservations[order_id]
        self.on_hand -= quantity


def check_not_negative(name: str, value: int) -> None:
    if value < 0:
        raise StockError(f"{name} cannot be negative, got {value}")
