"""The Order aggregate: placed by a channel, then accepted or rejected at intake."""

from datetime import datetime, timedelta
from decimal import Decimal
from enum import StrEnum
from typing import Any
from uuid import UUID

from eventsourcing.domain import Aggregate, event

from aggregates.errors import (
    InvalidTransitionError,
    OrderError,
    ShipmentError,
    UnknownShipmentError,
)
from aggregates.ids import order_id_for
from aggregates.shipments import (
    CLOSED,
    LEFT_THE_BUILDING,
    TARGET,
    ShipmentState,
    moves_forward,
    order_status_from,
)
from schemas.fulfillment import UpdateKind

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


class Order(Aggregate):
    """One customer order, identified by its channel and the channel's own order id."""

    @staticmethod
    def create_id(channel: str, external_id: str) -> UUID:
        return order_id_for(channel, external_id)

    @event("Placed")
    def __init__(
        self,
        channel: str,
        external_id: str,
        submission: dict[str, Any],
        digest: str,
        raw_payload: str,
        actor: str,
        correlation_id: str,
        received_at: datetime,
    ) -> None:
        check_actor(actor)
        self.channel = channel
        self.external_id = external_id
        self.submission = submission
        self.digest = digest
        self.raw_payload = raw_payload
        self.placed_by = actor
        self.correlation_id = correlation_id
        self.received_at = received_at
        self.status = OrderStatus.PLACED
        self.rejection_reasons: list[str] = []
        self.hold: dict[str, str] | None = None
        self.holds_released = False
        self.pinned_source: str | None = None
        self.routing_attempts = 0
        self.shipments: dict[str, dict[str, Any]] = {}
        self.waiting: dict[str, int] = {}
        self.decision: dict[str, Any] | None = None
        self.rejected_sources: list[str] = []
        self.invoices: dict[str, dict[str, Any]] = {}
        self.cancel_requested = False
        self.withdrawing: set[str] = set()
        self.unroutable: str | None = None
        self.revision = 1
        self.captures: dict[str, str] = {}
        self.returns: dict[str, dict[str, Any]] = {}
        self.returned: dict[str, int] = {}
        self.refunds: list[str] = []
        self.explanation: str | None = None

    def intake_problems(self, now: datetime) -> list[str]:
        """Business rules a well-formed submission can still break; empty when acceptable."""
        problems = []
        placed_at = datetime.fromisoformat(self.submission["placed_at"])
        if placed_at > now + MAX_CLOCK_SKEW:
            problems.append(
                f"placed_at: {placed_at.isoformat()} is in the future "
                f"(more than {int(MAX_CLOCK_SKEW.total_seconds() // 60)} minutes ahead)"
            )
        return problems

    def accept(self, actor: str, now: datetime) -> None:
        self.check_status_is(OrderStatus.PLACED, "accepted")
        self._accepted(actor=actor, correlation_id=self.correlation_id, accepted_at=now)

    @event("Accepted")
    def _accepted(self, actor: str, correlation_id: str, accepted_at: datetime) -> None:
        self.status = OrderStatus.ACCEPTED

    def reject(self, reasons: list[str], actor: str, now: datetime) -> None:
        self.check_status_is(OrderStatus.PLACED, "rejected")
        if not reasons:
            raise ValueError("a rejection needs at least one reason")
        self._rejected(
            reasons=list(reasons),
            actor=actor,
            correlation_id=self.correlation_id,
            rejected_at=now,
        )

    @event("Rejected")
    def _rejected(
        self, reasons: list[str], actor: str, correlation_id: str, rejected_at: datetime
    ) -> None:
        self.status = OrderStatus.REJECTED
        self.rejection_reasons = reasons

    def lines_to_route(self) -> dict[str, tuple[str, int]]:
        """line_id → (sku, quantity) still to be sourced: all lines at first, then what waits."""
        if self.status in (OrderStatus.BACKORDERED, OrderStatus.REROUTING):
            skus = {line["line_id"]: line["sku"] for line in self.submission["lines"]}
            return {lid: (skus[lid], qty) for lid, qty in self.waiting.items()}
        return {
            line["line_id"]: (line["sku"], int(line["quantity"]))
            for line in self.submission["lines"]
        }

    def put_on_hold(
        self,
        rule: str,
        reason: str,
        actor: str,
        now: datetime,
        decision: dict[str, Any] | None = None,
        explanation: str | None = None,
    ) -> None:
        self.check_status_in(ROUTABLE, "put on hold")
        self._held(
            rule=rule,
            reason=reason,
            decision=decision,
            explanation=explanation,
            actor=actor,
            correlation_id=self.correlation_id,
            at=now,
        )

    @event("Held")
    def _held(
        self,
        rule: str,
        reason: str,
        decision: dict[str, Any] | None,
        explanation: str | None,
        actor: str,
        correlation_id: str,
        at: datetime,
    ) -> None:
        self.status = OrderStatus.HELD
        self.hold = {"rule": rule, "reason": reason}
        if decision is not None:
            self.decision = decision
            self.explanation = explanation

    def release_hold(self, note: str, actor: str, now: datetime) -> None:
        """An ops user lets the order through: hold rules are not applied to it again."""
        self.check_status_in(frozenset({OrderStatus.HELD}), "released from hold")
        self._hold_released(note=note, actor=actor, correlation_id=self.correlation_id, at=now)

    @event("HoldReleased")
    def _hold_released(self, note: str, actor: str, correlation_id: str, at: datetime) -> None:
        # Lines with live shipments stay where they are: only what still waits is routed again.
        self.status = (
            OrderStatus.REROUTING if self.shipments or self.waiting else OrderStatus.ACCEPTED
        )
        self.hold = None
        self.holds_released = True

    def route(
        self,
        decision: dict[str, Any],
        decision_digest: str,
        explanation: str,
        inputs_digest: str,
        shipments: list[dict[str, Any]],
        waiting: dict[str, int],
        unroutable_reason: str | None,
        actor: str,
        now: datetime,
    ) -> None:
        """Record a routing decision and one FulfillmentRequested per shipment.

        `waiting` (line id → quantity) are the backordered lines; the event names their SKUs,
        demand class and placed-at so that a backorder queue can be kept from events alone.
        """
        self.check_status_in(ROUTABLE, "routed")
        for shipment in shipments:
            if shipment["shipment_id"] in self.shipments:
                raise OrderError(f"shipment {shipment['shipment_id']} was requested already")
        policy = decision["policy"]
        self._routed(
            policy_id=policy["id"],
            policy_version=policy["version"],
            decision=decision,
            decision_digest=decision_digest,
            explanation=explanation,
            inputs_digest=inputs_digest,
            waiting_lines=[
                {"line_id": lid, "sku": self._sku_of(lid), "quantity": qty}
                for lid, qty in sorted(waiting.items())
            ],
            demand_class=self.submission["customer"].get("demand_class", "standard"),
            placed_at=self.submission["placed_at"],
            unroutable_reason=unroutable_reason,
            actor=actor,
            correlation_id=self.correlation_id,
            at=now,
        )
        for shipment in shipments:
            self._fulfillment_requested(
                **shipment,
                ship_to=self.submission["ship_to"],
                delivery_method=self.submission.get("delivery_method", "standard"),
                promised_by=self.submission.get("promised_by"),
                actor=actor,
                correlation_id=self.correlation_id,
                at=now,
            )

    @event("Routed")
    def _routed(
        self,
        policy_id: str,
        policy_version: int,
        decision: dict[str, Any],
        decision_digest: str,
        explanation: str,
        inputs_digest: str,
        waiting_lines: list[dict[str, Any]],
        demand_class: str,
        placed_at: str,
        unroutable_reason: str | None,
        actor: str,
        correlation_id: str,
        at: datetime,
    ) -> None:
        self.routing_attempts += 1
        self.decision = decision
        self.explanation = explanation
        self.waiting = {w["line_id"]: w["quantity"] for w in waiting_lines}
        # Lines no source can take are an exception, even when other lines ship.
        self.unroutable = unroutable_reason
        if unroutable_reason is not None:
            self.status = OrderStatus.UNROUTABLE
        elif self.waiting:
            self.status = OrderStatus.BACKORDERED
        else:
            self.status = OrderStatus.ROUTED

    @event("FulfillmentRequested")
    def _fulfillment_requested(
        self,
        shipment_id: str,
        source_id: str,
        lines: list[dict[str, Any]],
        ship_to: dict[str, Any],
        delivery_method: str,
        promised_by: str | None,
        actor: str,
        correlation_id: str,
        at: datetime,
        shipment_sequence: int = 1,
    ) -> None:
        self.shipments[shipment_id] = {
            "source_id": source_id,
            "lines": lines,
            "state": ShipmentState.REQUESTED.value,
            "sequence": shipment_sequence,
        }
        self._derive_status()

    # --- fulfillment: what the sources report -------------------------------------------------

    def apply_update(
        self,
        shipment_id: str,
        source_id: str,
        kind: UpdateKind,
        actor: str,
        at: datetime,
        carrier: str | None = None,
        tracking: str | None = None,
        shipped_lines: list[dict[str, Any]] | None = None,
        reason: str | None = None,
    ) -> bool:
        """Apply a source's update; False when it is stale or repeated (nothing recorded)."""
        shipment = self.shipments.get(shipment_id)
        if shipment is None:
            raise UnknownShipmentError(f"order {self.id} has no shipment {shipment_id}")
        if shipment["source_id"] != source_id:
            raise ShipmentError(
                f"shipment {shipment_id} belongs to {shipment['source_id']}, not {source_id}"
            )
        if not moves_forward(ShipmentState(shipment["state"]), kind):
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
            self._shipment_rejected(lines=shipment["lines"], reason=reason or "", **common)
        elif kind is UpdateKind.CANCELLATION_CONFIRMED:
            self._shipment_cancelled(lines=shipment["lines"], **common)
        else:
            lines = shipment["lines"]
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

    @event("ShipmentProgressed")
    def _shipment_progressed(
        self,
        shipment_id: str,
        source_id: str,
        state: str,
        carrier: str | None,
        tracking: str | None,
        lines: list[dict[str, Any]],
        reason: str | None,
        actor: str,
        correlation_id: str,
        at: datetime,
    ) -> None:
        shipment = self.shipments[shipment_id]
        shipment["state"] = state
        if ShipmentState(state) in LEFT_THE_BUILDING and "shipped_lines" not in shipment:
            # A delivery reported before the shipment itself still means the goods left.
            shipment.update(carrier=carrier, tracking=tracking, shipped_lines=lines)
        self._derive_status()

    @event("ShipmentRejected")
    def _shipment_rejected(
        self,
        shipment_id: str,
        source_id: str,
        lines: list[dict[str, Any]],
        reason: str,
        actor: str,
        correlation_id: str,
        at: datetime,
    ) -> None:
        """The source cannot ship: its lines go back to orchestration, without that source."""
        self.shipments[shipment_id]["state"] = ShipmentState.REJECTED.value
        self.rejected_sources.append(source_id)
        if source_id == self.pinned_source:
            self.pinned_source = None  # the chosen source refused: the policy decides again
        if self.cancel_requested or shipment_id in self.withdrawing:
            self._derive_status()  # a cancelled order's lines are not routed again
            return
        for line in lines:
            self.waiting[line["line_id"]] = self.waiting.get(line["line_id"], 0) + line["quantity"]
        self.status = OrderStatus.REROUTING

    @event("ShipmentCancelled")
    def _shipment_cancelled(
        self,
        shipment_id: str,
        source_id: str,
        lines: list[dict[str, Any]],
        actor: str,
        correlation_id: str,
        at: datetime,
    ) -> None:
        self.shipments[shipment_id]["state"] = ShipmentState.CANCELLED.value
        self._derive_status()

    def request_cancellation(self, reason: str, actor: str, now: datetime) -> list[str]:
        """Cancel the whole order before it ships: open shipments are withdrawn (the sources
        confirm or refuse), waiting lines are dropped. Returns the shipments withdrawn."""
        if any(ShipmentState(s["state"]) in LEFT_THE_BUILDING for s in self.shipments.values()):
            raise InvalidTransitionError(self.id, self.status.value, "cancelled (it shipped)")
        if self.status in (OrderStatus.CANCELLED, OrderStatus.REJECTED):
            raise InvalidTransitionError(self.id, self.status.value, "cancelled")
        open_ids = sorted(
            sid for sid, s in self.shipments.items() if ShipmentState(s["state"]) not in CLOSED
        )
        self._cancellation_requested(
            reason=reason,
            withdrawn=open_ids,
            withdrawn_from={sid: self.shipments[sid]["source_id"] for sid in open_ids},
            shipment_sequences=self._next_sequences(open_ids),
            actor=actor,
            correlation_id=self.correlation_id,
            at=now,
        )
        return open_ids

    def _next_sequences(self, shipment_ids: list[str]) -> dict[str, int]:
        """Each message to a source about a shipment is numbered, so it can detect a gap."""
        return {sid: int(self.shipments[sid].get("sequence", 1)) + 1 for sid in shipment_ids}

    @event("CancellationRequested")
    def _cancellation_requested(
        self,
        reason: str,
        withdrawn: list[str],
        withdrawn_from: dict[str, str],
        actor: str,
        correlation_id: str,
        at: datetime,
        shipment_sequences: dict[str, int] | None = None,
    ) -> None:
        self._number(shipment_sequences)
        self.cancel_requested = True
        self.withdrawing.update(withdrawn)
        self.waiting = {}
        self._derive_status()

    def change(
        self,
        submission: dict[str, Any],
        digest: str,
        raw_payload: str,
        actor: str,
        now: datetime,
    ) -> list[str]:
        """A new revision of the order before anything shipped: open shipments are withdrawn
        (their sources confirm or refuse) and the whole revised order is routed again.
        Returns the shipments withdrawn."""
        if any(ShipmentState(s["state"]) in LEFT_THE_BUILDING for s in self.shipments.values()):
            raise InvalidTransitionError(
                self.id, self.status.value, "changed (it shipped: only a return is possible)"
            )
        if (
            self.status
            in (
                OrderStatus.CANCELLED,
                OrderStatus.CANCELLING,
                OrderStatus.REJECTED,
                OrderStatus.PLACED,
            )
            or self.cancel_requested
        ):
            raise InvalidTransitionError(self.id, self.status.value, "changed")
        if digest == self.digest:
            return []
        open_ids = sorted(
            sid
            for sid, s in self.shipments.items()
            if ShipmentState(s["state"]) not in CLOSED and sid not in self.withdrawing
        )
        self._changed(
            revision=self.revision + 1,
            submission=submission,
            digest=digest,
            raw_payload=raw_payload,
            withdrawn=open_ids,
            withdrawn_from={sid: self.shipments[sid]["source_id"] for sid in open_ids},
            shipment_sequences=self._next_sequences(open_ids),
            actor=actor,
            correlation_id=self.correlation_id,
            at=now,
        )
        return open_ids

    @event("Changed")
    def _changed(
        self,
        revision: int,
        submission: dict[str, Any],
        digest: str,
        raw_payload: str,
        withdrawn: list[str],
        withdrawn_from: dict[str, str],
        actor: str,
        correlation_id: str,
        at: datetime,
        shipment_sequences: dict[str, int] | None = None,
    ) -> None:
        self._number(shipment_sequences)
        self.revision = revision
        self.submission = submission
        self.digest = digest
        self.raw_payload = raw_payload
        self.withdrawing.update(withdrawn)
        self.waiting = {line["line_id"]: int(line["quantity"]) for line in submission["lines"]}
        self.status = OrderStatus.REROUTING

    def reroute(self, source_id: str, reason: str, actor: str, now: datetime) -> list[str]:
        """An ops user sends the order to a source of their choice, before anything shipped:
        open shipments are withdrawn (their sources confirm or refuse) and the order is routed
        again to that source alone, without hold rules. Returns the shipments withdrawn."""
        if any(ShipmentState(s["state"]) in LEFT_THE_BUILDING for s in self.shipments.values()):
            raise InvalidTransitionError(self.id, self.status.value, "re-routed (it shipped)")
        if self.status in UNREROUTABLE or self.cancel_requested:
            raise InvalidTransitionError(self.id, self.status.value, "re-routed")
        if not reason.strip():
            raise OrderError("reason: say why the order goes to this source")
        open_ids = sorted(
            sid
            for sid, s in self.shipments.items()
            if ShipmentState(s["state"]) not in CLOSED and sid not in self.withdrawing
        )
        self._reroute_requested(
            source_id=source_id,
            reason=reason.strip(),
            withdrawn=open_ids,
            withdrawn_from={sid: self.shipments[sid]["source_id"] for sid in open_ids},
            shipment_sequences=self._next_sequences(open_ids),
            actor=actor,
            correlation_id=self.correlation_id,
            at=now,
        )
        return open_ids

    @event("RerouteRequested")
    def _reroute_requested(
        self,
        source_id: str,
        reason: str,
        withdrawn: list[str],
        withdrawn_from: dict[str, str],
        actor: str,
        correlation_id: str,
        at: datetime,
        shipment_sequences: dict[str, int] | None = None,
    ) -> None:
        self._number(shipment_sequences)
        self.withdrawing.update(withdrawn)
        self.waiting = {line["line_id"]: int(line["quantity"]) for line in self.submission["lines"]}
        self.pinned_source = source_id
        # A person chose it knowingly, even if it refused this order before.
        self.rejected_sources = [s for s in self.rejected_sources if s != source_id]
        self.unroutable = None
        self.hold = None
        self.status = OrderStatus.REROUTING

    def record_invoice(
        self, shipment_id: str, invoice: dict[str, Any], actor: str, now: datetime
    ) -> bool:
        """Invoice a shipped shipment once; False when it was invoiced already."""
        shipment = self.shipments[shipment_id]
        if ShipmentState(shipment["state"]) not in LEFT_THE_BUILDING:
            raise ShipmentError(f"shipment {shipment_id} has not shipped; nothing to invoice")
        if shipment_id in self.invoices:
            return False
        self._invoice_issued(
            shipment_id=shipment_id,
            actor=actor,
            correlation_id=self.correlation_id,
            at=now,
            **invoice,
        )
        return True

    @event("InvoiceIssued")
    def _invoice_issued(
        self,
        shipment_id: str,
        invoice_id: str,
        lines: list[dict[str, Any]],
        currency: str,
        net_total: str,
        tax_rate: str,
        tax_total: str,
        gross_total: str,
        actor: str,
        correlation_id: str,
        at: datetime,
    ) -> None:
        self.invoices[shipment_id] = {"invoice_id": invoice_id, "gross_total": gross_total}
        self._derive_status()

    def capture_payment(self, invoice_id: str, amount: str, actor: str, now: datetime) -> bool:
        """Capture what an invoice asks for, once; orders paid on account capture nothing."""
        if self.submission.get("payment_state") == "not_required" or invoice_id in self.captures:
            return False
        self._payment_captured(
            invoice_id=invoice_id,
            amount=amount,
            currency=self.submission["currency"],
            actor=actor,
            correlation_id=self.correlation_id,
            at=now,
        )
        return True

    @event("PaymentCaptured")
    def _payment_captured(
        self,
        invoice_id: str,
        amount: str,
        currency: str,
        actor: str,
        correlation_id: str,
        at: datetime,
    ) -> None:
        self.captures[invoice_id] = amount

    # --- returns and refunds ---------------------------------------------------------------

    def request_return(
        self, rma_id: str, lines: list[dict[str, Any]], reason: str, actor: str, now: datetime
    ) -> None:
        """Authorise a return of shipped units (never more than shipped and not yet returned)."""
        if rma_id in self.returns:
            raise OrderError(f"return {rma_id} exists already")
        returnable = self.returnable()
        for line in lines:
            left = returnable.get(line["line_id"], 0)
            if not 0 < int(line["quantity"]) <= left:
                raise OrderError(
                    f"line {line['line_id']}: {line['quantity']} to return, {left} returnable"
                )
        self._return_requested(
            rma_id=rma_id,
            lines=lines,
            reason=reason,
            actor=actor,
            correlation_id=self.correlation_id,
            at=now,
        )

    @event("ReturnRequested")
    def _return_requested(
        self,
        rma_id: str,
        lines: list[dict[str, Any]],
        reason: str,
        actor: str,
        correlation_id: str,
        at: datetime,
    ) -> None:
        self.returns[rma_id] = {"lines": lines, "state": "requested"}

    def receive_return(
        self, rma_id: str, disposition: str, source_id: str | None, actor: str, now: datetime
    ) -> list[dict[str, Any]]:
        """The goods are back: restocked at a source, or written off. Returns the lines."""
        rma = self.returns.get(rma_id)
        if rma is None:
            raise OrderError(f"no return {rma_id} on order {self.id}")
        if rma["state"] != "requested":
            raise OrderError(f"return {rma_id} was received already")
        if disposition not in ("restock", "write_off") or (
            (disposition == "restock") != (source_id is not None)
        ):
            raise OrderError("disposition is restock (with a source_id) or write_off")
        self._return_received(
            rma_id=rma_id,
            disposition=disposition,
            source_id=source_id,
            lines=rma["lines"],
            actor=actor,
            correlation_id=self.correlation_id,
            at=now,
        )
        return list(rma["lines"])

    @event("ReturnReceived")
    def _return_received(
        self,
        rma_id: str,
        disposition: str,
        source_id: str | None,
        lines: list[dict[str, Any]],
        actor: str,
        correlation_id: str,
        at: datetime,
    ) -> None:
        self.returns[rma_id]["state"] = "received"
        for line in lines:
            self.returned[line["line_id"]] = self.returned.get(line["line_id"], 0) + int(
                line["quantity"]
            )
        self._derive_status()

    def refund(self, amount: Decimal, reason: str, actor: str, now: datetime) -> None:
        """Refund part of what was captured; never more than captured and not yet refunded."""
        left = self.refundable()
        if not Decimal(0) < amount <= left:
            raise OrderError(f"refund of {amount} refused: {left} can still be refunded")
        self._refunded(
            amount=str(amount),
            currency=self.submission["currency"],
            reason=reason,
            actor=actor,
            correlation_id=self.correlation_id,
            at=now,
        )

    @event("Refunded")
    def _refunded(
        self,
        amount: str,
        currency: str,
        reason: str,
        actor: str,
        correlation_id: str,
        at: datetime,
    ) -> None:
        self.refunds.append(amount)

    def refundable(self) -> Decimal:
        captured = sum((Decimal(a) for a in self.captures.values()), Decimal(0))
        return captured - sum((Decimal(a) for a in self.refunds), Decimal(0))

    def returnable(self) -> dict[str, int]:
        """Shipped units per line not yet returned or awaiting return."""
        shipped: dict[str, int] = {}
        for shipment in self.shipments.values():
            for line in shipment.get("shipped_lines", []):
                shipped[line["line_id"]] = shipped.get(line["line_id"], 0) + line["quantity"]
        for rma in self.returns.values():
            for line in rma["lines"]:
                shipped[line["line_id"]] = shipped.get(line["line_id"], 0) - int(line["quantity"])
        return {lid: qty for lid, qty in shipped.items() if qty > 0}

    def _check_shipped(
        self,
        shipment: dict[str, Any],
        carrier: str | None,
        tracking: str | None,
        shipped_lines: list[dict[str, Any]] | None,
    ) -> list[dict[str, Any]]:
        if not carrier or not tracking:
            raise ShipmentError("a shipped update needs a carrier and a tracking number")
        requested = {line["line_id"]: line for line in shipment["lines"]}
        if shipped_lines is None:
            return list(shipment["lines"])
        out = []
        for line in shipped_lines:
            asked = requested.get(line["line_id"])
            if asked is None:
                raise ShipmentError(f"line {line['line_id']} is not in this shipment")
            if not 0 < int(line["quantity"]) <= asked["quantity"]:
                raise ShipmentError(
                    f"line {line['line_id']}: shipped {line['quantity']}, "
                    f"requested {asked['quantity']}"
                )
            out.append({**asked, "quantity": int(line["quantity"])})
        return out

    def _number(self, sequences: dict[str, int] | None) -> None:
        for sid, sequence in (sequences or {}).items():
            self.shipments[sid]["sequence"] = sequence

    def _live_shipments(self) -> list[dict[str, Any]]:
        return [
            s
            for sid, s in self.shipments.items()
            if ShipmentState(s["state"]) not in CLOSED and sid not in self.withdrawing
        ]

    def _derive_status(self) -> None:
        if not self.shipments and not self.cancel_requested:
            return
        if self.unroutable is not None and not self.cancel_requested:
            self.status = OrderStatus.UNROUTABLE
            return
        status = order_status_from(
            {sid: ShipmentState(s["state"]) for sid, s in self.shipments.items()},
            self.withdrawing,
            bool(self.waiting),
            self.invoices,
        )
        if self.returned:
            shipped = sum(
                line["quantity"]
                for s in self.shipments.values()
                for line in s.get("shipped_lines", [])
            )
            status = "returned" if sum(self.returned.values()) >= shipped else "partially_returned"
        self.status = OrderStatus(status)

    def _sku_of(self, line_id: str) -> str:
        return str(
            next(line["sku"] for line in self.submission["lines"] if line["line_id"] == line_id)
        )

    def check_status_in(self, allowed: frozenset[OrderStatus], command: str) -> None:
        if self.status not in allowed:
            raise InvalidTransitionError(self.id, self.status.value, command)

    def check_status_is(self, expected: OrderStatus, command: str) -> None:
        if self.status is not expected:
            raise InvalidTransitionError(self.id, self.status.value, command)

    def take_intake_decision(self, actor: str, now: datetime) -> None:
        """Accept the order, or reject it with every reason found."""
        problems = self.intake_problems(now)
        if problems:
            self.reject(problems, actor=actor, now=now)
        else:
            self.accept(actor=actor, now=now)


def check_actor(actor: str) -> None:
    """Actors are recorded as `kind:id`; anything else could never be published."""
    kind, _, ident = actor.partition(":")
    if kind not in {"channel", "system", "user", "source"} or not ident:
        raise OrderError(f"actor must be channel:, system:, user: or source:<id>, got {actor!r}")
