"""Order: what the sources report about its shipments (mixed into the Order class)."""

from collections.abc import Sequence
from dataclasses import replace
from datetime import datetime
from typing import Any

from aggregates.errors import (
    ShipmentError,
    unknown_shipment,
)
from aggregates.order_state import OrderState, order_event
from aggregates.order_states import OrderStatus
from aggregates.order_values import Shipment, ShipmentLine
from aggregates.shipments import (
    LEFT_THE_BUILDING,
    TARGET,
    ShipmentState,
    moves_forward,
)
from schemas.fulfillment import ShippedLine, UpdateKind


class OrderFulfillment(OrderState):
    """What the sources report about an order's shipments."""

    def apply_update(
        self,
        shipment_id: str,
        source_id: str,
        kind: UpdateKind,
        actor: str,
        at: datetime,
        carrier: str | None = None,
        tracking: str | None = None,
        shipped_lines: Sequence[ShippedLine] | None = None,
        reason: str | None = None,
    ) -> bool:
        """Apply a source's update; False when it is stale or repeated (nothing recorded)."""
        shipment = self.shipments.get(shipment_id)
        if shipment is None or shipment.source_id != source_id:
            # Another source's shipment answers exactly like one that does not exist: a source
            # learns nothing about who else fulfils an order.
            raise unknown_shipment(self.id, shipment_id, source_id)
        if not moves_forward(shipment.state, kind):
            return False
        common: dict[str, Any] = {
            "shipment_id": shipment_id,
            "source_id": source_id,
            "actor": actor,
            "correlation_id": self.correlation_id,
            "at": at,
        }
        if kind is UpdateKind.CANCELLATION_CONFIRMED and shipment_id not in self.withdrawing:
            raise ShipmentError(f"shipment {shipment_id} was not withdrawn; nothing to confirm")
        if kind is UpdateKind.REJECTED:
            self._shipment_rejected(lines=list(shipment.lines), reason=reason or "", **common)
        elif kind is UpdateKind.CANCELLATION_CONFIRMED:
            self._shipment_cancelled(lines=list(shipment.lines), **common)
        else:
            lines = list(shipment.lines)
            if kind is UpdateKind.SHIPPED:
                lines = self._check_shipped(shipment, carrier, tracking, shipped_lines)
            self._shipment_progressed(
                state=TARGET[kind].value,
                carrier=carrier,
                tracking=tracking,
                lines=lines,
                reason=reason,
                **common,
            )
        return True

    @order_event("ShipmentProgressed")
    def _shipment_progressed(
        self,
        shipment_id: str,
        source_id: str,
        state: str,
        carrier: str | None,
        tracking: str | None,
        lines: list[ShipmentLine],
        reason: str | None,
        actor: str,
        correlation_id: str,
        at: datetime,
    ) -> None:
        shipment = self.shipments[shipment_id].moved_to(ShipmentState(state))
        if shipment.state in LEFT_THE_BUILDING and shipment.shipped_lines is None:
            # A delivery reported before the shipment itself still means the goods left.
            shipment = replace(
                shipment, carrier=carrier, tracking=tracking, shipped_lines=tuple(lines)
            )
        self.shipments[shipment_id] = shipment
        self._derive_status()

    @order_event("ShipmentRejected")
    def _shipment_rejected(
        self,
        shipment_id: str,
        source_id: str,
        lines: list[ShipmentLine],
        reason: str,
        actor: str,
        correlation_id: str,
        at: datetime,
    ) -> None:
        """The source cannot ship: its lines go back to orchestration, without that source."""
        self.shipments[shipment_id] = self.shipments[shipment_id].moved_to(ShipmentState.REJECTED)
        self.rejected_sources.append(source_id)
        if source_id == self.pinned_source:
            self.pinned_source = None  # the chosen source refused: the policy decides again
        if self.cancel_requested or shipment_id in self.withdrawing:
            self._derive_status()  # a cancelled order's lines are not routed again
            return
        for line in lines:
            self.waiting[line.line_id] = self.waiting.get(line.line_id, 0) + line.quantity
        self.status = OrderStatus.REROUTING

    @order_event("ShipmentCancelled")
    def _shipment_cancelled(
        self,
        shipment_id: str,
        source_id: str,
        lines: list[ShipmentLine],
        actor: str,
        correlation_id: str,
        at: datetime,
    ) -> None:
        self.shipments[shipment_id] = self.shipments[shipment_id].moved_to(ShipmentState.CANCELLED)
        self._derive_status()

    def _check_shipped(
        self,
        shipment: Shipment,
        carrier: str | None,
        tracking: str | None,
        shipped_lines: Sequence[ShippedLine] | None,
    ) -> list[ShipmentLine]:
        if not carrier or not tracking:
            raise ShipmentError("a shipped update needs a carrier and a tracking number")
        requested = {line.line_id: line for line in shipment.lines}
        if shipped_lines is None:
            return list(shipment.lines)
        out = []
        for line in shipped_lines:
            asked = requested.get(line.line_id)
            if asked is None:
                raise ShipmentError(f"line {line.line_id} is not in this shipment")
            if not 0 < line.quantity <= asked.quantity:
                raise ShipmentError(
                    f"line {line.line_id}: shipped {line.quantity}, requested {asked.quantity}"
                )
            out.append(replace(asked, quantity=line.quantity))
        return out
