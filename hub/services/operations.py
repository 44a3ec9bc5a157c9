"""Operations staff's actions on orders, each recorded with the user as actor."""

from collections.abc import Callable
from datetime import datetime
from uuid import UUID

from aggregates import Order
from aggregates.errors import DomainError
from hub.services.lookup import find
from hub.store import OrderStore


class UnknownOrderError(DomainError):
    def __init__(self, order_id: UUID) -> None:
        super().__init__(f"no order {order_id}")
        self.order_id = order_id


class OperationsService:
    def __init__(self, store: OrderStore, clock: Callable[[], datetime]) -> None:
        self._store = store
        self._clock = clock

    def release_hold(self, order_id: UUID, note: str, actor: str) -> Order:
        """Release a held order; orchestration picks it up again, without hold rules."""
        order = find(self._store, order_id, Order)
        if order is None:
            raise UnknownOrderError(order_id)
        order.release_hold(note, actor=actor, now=self._clock())
        self._store.save(order)
        return order
