"""Order: invoices, payment captures, returns and refunds (mixed into the Order class)."""

from dataclasses import replace
from datetime import datetime
from decimal import Decimal
from typing import Any

from aggregates.errors import (
    OrderError,
    ShipmentError,
)
from aggregates.order_state import OrderState, order_event
from aggregates.order_values import IssuedInvoice, ReturnAuthorisation, ReturnLine, ReturnState
from aggregates.shipments import LEFT_THE_BUILDING
from schemas.submission import PaymentState


class OrderBilling(OrderState):
    """Invoices, payment captures, returns and refunds of an order."""

    def record_invoice(
        self, shipment_id: str, invoice: dict[str, Any], actor: str, now: datetime
    ) -> bool:
        """Invoice a shipped shipment once; False when it was invoiced already."""
        shipment = self.shipments[shipment_id]
        if shipment.state not in LEFT_THE_BUILDING:
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

    @order_event("InvoiceIssued")
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
        self.invoices[shipment_id] = IssuedInvoice(invoice_id, Decimal(gross_total))
        self._derive_status()

    def capture_payment(self, invoice_id: str, amount: str, actor: str, now: datetime) -> bool:
        """Capture what an invoice asks for, once; orders paid on account capture nothing."""
        if (
            self.submission.payment_state is PaymentState.NOT_REQUIRED
            or invoice_id in self.captures
        ):
            return False
        self._payment_captured(
            invoice_id=invoice_id,
            amount=amount,
            currency=self.submission.currency,
            actor=actor,
            correlation_id=self.correlation_id,
            at=now,
        )
        return True

    @order_event("PaymentCaptured")
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
        self, rma_id: str, lines: list[ReturnLine], reason: str, actor: str, now: datetime
    ) -> None:
        """Authorise a return of shipped units (never more than shipped and not yet returned)."""
        if rma_id in self.returns:
            raise OrderError(f"return {rma_id} exists already")
        returnable = self.returnable()
        for line in lines:
            left = returnable.get(line.line_id, 0)
            if not 0 < line.quantity <= left:
                raise OrderError(
                    f"line {line.line_id}: {line.quantity} to return, {left} returnable"
                )
        self._return_requested(
            rma_id=rma_id,
            lines=lines,
            reason=reason,
            actor=actor,
            correlation_id=self.correlation_id,
            at=now,
        )

    @order_event("ReturnRequested")
    def _return_requested(
        self,
        rma_id: str,
        lines: list[ReturnLine],
        reason: str,
        actor: str,
        correlation_id: str,
        at: datetime,
    ) -> None:
        self.returns[rma_id] = ReturnAuthorisation(lines=tuple(lines))

    def receive_return(
        self, rma_id: str, disposition: str, source_id: str | None, actor: str, now: datetime
    ) -> list[ReturnLine]:
        """The goods are back: restocked at a source, or written off. Returns the lines."""
        rma = self.returns.get(rma_id)
        if rma is None:
            raise OrderError(f"no return {rma_id} on order {self.id}")
        if rma.state is not ReturnState.REQUESTED:
            raise OrderError(f"return {rma_id} was received already")
        if disposition not in ("restock", "write_off") or (
            (disposition == "restock") != (source_id is not None)
        ):
            raise OrderError("disposition is restock (with a source_id) or write_off")
        self._return_received(
            rma_id=rma_id,
            disposition=disposition,
            source_id=source_id,
            lines=list(rma.lines),
            actor=actor,
            correlation_id=self.correlation_id,
            at=now,
        )
        return list(rma.lines)

    @order_event("ReturnReceived")
    def _return_received(
        self,
        rma_id: str,
        disposition: str,
        source_id: str | None,
        lines: list[ReturnLine],
        actor: str,
        correlation_id: str,
        at: datetime,
    ) -> None:
        self.returns[rma_id] = replace(self.returns[rma_id], state=ReturnState.RECEIVED)
        for line in lines:
            self.returned[line.line_id] = self.returned.get(line.line_id, 0) + line.quantity
        self._derive_status()

    def refund(self, amount: Decimal, reason: str, actor: str, now: datetime) -> None:
        """Refund part of what was captured; never more than captured and not yet refunded."""
        left = self.refundable()
        if not Decimal(0) < amount <= left:
            raise OrderError(f"refund of {amount} refused: {left} can still be refunded")
        self._refunded(
            amount=str(amount),
            currency=self.submission.currency,
            reason=reason,
            actor=actor,
            correlation_id=self.correlation_id,
            at=now,
        )

    @order_event("Refunded")
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
        left = self.shipped_units()
        for rma in self.returns.values():
            for line in rma.lines:
                left[line.line_id] = left.get(line.line_id, 0) - line.quantity
        return {lid: qty for lid, qty in left.items() if qty > 0}
