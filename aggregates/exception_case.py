"""ExceptionCase: what people (and the jeopardy timer) record about one exception.

Most exceptions are facts of an order's own history (held, unroutable, backordered…) and the
exception queue derives them from the order's events. What is not in that history lives here:
jeopardy and lateness raised by the timer, and the ops user who took an exception on or
resolved it. One case per exception id, so every action on it is an event with its actor.
"""

from datetime import datetime
from enum import StrEnum
from uuid import NAMESPACE_URL, UUID, uuid5

from eventsourcing.domain import Aggregate, event

from aggregates.errors import DomainError


class Band(StrEnum):
    LOW = "low"
    MEDIUM = "medium"
    HIGH = "high"


BAND_RANK = {Band.LOW: 1, Band.MEDIUM: 2, Band.HIGH: 3}


class ExceptionCaseError(DomainError):
    pass


def exception_case_id(exception_id: str) -> UUID:
    return uuid5(NAMESPACE_URL, f"orderhub:exception:{exception_id}")


class ExceptionCase(Aggregate):
    @staticmethod
    def create_id(exception_id: str) -> UUID:
        return exception_case_id(exception_id)

    @event("Opened")
    def __init__(
        self, exception_id: str, kind: str, order_id: str | None, actor: str, at: datetime
    ) -> None:
        self.exception_id = exception_id
        self.kind = kind
        self.order_id = order_id
        self.band: str | None = None
        self.assignee: str | None = None
        self.resolved_by: str | None = None

    # --- the jeopardy timer ---------------------------------------------------------------

    def flag(self, band: Band, promised_by: str, actor: str, now: datetime) -> bool:
        """Raise (or escalate) the band; a band at or below the current one records nothing."""
        current = BAND_RANK.get(Band(self.band), 0) if self.band else 0
        if BAND_RANK[band] <= current:  # a person who resolved it is not overruled at once
            return False
        self._flagged(
            exception_id=self.exception_id,
            order_id=self.order_id,
            kind=self.kind,
            band=band.value,
            promised_by=promised_by,
            actor=actor,
            at=now,
        )
        return True

    @event("Flagged")
    def _flagged(
        self,
        exception_id: str,
        order_id: str | None,
        kind: str,
        band: str,
        promised_by: str,
        actor: str,
        at: datetime,
    ) -> None:
        self.band = band
        self.resolved_by = None

    # --- ops users ------------------------------------------------------------------------

    def assign(self, assignee: str, actor: str, now: datetime) -> None:
        if not assignee.strip():
            raise ExceptionCaseError("assignee: must not be empty")
        self._assigned(
            exception_id=self.exception_id,
            order_id=self.order_id,
            kind=self.kind,
            assignee=assignee.strip(),
            actor=actor,
            at=now,
        )

    @event("Assigned")
    def _assigned(
        self,
        exception_id: str,
        order_id: str | None,
        kind: str,
        assignee: str,
        actor: str,
        at: datetime,
    ) -> None:
        self.assignee = assignee

    def resolve(self, note: str, actor: str, now: datetime) -> None:
        if self.resolved_by is not None:
            raise ExceptionCaseError(f"exception {self.exception_id} is resolved already")
        if not note.strip():
            raise ExceptionCaseError("note: say how it was resolved")
        self._resolved(
            exception_id=self.exception_id,
            order_id=self.order_id,
            kind=self.kind,
            note=note.strip(),
            actor=actor,
            at=now,
        )

    @event("Resolved")
    def _resolved(
        self,
        exception_id: str,
        order_id: str | None,
        kind: str,
        note: str,
        actor: str,
        at: datetime,
    ) -> None:
        self.resolved_by = actor
