"""Capturing orders, whatever the door: canonical JSON or a channel's own format, over REST or
on the channel's Kafka topic. A payload becomes commands to record and refusals to keep, and
each order gets its answer.

How orders are recorded follows how the hub runs. Embedded, they go into the event store at
once (concurrent requests' orders in one transaction). Distributed, a new order is handed to
the submitted topic (durable once the broker acknowledged it, acks=all) for the intake
workers to record, and a re-submission is answered from the store.
"""

import asyncio
from collections.abc import Awaitable, Callable, Sequence
from dataclasses import dataclass
from datetime import datetime
from typing import Any

from pydantic import ValidationError

from connectors.channels import ADAPTERS, ChannelContext, Mapped, Refused
from hub.services.access import Principal
from hub.services.existing_checks import ExistingChecks
from hub.services.intake import IntakeService, Outcome, PlaceResult, RejectSubmission, SubmitOrder
from schemas.channels import FORMATS, ChannelDefinition, Role
from schemas.problems import FieldProblem, field_problems
from schemas.submission import OrderSubmission

# Records the commands in the event store (embedded: the group commit).
Place = Callable[[Sequence[SubmitOrder]], Awaitable[Sequence[PlaceResult]]]
# Hands a new order to the intake workers (distributed: the submitted topic).
Submit = Callable[[SubmitOrder], Awaitable[None]]
# Waits for the read models to have seen what was recorded (embedded: not for routing,
# which runs on in the background), without failing the capture.
Settle = Callable[[], Awaitable[None]]

SUBMITTED = "submitted"  # handed to the intake workers; its outcome comes later


class ChannelMismatch(Exception):
    """A channel's credential submits for its own channel only."""

    def __init__(self, own_channel: str | None) -> None:
        super().__init__(f"must be {own_channel!r} for this key")
        self.own_channel = own_channel


class NoChannelNamed(Exception):
    """A native payload names no channel and the credential belongs to none."""


class WrongFormat(Exception):
    """The payload's format is not the one the channel sends."""

    def __init__(self, definition: ChannelDefinition, format: str) -> None:
        super().__init__(f"Channel {definition.channel_id} sends {definition.format}, not {format}")


class InvalidSubmission(Exception):
    """A canonical submission that is not valid; it was kept, with every field's reason."""

    def __init__(self, problems: list[FieldProblem], rejection_id: str) -> None:
        super().__init__("the submission is not valid")
        self.problems = problems
        self.rejection_id = rejection_id


@dataclass(frozen=True)
class Captured:
    """One order of a payload: recorded (with its result) or handed to the intake workers."""

    command: SubmitOrder
    result: PlaceResult | None

    @property
    def outcome(self) -> str:
        return SUBMITTED if self.result is None else self.result.outcome.value

    @property
    def status(self) -> str:
        return SUBMITTED if self.result is None else self.result.status

    @property
    def taken(self) -> bool:
        return self.result is None or self.result.outcome is Outcome.CREATED


Item = Captured | RejectSubmission


def actor_for(principal: Principal, channel: str) -> str:
    """Channel keys act as their channel, staff as themselves; a trial caller as the channel."""
    return f"channel:{channel}" if principal.key_id == "trial" else principal.actor


def check_may_submit_for(principal: Principal, channel: str) -> None:
    if principal.role is Role.CHANNEL and channel != principal.channel_id:
        raise ChannelMismatch(principal.channel_id)


def read_canonical(
    text: str,
    payload: object,
    actor_of: Callable[[str], str],
    correlation_id: str,
    channel: str | None = None,
    details: dict[str, Any] | None = None,
) -> SubmitOrder | RejectSubmission:
    """A canonical submission as received: the command to record it, or its refusal with
    every field's reason (kept for `channel`, else the channel the payload names)."""
    ident = payload if isinstance(payload, dict) else {}
    try:
        submission = OrderSubmission.model_validate(payload)
    except ValidationError as error:
        refused_for = channel or str(ident.get("channel") or "unknown")
        return RejectSubmission(
            channel=refused_for,
            raw_payload=text,
            format="canonical",
            reason="invalid_submission",
            problems=[p.model_dump() for p in field_problems(error)],
            actor=actor_of(refused_for),
            external_id=str(ident["external_id"]) if ident.get("external_id") else None,
            details=details or {},
        )
    return SubmitOrder(
        submission=submission,
        raw_payload=text,
        actor=actor_of(submission.channel),
        correlation_id=correlation_id,
    )


def translate(
    definition: ChannelDefinition,
    raw: bytes,
    correlation_id: str,
    now: datetime,
    operator: str | None = None,
) -> list[SubmitOrder | RejectSubmission]:
    """A native payload's orders, in order, through the channel's adapter: a command to record
    each, or a refusal to keep. Raises connectors.channels.UnparseablePayload."""
    adapter = ADAPTERS[definition.format]
    context = ChannelContext.for_channel(
        definition, now, operator=operator, stores=definition.stores
    )
    items: list[SubmitOrder | RejectSubmission] = []
    for result in adapter(raw, context):
        if isinstance(result, Mapped):
            items.append(
                SubmitOrder(
                    submission=result.submission,
                    raw_payload=result.raw,
                    actor=result.actor,
                    correlation_id=f"{correlation_id}#{result.index}",
                )
            )
        elif isinstance(result, Refused):
            items.append(
                RejectSubmission(
                    channel=definition.channel_id,
                    raw_payload=result.raw,
                    format=definition.format,
                    reason="invalid_submission",
                    problems=[p.model_dump() for p in result.problems],
                    actor=f"channel:{definition.channel_id}",
                    external_id=result.external_id,
                    details={"index": result.index},
                )
            )
    return items


class CaptureService:
    def __init__(
        self,
        intake: IntakeService,
        channels: Callable[[str], ChannelDefinition],
        place: Place,
        settle: Settle,
        clock: Callable[[], datetime],
        submit: Submit | None = None,
        gather_seconds: float = 0.0,
    ) -> None:
        self._intake = intake
        self._channels = channels
        self._place = place
        self._settle = settle
        self._clock = clock
        self._submit = submit
        # Distributed: the single orders' duplicate checks, batched in a thread of their own,
        # a round waiting `gather_seconds` for others (`ExistingChecks`).
        self._checks = (
            ExistingChecks(intake.check_existing_many, gather_seconds=gather_seconds)
            if submit is not None
            else None
        )

    def handing_new_orders_to(
        self, submit: Submit, gather_seconds: float = 0.0
    ) -> "CaptureService":
        """The same capture, distributed: new orders go to the intake workers through `submit`;
        single orders' duplicate checks gathered `gather_seconds` (see `ExistingChecks`)."""
        return CaptureService(
            self._intake,
            self._channels,
            self._place,
            self._settle,
            self._clock,
            submit,
            gather_seconds,
        )

    async def capture_order(
        self, text: str, payload: object, principal: Principal, correlation_id: str
    ) -> Captured:
        """One canonical submission. Raises InvalidSubmission (kept as a rejected submission)
        or ChannelMismatch (nothing kept)."""
        item = read_canonical(
            text,
            payload,
            lambda channel: actor_for(principal, channel),
            correlation_id,
            channel=principal.channel_id,
        )
        if isinstance(item, RejectSubmission):
            (rejection_id,) = await asyncio.to_thread(self._intake.record_rejections, [item])
            await self._settle()
            problems = [FieldProblem.model_validate(p) for p in item.problems]
            raise InvalidSubmission(problems, str(rejection_id))
        check_may_submit_for(principal, item.submission.channel)
        (captured,) = await self._record([item], [])
        return captured

    async def channel_for(
        self, principal: Principal, channel: str | None, format: str
    ) -> ChannelDefinition:
        """The channel a native payload is for (named, or the credential's own), checked:
        raises NoChannelNamed, ChannelMismatch, WrongFormat, access.UnknownChannelError."""
        channel_id = channel if channel is not None else principal.channel_id
        if channel_id is None:
            raise NoChannelNamed("Say which channel this is for: ?channel=<id>")
        check_may_submit_for(principal, channel_id)
        definition = await asyncio.to_thread(self._channels, channel_id)
        if format not in FORMATS or definition.format != format:
            raise WrongFormat(definition, format)
        return definition

    async def capture_native(
        self,
        definition: ChannelDefinition,
        raw: bytes,
        principal: Principal,
        correlation_id: str,
    ) -> list[Item]:
        """A payload in the channel's own format, one answer per order in payload order.
        Raises connectors.channels.UnparseablePayload when it is not that format at all."""
        operator = principal.label if principal.role is not Role.CHANNEL else None
        items = translate(definition, raw, correlation_id, self._clock(), operator)
        commands = [i for i in items if isinstance(i, SubmitOrder)]
        captured = iter(
            await self._record(commands, [i for i in items if isinstance(i, RejectSubmission)])
        )
        return [i if isinstance(i, RejectSubmission) else next(captured) for i in items]

    async def _record(
        self, commands: list[SubmitOrder], rejections: list[RejectSubmission]
    ) -> list[Captured]:
        if rejections:
            await asyncio.to_thread(self._intake.record_rejections, rejections)
        results: list[PlaceResult | None] = []
        if self._submit is not None:
            # A payload of many orders is checked in one read of the store, not one per order.
            if len(commands) == 1 and self._checks is not None:
                results = [await self._checks.check(commands[0])]
            elif commands:
                results = await asyncio.to_thread(self._intake.check_existing_many, commands)
            for command, existing in zip(commands, results, strict=True):
                if existing is None:
                    await self._submit(command)
        elif commands:
            results = list(await self._place(commands))
        await self._settle()
        return [Captured(c, r) for c, r in zip(commands, results, strict=True)]
