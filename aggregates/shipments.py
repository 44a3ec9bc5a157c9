"""The shipment state machine: which source update moves a shipment, and which is stale.

Sources report late, twice and out of order (shipped before accepted). An update that does not
move the shipment forward changes nothing; one that skips states implies them.
"""

from collections.abc import Collection, Mapping
from enum import StrEnum

from schemas.fulfillment import UpdateKind


class ShipmentState(StrEnum):
    REQUESTED = "requested"
    ACCEPTED = "accepted"
    PICKED = "picked"
    PACKED = "packed"
    SHIPPED = "shipped"
    DELIVERY_FAILED = "delivery_failed"
    DELIVERED = "delivered"
    REJECTED = "rejected"
    CANCELLED = "cancelled"


# Forward order. A failed delivery may be followed by a delivery (a second attempt), never the
# other way round.
RANK = {
    ShipmentState.REQUESTED: 0,
    ShipmentState.ACCEPTED: 1,
    ShipmentState.PICKED: 2,
    ShipmentState.PACKED: 3,
    ShipmentState.SHIPPED: 4,
    ShipmentState.DELIVERY_FAILED: 5,
    ShipmentState.DELIVERED: 6,
}
CLOSED = frozenset({ShipmentState.REJECTED, ShipmentState.CANCELLED})
LEFT_THE_BUILDING = frozenset(
    {ShipmentState.SHIPPED, ShipmentState.DELIVERY_FAILED, ShipmentState.DELIVERED}
)
TARGET = {
    UpdateKind.ACCEPTED: ShipmentState.ACCEPTED,
    UpdateKind.PICKED: ShipmentState.PICKED,
    UpdateKind.PACKED: ShipmentState.PACKED,
    UpdateKind.SHIPPED: ShipmentState.SHIPPED,
    UpdateKind.DELIVERY_FAILED: ShipmentState.DELIVERY_FAILED,
    UpdateKind.DELIVERED: ShipmentState.DELIVERED,
}


def moves_forward(current: ShipmentState, kind: UpdateKind) -> bool:
    """True when the update changes the shipment; False for a stale or repeated one."""
    if current in CLOSED:
        return False
    if kind in (UpdateKind.REJECTED, UpdateKind.CANCELLATION_CONFIRMED):
        return current not in LEFT_THE_BUILDING
    if kind is UpdateKind.CANCELLATION_REFUSED:
        return False  # the source will report the shipment itself
    return RANK[TARGET[kind]] > RANK[current]


def fulfillment_status(states: list[ShipmentState], waiting: bool, all_invoiced: bool) -> str:
    """The order's status as its shipments say it (None of them live: the caller decides)."""
    live = [s for s in states if s not in CLOSED]
    if not live:
        return "cancelled" if not waiting else "backordered"
    if waiting:
        return "backordered"
    if all(s is ShipmentState.DELIVERED for s in live):
        return "completed" if all_invoiced else "delivered"
    if all(s in LEFT_THE_BUILDING for s in live):
        return "shipped"
    if any(s in LEFT_THE_BUILDING for s in live):
        return "partially_shipped"
    if any(RANK[s] >= RANK[ShipmentState.ACCEPTED] for s in live):
        return "in_fulfillment"
    return "routed"


def order_status_from(
    states: Mapping[str, ShipmentState],
    withdrawing: Collection[str],
    waiting: bool,
    invoiced: Collection[str],
) -> str:
    """The order's status from its shipments (id → state). A withdrawn shipment no longer
    counts unless it shipped before the withdrawal arrived; while one is still open, a
    cancelled order is `cancelling`."""
    kept = {
        sid: state
        for sid, state in states.items()
        if sid not in withdrawing or state in LEFT_THE_BUILDING
    }
    all_invoiced = all(sid in invoiced for sid, st in kept.items() if st not in CLOSED)
    status = fulfillment_status(list(kept.values()), waiting, all_invoiced)
    if status == "cancelled" and withdrawal_pending(states, withdrawing):
        return "cancelling"
    return status


def withdrawal_pending(states: Mapping[str, ShipmentState], withdrawing: Collection[str]) -> bool:
    """Whether a withdrawn shipment's source has neither confirmed, refused by shipping, nor
    rejected it yet."""
    return any(
        states[sid] not in CLOSED | LEFT_THE_BUILDING for sid in withdrawing if sid in states
    )
