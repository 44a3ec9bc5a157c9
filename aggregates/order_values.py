"""The values an order is made of: what it holds and what its events carry.

Frozen: a change to a shipment or a return replaces the value, so no one holding an old one
sees it move. Events carry these values (and the submission as `schemas`' OrderSubmission);
the store's mapper (aggregates.typed_mapper) writes them as the same JSON the plain dicts of
earlier releases were, and reads both back as values.
"""

from dataclasses import dataclass, replace
from decimal import Decimal
from enum import StrEnum

from aggregates.shipments import ShipmentState


@dataclass(frozen=True)
class ShipmentLine:
    """Units of one order line, in a shipment, a wait or a routing."""

    line_id: str
    sku: str
    quantity: int


@dataclass(frozen=True)
class RequestedShipment:
    """What orchestration asks a source to ship."""

    shipment_id: str
    source_id: str
    lines: tuple[ShipmentLine, ...]


@dataclass(frozen=True)
class Shipment:
    source_id: str
    lines: tuple[ShipmentLine, ...]
    state: ShipmentState = ShipmentState.REQUESTED
    # Each message to the source about the shipment is numbered, so it can detect a gap.
    sequence: int = 1
    carrier: str | None = None
    tracking: str | None = None
    # What left the building: set once, by the first update that says it did.
    shipped_lines: tuple[ShipmentLine, ...] | None = None

    def moved_to(self, state: ShipmentState) -> "Shipment":
        return replace(self, state=state)


@dataclass(frozen=True)
class Hold:
    rule: str
    reason: str


@dataclass(frozen=True)
class IssuedInvoice:
    invoice_id: str
    gross_total: Decimal


@dataclass(frozen=True)
class ReturnLine:
    line_id: str
    quantity: int


class ReturnState(StrEnum):
    REQUESTED = "requested"
    RECEIVED = "received"


@dataclass(frozen=True)
class ReturnAuthorisation:
    lines: tuple[ReturnLine, ...]
    state: ReturnState = ReturnState.REQUESTED
