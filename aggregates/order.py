"""The Order aggregate: placed by a channel, accepted or rejected at intake, routed, held.

What happens to it later is mixed in by topic, each module a class with its commands and
@event methods: what the sources report (order_fulfillment.OrderFulfillment), cancellation,
change and manual re-routing (order_withdrawals.OrderWithdrawals), invoices, payments,
returns and refunds (order_billing.OrderBilling). All of them are stored as
`aggregates.order:Order.<Event>` (see aggregates.order_state)."""

from datetime import datetime
from uuid import UUID

from eventsourcing.domain import event
from pydantic import TypeAdapter

from aggregates.errors import (
    OrderError,
)
from aggregates.ids import order_id_for
from aggregates.order_billing import OrderBilling
from aggregates.order_fulfillment import OrderFulfillment
from aggregates.order_state import adopt_events
from aggregates.order_states import MAX_CLOCK_SKEW, ROUTABLE, UNREROUTABLE, OrderStatus
from aggregates.order_values import (
    Hold,
    IssuedInvoice,
    RequestedShipment,
    ReturnAuthorisation,
    Shipment,
    ShipmentLine,
)
from aggregates.order_withdrawals import OrderWithdrawals
from schemas.decision_record import DecisionRecord
from schemas.submission import Address, OrderSubmission

_TIME = TypeAdapter(datetime)

# The hold rule decide() names when lines would need more shipments than the policy allows.
OVER_SPLIT_LIMIT = "over_split_limit"

__all__ = [
    "MAX_CLOCK_SKEW",
    "ROUTABLE",
    "UNREROUTABLE",
    "Order",
    "OrderStatus",
    "check_actor",
    "intake_problems",
    "placed_at_problems",
]


class Order(OrderFulfillment, OrderWithdrawals, OrderBilling):
    """One customer order, identified by its channel and the channel's own order id."""

    @staticmethod
    def create_id(channel: str, external_id: str) -> UUID:
        return order_id_for(channel, external_id)

    @event("Placed")
    def __init__(
        self,
        channel: str,
        external_id: str,
        submission: OrderSubmission,
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
        self.hold: Hold | None = None
        self.holds_released = False
        self.split_limit_released = False  # a person let it ship beyond the split limit
        self.pinned_source: str | None = None
        self.routing_attempts = 0
        self.shipments: dict[str, Shipment] = {}
        self.waiting: dict[str, int] = {}
        # Waiting lines no holder of their SKU may ship (line id → why): not a wait for stock.
        self.unfulfillable: dict[str, str] = {}
        self.decision: DecisionRecord | None = None
        self.rejected_sources: list[str] = []
        self.invoices: dict[str, IssuedInvoice] = {}
        self.cancel_requested = False
        self.withdrawing: set[str] = set()
        self.unroutable: str | None = None
        self.revision = 1
        self.captures: dict[str, str] = {}
        self.returns: dict[str, ReturnAuthorisation] = {}
        self.returned: dict[str, int] = {}
        self.refunds: list[str] = []
        self.explanation: str | None = None

    def intake_problems(self, now: datetime) -> list[str]:
        """Business rules a well-formed submission can still break; empty when acceptable."""
        return intake_problems(self.submission, now)

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
            skus = {line.line_id: line.sku for line in self.submission.lines}
            return {lid: (skus[lid], qty) for lid, qty in self.waiting.items()}
        return {line.line_id: (line.sku, line.quantity) for line in self.submission.lines}

    def put_on_hold(
        self,
        rule: str,
        reason: str,
        actor: str,
        now: datetime,
        decision: DecisionRecord | None = None,
        explanation: str | None = None,
        decision_digest: str | None = None,
        inputs_digest: str | None = None,
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
            decision_digest=decision_digest,
            inputs_digest=inputs_digest,
        )

    @event("Held")
    def _held(
        self,
        rule: str,
        reason: str,
        decision: DecisionRecord | None,
        explanation: str | None,
        actor: str,
        correlation_id: str,
        at: datetime,
        # Recorded since the decision history lists holds too; older Held events lack them.
        decision_digest: str | None = None,
        inputs_digest: str | None = None,
    ) -> None:
        self.status = OrderStatus.HELD
        self.hold = Hold(rule=rule, reason=reason)
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
        if self.hold is not None and self.hold.rule == OVER_SPLIT_LIMIT:
            self.split_limit_released = True
        self.hold = None
        self.holds_released = True

    def route(
        self,
        decision: DecisionRecord,
        decision_digest: str,
        explanation: str,
        inputs_digest: str,
        shipments: list[RequestedShipment],
        waiting: dict[str, int],
        unroutable_reason: str | None,
        actor: str,
        now: datetime,
        unfulfillable: dict[str, str] | None = None,
    ) -> None:
        """Record a routing decision and one FulfillmentRequested per shipment.

        `waiting` (line id → quantity) are the backordered lines; the event names their SKUs,
        demand class and placed-at so that a backorder queue can be kept from events alone.
        `unfulfillable`: those of them no holder of their SKU may ship (line id → why).
        """
        self.check_status_in(ROUTABLE, "routed")
        for shipment in shipments:
            if shipment.shipment_id in self.shipments:
                raise OrderError(f"shipment {shipment.shipment_id} was requested already")
        self._routed(
            policy_id=decision.policy.id,
            policy_version=decision.policy.version,
            decision=decision,
            decision_digest=decision_digest,
            explanation=explanation,
            inputs_digest=inputs_digest,
            waiting_lines=[
                ShipmentLine(line_id=lid, sku=self._sku_of(lid), quantity=qty)
                for lid, qty in sorted(waiting.items())
            ],
            demand_class=self.submission.customer.demand_class,
            placed_at=_iso(self.submission.placed_at),
            unroutable_reason=unroutable_reason,
            actor=actor,
            correlation_id=self.correlation_id,
            at=now,
            unfulfillable=unfulfillable or None,
        )
        for shipment in shipments:
            promised_by = self.submission.promised_by
            self._fulfillment_requested(
                shipment_id=shipment.shipment_id,
                source_id=shipment.source_id,
                lines=list(shipment.lines),
                ship_to=self.submission.ship_to,
                delivery_method=self.submission.delivery_method.value,
                promised_by=None if promised_by is None else _iso(promised_by),
                actor=actor,
                correlation_id=self.correlation_id,
                at=now,
            )

    @event("Routed")
    def _routed(
        self,
        policy_id: str,
        policy_version: int,
        decision: DecisionRecord,
        decision_digest: str,
        explanation: str,
        inputs_digest: str,
        waiting_lines: list[ShipmentLine],
        demand_class: str,
        placed_at: str,
        unroutable_reason: str | None,
        actor: str,
        correlation_id: str,
        at: datetime,
        unfulfillable: dict[str, str] | None = None,  # absent from events before 2026-12-05
    ) -> None:
        self.routing_attempts += 1
        self.hold = None  # however a hold ended (released, changed, re-routed), routing ends it
        self.decision = decision
        self.explanation = explanation
        self.waiting = {w.line_id: w.quantity for w in waiting_lines}
        self.unfulfillable = dict(unfulfillable or {})
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
        lines: list[ShipmentLine],
        ship_to: Address,
        delivery_method: str,
        promised_by: str | None,
        actor: str,
        correlation_id: str,
        at: datetime,
        shipment_sequence: int = 1,
    ) -> None:
        self.shipments[shipment_id] = Shipment(
            source_id=source_id, lines=tuple(lines), sequence=shipment_sequence
        )
        self._derive_status()

    def take_intake_decision(self, actor: str, now: datetime) -> None:
        """Accept the order, or reject it with every reason found."""
        problems = self.intake_problems(now)
        if problems:
            self.reject(problems, actor=actor, now=now)
        else:
            self.accept(actor=actor, now=now)


for _topic in (OrderFulfillment, OrderWithdrawals, OrderBilling):
    adopt_events(Order, _topic)


def intake_problems(submission: OrderSubmission, now: datetime) -> list[str]:
    """What `Order.intake_problems` finds, from the submission alone (a writer that builds the
    order's first events itself asks before it does)."""
    return placed_at_problems(submission.placed_at, now)


def placed_at_problems(placed_at: datetime, now: datetime) -> list[str]:
    """`intake_problems` of a submission placed at `placed_at`."""
    problems = []
    if placed_at > now + MAX_CLOCK_SKEW:
        problems.append(
            f"placed_at: {placed_at.isoformat()} is in the future "
            f"(more than {int(MAX_CLOCK_SKEW.total_seconds() // 60)} minutes ahead)"
        )
    return problems


def _iso(at: datetime) -> str:
    """A time as the submission's JSON writes it (events of earlier releases carry it so)."""
    return str(_TIME.dump_python(at, mode="json"))


def check_actor(actor: str) -> None:
    """Actors are recorded as `kind:id`; anything else could never be published."""
    kind, _, ident = actor.partition(":")
    if kind not in {"channel", "system", "user", "source"} or not ident:
        raise OrderError(f"actor must be channel:, system:, user: or source:<id>, got {actor!r}")
