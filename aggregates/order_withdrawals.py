"""Order: cancellation, change and manual re-routing before shipment, each withdrawing
the open shipments from their sources, and cancelling the rest of an order that shipped in
part (mixed into the Order class)."""

from collections.abc import Mapping
from datetime import datetime
from types import MappingProxyType
from typing import Any

from aggregates.errors import (
    CancelLinesError,
    InvalidTransitionError,
    OrderError,
)
from aggregates.order_request_keys import RequestKey, earlier_answer, key_fields, with_answer
from aggregates.order_state import OrderState, order_event
from aggregates.order_states import UNREROUTABLE, OrderStatus
from aggregates.order_values import ShipmentLine
from aggregates.shipments import CLOSED, LEFT_THE_BUILDING
from schemas.submission import OrderSubmission

SHIPPED_ONLY_RETURN = "cancelled (it shipped: only a return is possible)"
NO_KEYS: Mapping[str, Mapping[str, Any]] = MappingProxyType({})


class OrderWithdrawals(OrderState):
    """Cancellation, change and manual re-routing before shipment."""

    # What each client's key on a cancel or change answered (aggregates.order_request_keys);
    # an order of an earlier release, or never asked so, has none. Not annotated here: the
    # aggregate is a dataclass, and this is no field of its creation.
    request_keys = NO_KEYS

    def earlier_answer(self, request: RequestKey | None) -> list[str] | None:
        """What the first request under this key withdrew, when it is asked again."""
        return earlier_answer(self.request_keys, request)

    def _remember(self, key: str | None, digest: str | None, withdrawn: list[str]) -> None:
        # Set on the order only with a key: the class's default is not the order's to copy.
        if key is not None and digest is not None:
            self.request_keys = with_answer(self.request_keys, key, digest, withdrawn)

    def request_cancellation(
        self, reason: str, actor: str, now: datetime, request: RequestKey | None = None
    ) -> list[str]:
        """Cancel the whole order before it ships: open shipments are withdrawn (the sources
        confirm or refuse), waiting lines are dropped. Returns the shipments withdrawn.

        Once something shipped, what has not is cancelled (`cancel_rest`). Asked again while
        the cancellation is under way or once it is done, nothing is recorded and none is
        withdrawn (a client retrying after a timeout is answered, not refused)."""
        if self._any_left():
            return self.cancel_rest(reason, actor, now, request=request)
        if self.cancel_requested and not self._open_shipments() and not self.waiting:
            return []  # the same request again: its shipments are being (or were) withdrawn
        if self.status in (OrderStatus.CANCELLED, OrderStatus.REJECTED):
            raise InvalidTransitionError(self.id, self.status.value, "cancelled")
        open_ids = sorted(sid for sid, s in self.shipments.items() if s.state not in CLOSED)
        self._cancellation_requested(
            reason=reason,
            **self._withdrawal(open_ids),
            **key_fields(request),
            actor=actor,
            correlation_id=self.correlation_id,
            at=now,
        )
        return open_ids

    def cancel_rest(
        self,
        reason: str,
        actor: str,
        now: datetime,
        lines: Mapping[str, int] | None = None,
        request: RequestKey | None = None,
    ) -> list[str]:
        """Cancel what has not shipped of an order that shipped in part: the open shipments
        are withdrawn (their sources confirm or refuse), the lines not at any source
        (backordered, held, unroutable) dropped; the order ends as what shipped. `lines`
        (line id → units), when given, must name that whole rest. Returns the shipments
        withdrawn; asked again once the rest is cancelled, nothing is recorded and none is
        withdrawn."""
        open_ids = self._open_shipments()
        rest = self._not_shipped()
        if lines is not None:
            self._check_cancel_lines(lines, rest)
        if self.cancel_requested and not open_ids and not self.waiting:
            return []  # the same request again: its rest is being (or was) cancelled
        if not rest:
            raise InvalidTransitionError(self.id, self.status.value, SHIPPED_ONLY_RETURN)
        self._cancellation_requested(
            reason=reason,
            **self._withdrawal(open_ids),
            cancelled_lines=[
                ShipmentLine(line_id=lid, sku=self._sku_of(lid), quantity=qty)
                for lid, qty in sorted(rest.items())
            ],
            **key_fields(request),
            actor=actor,
            correlation_id=self.correlation_id,
            at=now,
        )
        return open_ids

    def _not_shipped(self) -> dict[str, int]:
        """Units per line that have not left the building: in open shipments, waiting, held,
        unroutable, or short of what a shipment was asked to ship."""
        shipped = self.shipped_units()
        left = {
            line.line_id: line.quantity - shipped.get(line.line_id, 0)
            for line in self.submission.lines
        }
        return {lid: qty for lid, qty in left.items() if qty > 0}

    def _check_cancel_lines(self, lines: Mapping[str, int], rest: Mapping[str, int]) -> None:
        """Lines named for a cancel after shipment: known, not more than ordered (422 per
        line), not shipped in full, and the whole rest (409: what cannot be done)."""
        check_line_quantities(self, lines)
        for lid, qty in sorted(lines.items()):
            if lid not in rest:
                raise CancelLinesError(
                    lid, f"line {lid} shipped in full: only a return is possible", "shipped"
                )
            if qty > rest[lid]:
                raise CancelLinesError(
                    lid, f"line {lid}: {rest[lid]} units have not shipped, {qty} asked", "shipped"
                )
        if dict(lines) != rest:
            left = ", ".join(f"{lid}: {qty}" for lid, qty in sorted(rest.items()))
            raise InvalidTransitionError(
                self.id,
                self.status.value,
                f"cancelled in part after it shipped in part: name the whole rest ({left}) "
                "or leave out lines",
            )

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
        # Units of each line cancelled when the rest of an order that shipped in part is
        # cancelled (what waited and what the withdrawn shipments held); earlier releases
        # cancelled whole orders only and lack it.
        cancelled_lines: list[ShipmentLine] | None = None,
        # The client's Idempotency-Key and its request's digest; earlier releases lack them.
        request_key: str | None = None,
        request_digest: str | None = None,
    ) -> None:
        self._number(shipment_sequences)
        self._remember(request_key, request_digest, withdrawn)
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
        request: RequestKey | None = None,
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
            **key_fields(request),
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
        request_key: str | None = None,  # as CancellationRequested's
        request_digest: str | None = None,
    ) -> None:
        self._number(shipment_sequences)
        self._remember(request_key, request_digest, withdrawn)
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
        """Shipments a source still holds, has not shipped, and has not been asked to
        withdraw."""
        return sorted(
            sid
            for sid, s in self.shipments.items()
            if s.state not in CLOSED | LEFT_THE_BUILDING and sid not in self.withdrawing
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


def check_line_quantities(order: OrderState, lines: Mapping[str, int]) -> None:
    """Each line named in a cancel is one of the order's, for at most the units ordered."""
    ordered = {line.line_id: line.quantity for line in order.submission.lines}
    for lid, qty in sorted(lines.items()):
        if lid not in ordered:
            raise CancelLinesError(lid, f"no line {lid} in this order", "unknown_line", status=422)
        if qty > ordered[lid]:
            raise CancelLinesError(
                lid, f"line {lid}: {qty} units asked, {ordered[lid]} ordered", "too_many", 422
            )
