"""Intake: record submitted orders, detect duplicates through the store itself, accept or reject."""

import hashlib
from collections.abc import Callable, Sequence
from dataclasses import dataclass, field, replace
from datetime import datetime
from enum import StrEnum
from functools import cached_property
from typing import Any
from uuid import UUID

from eventsourcing.persistence import IntegrityError, StoredEvent

from aggregates import Order, order_id_for
from aggregates.order_states import OrderStatus
from aggregates.submission import RejectedSubmission, rejected_submission_id
from hub.services.canonical_json import canonical_ascii_json
from hub.services.lookup import find, find_many
from hub.services.order_events import AcceptedOrderEvents
from hub.services.vouched import VouchedOrder
from hub.store import OrderStore
from schemas.envelope import EventEnvelope
from schemas.problems import listed_dicts
from schemas.submission import OrderSubmission

INTAKE_ACTOR = "system:intake"


@dataclass(frozen=True)
class SubmitOrder:
    """A command: record this submission as an order."""

    submission: OrderSubmission
    raw_payload: str
    actor: str
    correlation_id: str

    # Cached: a capture reads both several times (uuid5 and a sha256 of the canonical JSON).
    @cached_property
    def order_id(self) -> UUID:
        return order_id_for(self.submission.channel, self.submission.external_id)

    @cached_property
    def submission_json(self) -> dict[str, Any]:
        """The submission's JSON values: digested, and stored in its order's `Placed` event."""
        return self.submission.model_dump(mode="json")

    @cached_property
    def digest(self) -> str:
        return json_digest(self.submission_json)

    @property
    def channel(self) -> str:
        return self.submission.channel

    @property
    def external_id(self) -> str:
        return self.submission.external_id

    @property
    def placed_at(self) -> datetime:
        return self.submission.placed_at

    @property
    def stored_submission(self) -> Any:
        """The values as the order's `Placed` event stores them."""
        return self.submission_json

    @property
    def stored_submission_json(self) -> bytes | None:
        """Not written yet (the values are, with the event)."""
        return None


# What the intake records: a submission as parsed here, or one the API validated (its proof held).
Command = SubmitOrder | VouchedOrder


@dataclass(frozen=True)
class RejectSubmission:
    """A command: keep a payload that could not become an order, with every reason."""

    channel: str
    raw_payload: str
    format: str
    reason: str
    problems: list[dict[str, Any]]
    actor: str
    external_id: str | None = None
    details: dict[str, Any] = field(default_factory=dict)

    def __post_init__(self) -> None:
        # Whatever found them (pydantic, a channel's adapter), a rejection lists so many.
        object.__setattr__(self, "problems", listed_dicts(self.problems))


@dataclass(frozen=True)
class PreparedOrders:
    """A batch of commands with its new orders' stored events made, to be saved
    (`IntakeService.prepare_orders`, `save_prepared`)."""

    commands: Sequence[Command]
    now: datetime
    first_by_id: dict[UUID, Command]  # each order's first command in the batch
    stored: list[StoredEvent]
    created: dict[UUID, "PlaceResult"]  # each new order's answer once saved


class Outcome(StrEnum):
    CREATED = "created"
    DUPLICATE = "duplicate"
    CONFLICT = "conflict"


@dataclass(frozen=True)
class PlaceResult:
    order_id: UUID
    outcome: Outcome
    status: str
    digest: str
    existing_digest: str | None = None
    reasons: tuple[str, ...] = ()


def storable(value: Any) -> Any:
    """The value with every lone surrogate (JSON allows "\\ud800", UTF-8 cannot hold it)
    written out as its escape, so that what was refused can always be kept, recognisably."""
    if isinstance(value, str):
        return value.encode("utf-8", "backslashreplace").decode("utf-8")
    if isinstance(value, dict):
        return {storable(k): storable(v) for k, v in value.items()}
    if isinstance(value, list | tuple):
        return [storable(v) for v in value]
    return value


def _storable_rejection(r: RejectSubmission) -> RejectSubmission:
    return replace(
        r,
        channel=storable(r.channel),
        raw_payload=storable(r.raw_payload),
        problems=storable(r.problems),
        external_id=None if r.external_id is None else storable(r.external_id),
        details=storable(r.details),
        actor=storable(r.actor),
    )


def _rejected(r: RejectSubmission, now: datetime) -> RejectedSubmission:
    return RejectedSubmission(
        channel=r.channel,
        raw_payload=r.raw_payload,
        format=r.format,
        reason=r.reason,
        problems=r.problems,
        external_id=r.external_id,
        details=r.details,
        actor=r.actor,
        at=now,
    )


def submission_digest(submission: OrderSubmission) -> str:
    """sha256 of the canonical JSON: the same order re-sent with other spacing is the same order."""
    return json_digest(submission.model_dump(mode="json"))


def json_digest(values: Any) -> str:
    # The bytes json.dumps(sort_keys=True, separators=(",", ":")) writes, made faster.
    return hashlib.sha256(canonical_ascii_json(values)).hexdigest()


class IntakeService:
    def __init__(self, store: OrderStore, clock: Callable[[], datetime]) -> None:
        self._store = store
        self._clock = clock
        self._accepted_events = AcceptedOrderEvents(store.mapper, INTAKE_ACTOR)

    def place_order(self, command: Command) -> PlaceResult:
        """Record one submission; see place_orders."""
        return self.place_orders([command])[0]

    def place_orders(self, commands: Sequence[Command]) -> list[PlaceResult]:
        """Record many submissions in one event-store transaction; duplicates answered, not stored.

        The batch is saved optimistically. If the store refuses it because an id exists (a
        duplicate, or a race with another writer), each order is retried on its own so that one
        duplicate never costs the others their place.
        """
        return self.save_prepared(self.prepare_orders(commands))

    def prepare_orders(self, commands: Sequence[Command]) -> PreparedOrders:
        """`place_orders` up to the save: the batch's new orders and their stored events, made
        without the store (the intake role makes them while the batch before is being saved)."""
        now = self._clock()
        first_by_id: dict[UUID, Command] = {}
        for command in commands:
            first_by_id.setdefault(command.order_id, command)
        stored, created = self._new_events(list(first_by_id.values()), now)
        return PreparedOrders(commands, now, first_by_id, stored, created)

    def save_prepared(self, prepared: PreparedOrders) -> list[PlaceResult]:
        """The rest of `place_orders`: the prepared events saved in one transaction (again, if
        called again: nothing of a save that failed was written, and one that was is answered
        as duplicates), or each order on its own when the store refuses an id."""
        first_by_id, now = prepared.first_by_id, prepared.now
        try:
            if prepared.stored:
                # What `store.save` does with these events (no snapshots nor cache for orders),
                # without reading their notification ids back where the recorder can.
                recorder = self._store.recorder
                getattr(recorder, "append_events", recorder.insert_events)(prepared.stored)
            created = prepared.created
        except IntegrityError:
            created = {oid: self._place_alone(cmd, now) for oid, cmd in first_by_id.items()}

        results = []
        for command in prepared.commands:
            first = created[command.order_id]
            if first_by_id[command.order_id] is command:
                results.append(first)
            else:
                results.append(
                    _compare(
                        command, first.status, first.existing_digest or first.digest, first.reasons
                    )
                )
        return results

    def _new_events(
        self, commands: list[Command], now: datetime
    ) -> tuple[list[StoredEvent], dict[UUID, PlaceResult]]:
        """New orders' stored events: an accepted one's written straight to their stored form
        (hub.services.order_events), any other's through its aggregate."""
        stored: list[StoredEvent] = []
        created: dict[UUID, PlaceResult] = {}
        for command in commands:
            events = self._accepted_events.events_of(command, now)
            if events is None:
                order = self._new_order(command, now)
                stored += map(self._store.mapper.to_stored_event, order.collect_events())
                created[command.order_id] = _created(order)
            else:
                stored += events
                created[command.order_id] = PlaceResult(
                    command.order_id, Outcome.CREATED, OrderStatus.ACCEPTED.value, command.digest
                )
        return stored, created

    def record_rejections(self, rejections: Sequence[RejectSubmission]) -> list[UUID]:
        """Keep refused submissions (one record per channel and payload); returns their ids."""
        now = self._clock()
        kept = [_storable_rejection(r) for r in rejections]
        unique = {rejected_submission_id(r.channel, r.raw_payload): r for r in kept}
        try:
            self._store.save(*(_rejected(r, now) for r in unique.values()))
        except IntegrityError:
            # Some were kept before (a re-sent payload): save one by one, skipping those.
            for r in unique.values():
                try:
                    self._store.save(_rejected(r, now))
                except IntegrityError:
                    pass
        return list(unique)

    def park_event(self, follower: str, envelope: EventEnvelope, error: Exception) -> None:
        """An event a follower could not handle, kept with the other exceptions."""
        self.record_rejections(
            [
                RejectSubmission(
                    channel=f"follower:{follower}",
                    raw_payload=envelope.model_dump_json(),
                    format="event",
                    reason="follower_failed",
                    problems=[{"field": "(event)", "message": repr(error), "code": "error"}],
                    actor="system:delivery",
                    external_id=envelope.id,
                )
            ]
        )

    def unkept_rejections(self, rejections: Sequence[RejectSubmission]) -> list[RejectedSubmission]:
        """Records of these refusals not kept yet (one read), for a caller to save with its own
        changes in one transaction. A record saved by someone else meanwhile makes that save
        conflict; run again, this leaves it out."""
        if not rejections:
            return []
        now = self._clock()
        kept = [_storable_rejection(r) for r in rejections]
        unique = {rejected_submission_id(r.channel, r.raw_payload): r for r in kept}
        stored = find_many(self._store, list(unique), RejectedSubmission)
        return [_rejected(r, now) for i, r in unique.items() if i not in stored]

    def find(self, order_id: UUID) -> Order | None:
        return find(self._store, order_id, Order)

    def check_existing(self, command: SubmitOrder) -> PlaceResult | None:
        """Answer a re-submission from the store without recording anything (None when new)."""
        order = self.find(command.order_id)
        if order is None:
            return None
        return _compare(command, order.status.value, order.digest, tuple(order.rejection_reasons))

    def check_existing_many(self, commands: Sequence[SubmitOrder]) -> list[PlaceResult | None]:
        """`check_existing` of each command, from one read of the store."""
        stored = find_many(self._store, [c.order_id for c in commands], Order)
        return [
            None
            if (order := stored.get(c.order_id)) is None
            else _compare(c, order.status.value, order.digest, tuple(order.rejection_reasons))
            for c in commands
        ]

    def _place_alone(self, command: Command, now: datetime) -> PlaceResult:
        order = self._new_order(command, now)
        try:
            self._store.save(order)
        except IntegrityError:
            existing = self.find(command.order_id)
            assert existing is not None, "the store refused the id, so the order exists"
            return _compare(
                command, existing.status.value, existing.digest, tuple(existing.rejection_reasons)
            )
        return _created(order)

    @staticmethod
    def _new_order(command: Command, now: datetime) -> Order:
        sub = command.submission
        order = Order(
            channel=sub.channel,
            external_id=sub.external_id,
            submission=sub,
            digest=command.digest,
            raw_payload=command.raw_payload,
            actor=command.actor,
            correlation_id=command.correlation_id,
            received_at=now,
        )
        order.take_intake_decision(actor=INTAKE_ACTOR, now=now)
        return order


def _created(order: Order) -> PlaceResult:
    return PlaceResult(
        order_id=order.id,
        outcome=Outcome.CREATED,
        status=order.status.value,
        digest=order.digest,
        reasons=tuple(order.rejection_reasons),
    )


def _compare(
    command: Command, status: str, existing_digest: str, reasons: tuple[str, ...]
) -> PlaceResult:
    same = command.digest == existing_digest
    return PlaceResult(
        order_id=command.order_id,
        outcome=Outcome.DUPLICATE if same else Outcome.CONFLICT,
        status=status,
        digest=command.digest,
        existing_digest=existing_digest,
        reasons=reasons,
    )
