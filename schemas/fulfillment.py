"""What sources send back about the shipments they were asked for."""

from enum import StrEnum
from uuid import UUID

from pydantic import Field, StrictInt

from schemas.event_types import EventType
from schemas.submission import Contract
from schemas.types import MAX_QUANTITY, LineId, PlausibleTime, Slug


class UpdateKind(StrEnum):
    ACCEPTED = "accepted"
    REJECTED = "rejected"
    PICKED = "picked"
    PACKED = "packed"
    SHIPPED = "shipped"
    DELIVERED = "delivered"
    DELIVERY_FAILED = "delivery_failed"
    CANCELLATION_CONFIRMED = "cancellation_confirmed"
    CANCELLATION_REFUSED = "cancellation_refused"


class ShippedLine(Contract):
    line_id: LineId
    quantity: StrictInt = Field(gt=0, le=MAX_QUANTITY)


class FulfillmentUpdate(Contract):
    """One update from a source: on orderhub.fulfillment.updates or POST /v1/fulfillment/updates."""

    order_id: UUID
    shipment_id: LineId
    source_id: Slug
    kind: UpdateKind
    at: PlausibleTime
    carrier: str | None = Field(default=None, max_length=100)
    tracking: str | None = Field(default=None, max_length=100)
    lines: list[ShippedLine] | None = Field(
        default=None, description="Shipped quantities per line; all requested when left out"
    )
    reason: str | None = Field(default=None, max_length=500)


# Events that ask sources to withdraw open shipments (the data names them in withdrawn_from).
WITHDRAWAL_EVENT_TYPES = frozenset(
    {
        EventType.ORDER_CANCELLATION_REQUESTED,
        EventType.ORDER_CHANGED,
        EventType.ORDER_REROUTE_REQUESTED,
    }
)
