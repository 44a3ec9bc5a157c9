"""The Order aggregate: placed by a channel, then accepted or rejected at intake."""

from datetime import datetime, timedelta
from enum import StrEnum
from typing import Any
from uuid import UUID

from eventsourcing.domain import Aggregate, event

from aggregates.errors import InvalidTransitionError
from aggregates.ids import order_id_for

# Channel clocks drift; an order "placed" further in the future than this is a bad timestamp.
MAX_CLOCK_SKEW = timedelta(minutes=5)


class OrderStatus(StrEnum):
    PLACED = "placed"
    ACCEPTED = "accepted"
    REJECTED = "rejected"


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
