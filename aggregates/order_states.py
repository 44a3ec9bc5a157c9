"""The order's statuses and which commands each allows."""

from datetime import timedelta
from enum import StrEnum

# Channel clocks drift; an order "placed" further in the future than this is a bad timestamp.
MAX_CLOCK_SKEW = timedelta(minutes=5)


class OrderStatus(StrEnum):
    PLACED = "placed"
    ACCEPTED = "accepted"
    REJECTED = "rejected"
    HELD = "held"
    ROUTED = "routed"
    BACKORDERED = "backordered"
    UNROUTABLE = "unroutable"
    REROUTING = "rerouting"
    IN_FULFILLMENT = "in_fulfillment"
    PARTIALLY_SHIPPED = "partially_shipped"
    SHIPPED = "shipped"
    DELIVERED = "delivered"
    COMPLETED = "completed"
    CANCELLED = "cancelled"
    CANCELLING = "cancelling"
    PARTIALLY_RETURNED = "partially_returned"
    RETURNED = "returned"


# Where a person may not send the order elsewhere: not taken yet, or finished.
UNREROUTABLE = frozenset(
    {OrderStatus.PLACED, OrderStatus.REJECTED, OrderStatus.CANCELLED, OrderStatus.CANCELLING}
)
# Where orchestration may (re)start: just accepted, released from hold, or waiting for stock.
ROUTABLE = frozenset({OrderStatus.ACCEPTED, OrderStatus.BACKORDERED, OrderStatus.REROUTING})
