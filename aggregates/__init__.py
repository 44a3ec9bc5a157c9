"""The write model: pure domain on the eventsourcing library. No I/O, no clock."""

from aggregates.errors import DomainError, InvalidTransitionError, OrderError
from aggregates.ids import ORDER_NAMESPACE, order_id_for
from aggregates.order import Order, OrderStatus

__all__ = [
    "ORDER_NAMESPACE",
    "DomainError",
    "InvalidTransitionError",
    "Order",
    "OrderError",
    "OrderStatus",
    "order_id_for",
]
