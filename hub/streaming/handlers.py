"""Batch handlers behind the Faust agents: parse, call a service, publish what must be published.

They never raise: a message that cannot be handled after bounded retries is parked (DLQ or the
rejected topic) with its reason, and the batch moves on. A crash before the handler returns
leaves the batch unacknowledged, so Kafka redelivers it; idempotence makes that harmless.
"""

import asyncio
import json
import logging
from collections.abc import Callable, Sequence
from datetime import datetime
from typing import TypeVar

from aggregates.errors import DomainError
from connectors.channels import UnparseablePayload
from connectors.codec import OutboundRecord
from connectors.consumed import (
    ConsumedMessage,
    dead_letter,
)
from connectors.publisher import Publisher
from hub.services.capture import read_canonical, translate
from hub.services.intake import (
    IntakeService,
    Outcome,
    PlaceResult,
    RejectSubmission,
    SubmitOrder,
)
from hub.settings import Settings
from hub.streaming.retries import with_retries
from hub.streaming.submissions import ACTOR_HEADER, CORRELATION_HEADER
from schemas.channels import ChannelDefinition
from schemas.envelope import Actor

log = logging.getLogger(__name__)
T = TypeVar("T")


class Unparseable(Exception):
    """The bytes are not even the channel's format: they go to the DLQ as they are."""


Parsed = SubmitOrder | RejectSubmission
Parser = Callable[[ConsumedMessage], list[Parsed]]


def parse_canonical(message: ConsumedMessage) -> list[Parsed]:
    """orderhub.orders.submitted: one canonical OrderSubmission (JSON) per record."""
    try:
        text = message.value.decode("utf-8")
        payload = json.loads(text)
    except (ValueError, RecursionError) as error:  # JSONDecodeError, UnicodeDecodeError too
        raise Unparseable(str(error)) from None
    correlation = message.header(CORRELATION_HEADER)
    return [
        read_canonical(
            text,
            payload,
            lambda channel: _actor(message.header(ACTOR_HEADER), channel),
            correlation or f"{message.topic}:{message.partition}:{message.offset}",
            details={"source": message.stream, "offset": message.offset},
        )
    ]


def channel_parsers(
    lookup: Callable[[str], ChannelDefinition], settings: Settings, clock: Callable[[], datetime]
) -> Callable[[], Parser]:
    """orderhub.channel.<id>.orders: each record in that channel's own format. A parser per
    batch, which reads each channel's definition once for the batch: it was read from the event
    store for every record (py-spy: a third of the intake role's parsing, in its event loop)."""
    prefix = f"{settings.topic_prefix}orderhub.channel."

    def for_batch() -> Parser:
        known: dict[str, ChannelDefinition | str] = {}  # a definition, or why there is none

        def definition(topic: str) -> ChannelDefinition:
            channel_id = topic.removeprefix(prefix).removesuffix(".orders")
            if channel_id not in known:
                try:
                    known[channel_id] = lookup(channel_id)
                except DomainError as error:
                    known[channel_id] = f"no channel for topic {topic}: {error}"
            found = known[channel_id]
            if isinstance(found, str):
                raise Unparseable(found)
            return found

        def parse(message: ConsumedMessage) -> list[Parsed]:
            channel = definition(message.topic)
            correlation = f"{message.topic}:{message.partition}:{message.offset}"
            try:
                return translate(channel, message.value, correlation, clock())
            except UnparseablePayload as error:
                raise Unparseable(str(error)) from None

        return parse

    return for_batch


class IntakeConsumer:
    """Channel records → orders in the event store; refused ones recorded, unparseable parked."""

    def __init__(
        self,
        intake: IntakeService,
        publisher: Publisher,
        settings: Settings,
        parsers: Callable[[], Parser] = lambda: parse_canonical,
        name: str = "intake",
    ) -> None:
        self._intake = intake
        self._publisher = publisher
        self._settings = settings
        self._parsers = parsers  # a parser for each batch
        self.name = name

    async def handle(self, messages: Sequence[ConsumedMessage]) -> None:
        parked: list[OutboundRecord] = []
        commands: list[tuple[ConsumedMessage, SubmitOrder]] = []
        rejections: list[RejectSubmission] = []
        parse = self._parsers()
        for message in messages:
            try:
                parsed = parse(message)
            except Unparseable as error:
                parked.append(self._dead(message, f"unparseable: {error}"))
                continue
            except Exception as error:  # a parser bug must not stop the agent either
                log.exception("%s: parser failed on %s", self.name, message.stream)
                parked.append(self._dead(message, f"parser error: {error!r}"))
                continue
            for item in parsed:
                if isinstance(item, RejectSubmission):
                    rejections.append(item)
                else:
                    commands.append((message, item))
        for (_, command), result in await self._place(commands, parked):
            if result.outcome is Outcome.CONFLICT:
                rejections.append(_conflict(command, result))
        if rejections:
            await with_retries(
                lambda: asyncio.to_thread(self._intake.record_rejections, rejections),
                self._settings.max_handler_attempts,
                "recording rejected submissions",
            )
        if parked:
            await with_retries(
                lambda: self._publisher.publish(parked),
                self._settings.max_handler_attempts,
                "parking unparseable submissions",
            )

    async def _place(
        self,
        commands: list[tuple[ConsumedMessage, SubmitOrder]],
        parked: list[OutboundRecord],
    ) -> list[tuple[tuple[ConsumedMessage, SubmitOrder], PlaceResult]]:
        if not commands:
            return []
        attempts = self._settings.max_handler_attempts
        batch = [c for _, c in commands]
        try:
            results = await with_retries(
                lambda: asyncio.to_thread(self._intake.place_orders, batch),
                attempts,
                "intake batch",
            )
            return list(zip(commands, results, strict=True))
        except Exception:
            log.exception("intake batch failed; isolating the message at fault")
        placed = []
        for pair in commands:
            try:
                result = await with_retries(
                    lambda c=pair[1]: asyncio.to_thread(self._intake.place_order, c),  # type: ignore[misc]
                    attempts,
                    "intake of one submission",
                )
                placed.append((pair, result))
            except Exception as error:
                parked.append(self._dead(pair[0], repr(error)))
        return placed

    def _dead(self, message: ConsumedMessage, error: str) -> OutboundRecord:
        return dead_letter(self._settings.topic("dlq"), message, error, self.name)


def _conflict(command: SubmitOrder, result: PlaceResult) -> RejectSubmission:
    channel = command.submission.channel
    return RejectSubmission(
        channel=channel,
        raw_payload=command.raw_payload,
        format="canonical",
        reason="conflict",
        problems=[
            {
                "field": "external_id",
                "message": "an order with this channel and external id exists with other content",
                "code": "conflict",
            }
        ],
        actor=command.actor,
        external_id=command.submission.external_id,
        details={
            "order_id": str(result.order_id),
            "existing_digest": result.existing_digest,
            "submitted_digest": result.digest,
        },
    )


def _actor(header: str | None, channel: str) -> str:
    """The actor header if it is well-formed (kind:id); otherwise the submitting channel."""
    if header:
        try:
            return str(Actor.parse(header))
        except ValueError:
            log.warning("ignoring malformed actor header %r", header)
    return f"channel:{channel}"
