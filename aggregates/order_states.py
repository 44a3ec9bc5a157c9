"""The order's statuses, which commands each allows, and how fulfillment decides it."""

from collections.abc import Collection, Mapping
from dataclasses import dataclass
from datetime import timedelta
from enum import StrEnum

from aggregates.shipments import ShipmentState, order_status_from, withdrawal_pending

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


@dataclass(frozen=True)
class FulfillmentFacts:
    """What an order's status follows from once it is in fulfillment: the aggregate and the
    order view both derive the status from these, with `derived_status`."""

    shipments: Mapping[str, ShipmentState]
    withdrawing: Collection[str] = ()
    waiting: bool = False
    invoiced: Collection[str] = ()
    unroutable: bool = False
    held: bool = False
    cancel_requested: bool = False
    shipped_units: int = 0
    returned_units: int = 0


def derived_status(facts: FulfillmentFacts) -> OrderStatus:
    """The one rule for an order's status in fulfillment."""
    if facts.unroutable and not facts.cancel_requested:
        return OrderStatus.UNROUTABLE
    if facts.held and not facts.cancel_requested:
        # Lines wait for a person while other shipments move on: the order stays held
        # (not "backordered", which a stock sweep would route again).
        return OrderStatus.HELD
    if facts.returned_units:
        full = facts.returned_units >= facts.shipped_units
        return OrderStatus.RETURNED if full else OrderStatus.PARTIALLY_RETURNED
    status = OrderStatus(
        order_status_from(facts.shipments, facts.withdrawing, facts.waiting, facts.invoiced)
    )
    if facts.cancel_requested and withdrawal_pending(facts.shipments, facts.withdrawing):
        # The rest of an order that shipped in part is not closed until its sources answer.
        return OrderStatus.CANCELLING
    return status
