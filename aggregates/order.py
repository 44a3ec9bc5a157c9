"""The Order aggregate: placed by a channel, then accepted or rejected at intake."""

from datetime import datetime, timedelta
from enum import StrEnum
from typing import Any
from uuid import UUID

from eventsourcing.domain import Aggregate, event

from aggregates.errors import InvalidTransitionError, OrderError
from aggregates.ids import order_id_for

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


# Where orchestration may (re)start: just accepted, released from hold, or waiting for stock.
ROUTABLE = frozenset({OrderStatus.ACCEPTED, OrderStatus.BACKORDERED})


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
        self.routing_attempts = 0
        self.shipments: dict[str, dict[str, Any]] = {}
        self.waiting: dict[str, int] = {}
        self.decision: dict[str, Any] | None = None
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
        if self.status is OrderStatus.BACKORDERED:
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
        self.status = OrderStatus.ACCEPTED
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
        waiting = self.waiting
        if unroutable_reason is not None:
            self.status = OrderStatus.UNROUTABLE
        elif waiting:
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
    ) -> None:
        self.shipments[shipment_id] = {"source_id": source_id, "lines": lines, "state": "requested"}

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
    if kind not in {"channel", "system", "user"} or not ident:
        raise OrderError(f"actor must be channel:<id>, system:<id> or user:<id>, got {actor!r}")
