"""Order: cancellation, change and manual re-routing before shipment, each withdrawing
the open shipments from their sources (mixed into the Order class)."""

from datetime import datetime
from typing import Any

from aggregates.errors import (
    InvalidTransitionError,
    OrderError,
)
from aggregates.order_state import OrderState, order_event
from aggregates.order_states import UNREROUTABLE, OrderStatus
from aggregates.shipments import CLOSED, LEFT_THE_BUILDING
from schemas.submission import OrderSubmission


class OrderWithdrawals(OrderState):
    """Cancellation, change and manual re-routing before shipment."""

    def request_cancellation(self, reason: str, actor: str, now: datetime) -> list[str]:
        """Cancel the whole order before it ships: open shipments are withdrawn (the sources
        confirm or refuse), waiting lines are dropped. Returns the shipments withdrawn."""
        if self._any_left():
            raise InvalidTransitionError(self.id, self.status.value, "cancelled (it shipped)")
        if self.status in (OrderStatus.CANCELLED, OrderStatus.REJECTED):
            raise InvalidTransitionError(self.id, self.status.value, "cancelled")
        open_ids = sorted(sid for sid, s in self.shipments.items() if s.state not in CLOSED)
        self._cancellation_requested(
            reason=reason,
            **self._withdrawal(open_ids),
            actor=actor,
            correlation_id=self.correlation_id,
            at=now,
        )
        return open_ids

    def _next_sequences(self, shipment_ids: list[str]) -> dict[str, int]:
        """Each message to a source about a shipment is numbered, so it can detect a gap."""
        return {sid: self.shipments[sid].sequence + 1 for sid in shipment_ids}

    @order_event("CancellationRequested")
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
        submission: OrderSubmission,
        digest: str,
        raw_payload: str,
        actor: str,
        now: datetime,
    ) -> list[str]:
        """A new revision of the order before anything shipped: open shipments are withdrawn
        (their sources confirm or refuse) and the whole revised order is routed again.
        Returns the shipments withdrawn."""
        if self._any_left():
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
        open_ids = self._open_shipments()
        self._changed(
            revision=self.revision + 1,
            submission=submission,
            digest=digest,
            raw_payload=raw_payload,
            **self._withdrawal(open_ids),
            actor=actor,
            correlation_id=self.correlation_id,
            at=now,
        )
        return open_ids

    @order_event("Changed")
    def _changed(
        self,
        revision: int,
        submission: OrderSubmission,
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
        self.waiting = {line.line_id: line.quantity for line in submission.lines}
        self.hold = None  # the revised order is decided afresh
        self.status = OrderStatus.REROUTING

    def reroute(self, source_id: str, reason: str, actor: str, now: datetime) -> list[str]:
        """An ops user sends the order to a source of their choice, before anything shipped:
        open shipments are withdrawn (their sources confirm or refuse) and the order is routed
        again to that source alone, without hold rules. Returns the shipments withdrawn."""
        if self._any_left():
            raise InvalidTransitionError(self.id, self.status.value, "re-routed (it shipped)")
        if self.status in UNREROUTABLE or self.cancel_requested:
            raise InvalidTransitionError(self.id, self.status.value, "re-routed")
        if not reason.strip():
            raise OrderError("reason: say why the order goes to this source")
        open_ids = self._open_shipments()
        self._reroute_requested(
            source_id=source_id,
            reason=reason.strip(),
            **self._withdrawal(open_ids),
            actor=actor,
            correlation_id=self.correlation_id,
            at=now,
        )
        return open_ids

    @order_event("RerouteRequested")
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
        self.waiting = {line.line_id: line.quantity for line in self.submission.lines}
        self.pinned_source = source_id
        # A person chose it knowingly, even if it refused this order before.
        self.rejected_sources = [s for s in self.rejected_sources if s != source_id]
        self.unroutable = None
        self.hold = None
        self.status = OrderStatus.REROUTING

    def _open_shipments(self) -> list[str]:
        """Shipments a source still holds and has not been asked to withdraw."""
        return sorted(
            sid
            for sid, s in self.shipments.items()
            if s.state not in CLOSED and sid not in self.withdrawing
        )

    def _any_left(self) -> bool:
        return any(s.state in LEFT_THE_BUILDING for s in self.shipments.values())

    def _withdrawal(self, shipment_ids: list[str]) -> dict[str, Any]:
        """What a withdrawing event says: the shipments, their sources, each message's number."""
        return {
            "withdrawn": shipment_ids,
            "withdrawn_from": {sid: self.shipments[sid].source_id for sid in shipment_ids},
            "shipment_sequences": self._next_sequences(shipment_ids),
        }
