"""A source's update in, from REST or Kafka: applied, or parked with its reason (never half)."""

import json
import sqlite3
from collections.abc import Sequence
from dataclasses import dataclass
from functools import partial

import psycopg
from eventsourcing.persistence import InterfaceError, OperationalError
from pydantic import ValidationError

from aggregates.errors import DomainError
from hub.group_commit import GroupCommit
from hub.services.conflicts import ConcurrentChangeError
from hub.services.fulfillment import FulfillmentService
from hub.services.fulfillment_batch import UpdateResult
from hub.services.intake import IntakeService, RejectSubmission
from schemas.fulfillment import FulfillmentUpdate
from schemas.problems import field_problems


@dataclass(frozen=True)
class Parked:
    reason: str
    problems: list[dict[str, str]]


def rejected_update(
    raw: str,
    source_id: str,
    reason: str,
    problems: list[dict[str, str]],
    external_id: str | None = None,
) -> RejectSubmission:
    return RejectSubmission(
        channel=f"source:{source_id}",
        raw_payload=raw,
        format="fulfillment-update",
        reason=reason,
        problems=problems,
        actor=f"source:{source_id}" if source_id != "unknown" else "system:fulfillment",
        external_id=external_id,
    )


@dataclass(frozen=True)
class Refused:
    """An update refused before it reached an order, or by its order, and why."""

    raw: str
    source_id: str
    reason: str
    problems: list[dict[str, str]]
    external_id: str | None = None

    def kept(self) -> RejectSubmission:
        return rejected_update(
            self.raw, self.source_id, self.reason, self.problems, self.external_id
        )


def read_update(raw: str) -> FulfillmentUpdate | Refused:
    """The update in `raw`, or why it is refused; ValueError when it is not JSON at all."""
    try:
        payload = json.loads(raw)
    except (ValueError, RecursionError) as error:
        raise ValueError(f"not JSON: {error}") from None
    source_id = (
        str(payload.get("source_id") or "unknown") if isinstance(payload, dict) else "unknown"
    )
    try:
        return FulfillmentUpdate.model_validate(payload)
    except ValidationError as error:
        problems = [p.model_dump() for p in field_problems(error)]
        return Refused(raw, source_id, "invalid_update", problems)


def refused_by_order(raw: str, update: FulfillmentUpdate, error: DomainError) -> Refused:
    problem = {"field": "shipment_id", "message": str(error), "code": type(error).__name__}
    name = type(error).__name__
    return Refused(raw, update.source_id, name, [problem], external_id=update.shipment_id)


def apply_raw_update(
    fulfillment: FulfillmentService, intake: IntakeService, raw: str
) -> UpdateResult | Parked:
    """Parse and apply one update; anything refused is parked with field-level reasons."""
    update = read_update(raw)
    if isinstance(update, Refused):
        return park_refused(intake, update)
    try:
        return fulfillment.apply_update(update)
    except ConcurrentChangeError:
        raise  # lost every race for its rows: not a refusal; "try again" (a 409 over REST)
    except DomainError as error:
        return park_refused(intake, refused_by_order(raw, update, error))


def park_refused(intake: IntakeService, refused: Refused) -> Parked:
    intake.record_rejections([refused.kept()])
    return Parked(refused.reason, refused.problems)


Answer = UpdateResult | Parked | ValueError


def apply_raw_updates(
    fulfillment: FulfillmentService, intake: IntakeService, raws: Sequence[str]
) -> list[Answer]:
    """`apply_raw_update` of each, in order, as one batch (hub.services.fulfillment_batch):
    the records of the refused ones saved in the batch's transaction. A text that is not JSON
    is answered with its ValueError (the caller dead-letters it); any other failure is raised
    with nothing recorded, for the caller to apply the batch one update at a time."""
    batch = _Read(raws)
    results = fulfillment.apply_updates(
        batch.updates, lambda refused: intake.unkept_rejections(batch.kept(refused))
    )
    return batch.answers(results)


class _Read:
    """A batch's texts as read: updates, refusals and texts that are not JSON."""

    def __init__(self, raws: Sequence[str]) -> None:
        self.raws = raws
        self.read = [_read(raw) for raw in raws]
        self.indexes = [i for i, r in enumerate(self.read) if isinstance(r, FulfillmentUpdate)]
        self.updates = [r for r in self.read if isinstance(r, FulfillmentUpdate)]

    def refused(self, n: int, error: DomainError) -> Refused:
        """The `n`th update, refused by its order."""
        return refused_by_order(self.raws[self.indexes[n]], self.updates[n], error)

    def kept(self, refused: list[tuple[int, DomainError]]) -> list[RejectSubmission]:
        """Every refusal of the batch, in batch order, to be kept with it."""
        every = {i: r for i, r in enumerate(self.read) if isinstance(r, Refused)}
        every |= {self.indexes[n]: self.refused(n, error) for n, error in refused}
        return [every[i].kept() for i in sorted(every)]

    def answers(self, results: Sequence[UpdateResult | DomainError]) -> list[Answer]:
        """One answer per text, in batch order."""
        entries: list[FulfillmentUpdate | Refused | Answer] = list(self.read)
        for n, result in enumerate(results):
            if isinstance(result, DomainError):
                entries[self.indexes[n]] = self.refused(n, result)
            else:
                entries[self.indexes[n]] = result
        return [_answer(entry) for entry in entries]


def _answer(entry: "FulfillmentUpdate | Refused | Answer") -> Answer:
    if isinstance(entry, FulfillmentUpdate):
        raise AssertionError("an update of the batch was not answered")
    return Parked(entry.reason, entry.problems) if isinstance(entry, Refused) else entry


def _read(raw: str) -> FulfillmentUpdate | Refused | ValueError:
    try:
        return read_update(raw)
    except ValueError as error:
        return error


# At most, a group of updates over REST: a group is read again whole when one of its orders is
# saved meanwhile, so it stays smaller than the topic's batches.
UPDATES_GROUPED = 50
# The store out of reach or busy past its timeout: every update of a group would meet it again.
UNREACHABLE = (
    OperationalError,
    InterfaceError,
    sqlite3.OperationalError,
    psycopg.OperationalError,
    ConnectionError,
    TimeoutError,
)


def grouped_updates(
    fulfillment: FulfillmentService, intake: IntakeService
) -> GroupCommit[str, Answer]:
    """A source's updates over REST that come while others are applied, applied together as
    the topic's batches are (`apply_raw_updates`: one read of their orders and stock items, one
    save). A group that fails for a reason one of its updates may cause (not the store out of
    reach) is applied one update at a time, each answered for itself."""
    return GroupCommit(
        partial(apply_raw_updates, fulfillment, intake),
        UPDATES_GROUPED,
        partial(apply_raw_update, fulfillment, intake),
        items_at_fault=lambda error: not isinstance(error, UNREACHABLE),
    )
