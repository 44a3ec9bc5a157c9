"""Batch handlers behind the Faust agents: parse, call a service, publish what must be published.

They never raise: a message that cannot be handled after bounded retries is parked (DLQ or the
rejected topic) with its reason, and the batch moves on. A crash before the handler returns
leaves the batch unacknowledged, so Kafka redelivers it; idempotence makes that harmless.
"""

import asyncio
import functools
import logging
from collections.abc import Callable, Iterable, Mapping, Sequence
from datetime import datetime
from typing import TypeVar

from connectors.channels import UnparseablePayload
from connectors.codec import OutboundRecord
from connectors.consumed import (
    ConsumedMessage,
    dead_letter,
)
from connectors.publisher import Publisher
from hub.services.capture import read_canonical, translate
from hub.services.intake import (
    Command,
    IntakeService,
    Outcome,
    PlaceResult,
    PreparedOrders,
    RejectSubmission,
)
from hub.services.vouched import SubmissionProof, proof_for, vouched_order
from hub.services.what_if_log import loads
from hub.settings import Settings
from hub.streaming.overlap import Finish
from hub.streaming.plain_batches import BatchHandler
from hub.streaming.retries import is_outage, with_retries
from hub.streaming.submissions import ACTOR_HEADER, CORRELATION_HEADER
from schemas.channels import ChannelDefinition
from schemas.envelope import Actor

log = logging.getLogger(__name__)
T = TypeVar("T")


class Unparseable(Exception):
    """The bytes are not even the channel's format: they go to the DLQ as they are."""


Parsed = Command | RejectSubmission
Parser = Callable[[ConsumedMessage], Sequence[Parsed]]


def parse_canonical(message: ConsumedMessage, proof: SubmissionProof | None = None) -> list[Parsed]:
    """orderhub.orders.submitted: one canonical OrderSubmission (JSON) per record; taken as the
    API validated it when the record's proof holds under `proof` (hub.services.vouched)."""
    correlation = message.header(CORRELATION_HEADER)
    correlation = correlation or f"{message.topic}:{message.partition}:{message.offset}"

    def actor_of(channel: str) -> str:
        return _actor(message.header(ACTOR_HEADER), channel)

    if proof is not None:
        headers = dict(message.headers)
        vouched = vouched_order(proof, message.value, headers, actor_of, correlation)
        if vouched is not None:
            return [vouched]
    try:
        text = message.value.decode("utf-8")
        payload = loads(text)  # orjson where it reads as json.loads would (the API's reading)
    except (ValueError, RecursionError) as error:  # JSONDecodeError, UnicodeDecodeError too
        raise Unparseable(str(error)) from None
    return [
        read_canonical(
            text,
            payload,
            actor_of,
            correlation,
            details={"source": message.stream, "offset": message.offset},
        )
    ]


def canonical_parser(settings: Settings) -> Parser:
    """`parse_canonical` trusting the records the API proved under `settings`' key."""
    proof = proof_for(settings)
    return lambda message: parse_canonical(message, proof)


ChannelLookup = Callable[[Iterable[str]], Mapping[str, ChannelDefinition | None]]
Parsers = Callable[[Sequence[ConsumedMessage]], Parser]  # a parser for one batch


def channel_parsers(
    lookup: ChannelLookup, settings: Settings, clock: Callable[[], datetime]
) -> Parsers:
    """orderhub.channel.<id>.orders: each record in that channel's own format, with the channel's
    definition as it is when the batch is parsed: `lookup` answers for every channel of the
    batch at once (hub.services.channel_definitions: one query, definitions kept between
    batches while they do not change). Records of the hub's submissions topic are canonical."""
    prefix = f"{settings.topic_prefix}orderhub.channel."
    submitted = settings.topic("submitted")
    canonical = canonical_parser(settings)

    def channel_of(topic: str) -> str:
        return topic.removeprefix(prefix).removesuffix(".orders")

    def for_batch(messages: Sequence[ConsumedMessage]) -> Parser:
        topics = {m.topic for m in messages if m.topic != submitted}
        known: Mapping[str, ChannelDefinition | None] = {}
        failed: Exception | None = None
        try:
            known = lookup({channel_of(t) for t in topics}) if topics else {}
        except Exception as error:
            if is_outage(error):
                raise  # waited out by the consumer: its records are not parked for it
            log.exception("the channels of a batch could not be read")
            failed = error

        def parse(message: ConsumedMessage) -> Sequence[Parsed]:
            if message.topic == submitted:
                return canonical(message)
            if failed is not None:
                raise RuntimeError(f"the channel could not be read: {failed!r}")
            channel = known.get(channel_of(message.topic))
            if channel is None:
                name = channel_of(message.topic)
                raise Unparseable(
                    f"no channel for topic {message.topic}: {name!r} is not registered"
                )
            correlation = f"{message.topic}:{message.partition}:{message.offset}"
            try:
                return translate(channel, message.value, correlation, clock())
            except UnparseablePayload as error:
                raise Unparseable(str(error)) from None

        return parse

    return for_batch


class IntakeConsumer:
    """Submissions → orders in the event store; refused ones recorded, unparseable parked.

    One batch may hold the canonical submissions topic and channel topics together (the intake
    role reads them with one consumer): their orders are saved in one transaction. What is
    parked is signed `name`, and records of channel topics `channel_name` (when given)."""

    def __init__(
        self,
        intake: IntakeService,
        publisher: Publisher,
        settings: Settings,
        parsers: Parsers | None = None,
        name: str = "intake",
        channel_name: str | None = None,
    ) -> None:
        self._intake = intake
        self._publisher = publisher
        self._settings = settings
        if parsers is None:
            canonical = canonical_parser(settings)
            parsers = lambda _: canonical  # noqa: E731
        self._parsers = parsers  # a parser for each batch
        self.name = name
        self._channel_name = channel_name
        self._submitted = settings.topic("submitted")

    async def handle(self, messages: Sequence[ConsumedMessage]) -> None:
        await (await self.prepare(messages))()

    async def prepare(self, messages: Sequence[ConsumedMessage]) -> Finish:
        """The batch parsed; what records it, to call once (hub.streaming.overlap: the next
        batch is parsed while this one is saved)."""
        parked: list[OutboundRecord] = []
        commands: list[tuple[ConsumedMessage, Command]] = []
        rejections: list[RejectSubmission] = []

        async def parser() -> Parser:
            return self._parsers(messages)  # reads the batch's channels: an outage waits

        parse = await with_retries(parser, self._settings.max_handler_attempts, "channels")
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
        prepared = self._prepared([c for _, c in commands])
        return lambda: self._record(commands, rejections, parked, prepared)

    def _prepared(self, batch: list[Command]) -> PreparedOrders | None:
        """The batch's stored events made here, while the batch before is being saved: the
        save's thread then only inserts (made in it, they held the interpreter while this
        batch was parsed, and lengthened the save by half). None if that failed: the save
        then goes the whole way and meets what failed where it isolates the record at fault."""
        if not batch:
            return None
        try:
            return self._intake.prepare_orders(batch)
        except Exception:
            return None

    async def _record(
        self,
        commands: list[tuple[ConsumedMessage, Command]],
        rejections: list[RejectSubmission],
        parked: list[OutboundRecord],
        prepared: PreparedOrders | None = None,
    ) -> None:
        for (_, command), result in await self._place(commands, parked, prepared):
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
        commands: list[tuple[ConsumedMessage, Command]],
        parked: list[OutboundRecord],
        prepared: PreparedOrders | None,
    ) -> list[tuple[tuple[ConsumedMessage, Command], PlaceResult]]:
        if not commands:
            return []
        attempts = self._settings.max_handler_attempts
        batch = [c for _, c in commands]

        def place() -> list[PlaceResult]:
            if prepared is not None:
                return self._intake.save_prepared(prepared)
            return self._intake.place_orders(batch)

        try:
            results = await with_retries(
                lambda: asyncio.to_thread(place),
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
        s, by = self._settings, self.name
        if self._channel_name is not None and message.topic != self._submitted:
            by = self._channel_name
        return dead_letter(s.topic("dlq"), message, error, by, s.kafka_max_record_bytes)


def _conflict(command: Command, result: PlaceResult) -> RejectSubmission:
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
            return _actor_text(header)
        except ValueError:
            log.warning("ignoring malformed actor header %r", header)
    return f"channel:{channel}"


@functools.lru_cache(maxsize=1024)
def _actor_text(header: str) -> str:
    """The actor as the events name it; kept per header (a few actors send every record),
    not made again for each. A malformed header raises each time (not kept), and is logged."""
    return str(Actor.parse(header))


class ByTopic:
    """One consumer's batches shared out by topic: each handler is given its topics' records,
    in the order read; the others go to `rest`."""

    def __init__(self, handlers: Mapping[str, BatchHandler], rest: BatchHandler) -> None:
        self._handlers = dict(handlers)
        self._rest = rest

    async def handle(self, messages: Sequence[ConsumedMessage]) -> None:
        await (await self.prepare(messages))()

    async def prepare(self, messages: Sequence[ConsumedMessage]) -> Finish:
        """`rest`'s share prepared (when it prepares its batches); the rest done in the call."""
        shares: dict[str, list[ConsumedMessage]] = {}
        rest: list[ConsumedMessage] = []
        for message in messages:
            if message.topic in self._handlers:
                shares.setdefault(message.topic, []).append(message)
            else:
                rest.append(message)
        prepare = getattr(self._rest, "prepare", None)
        rest_done: Finish | None = None
        if rest:
            rest_done = await prepare(rest) if prepare else lambda: self._rest.handle(rest)

        async def finish() -> None:
            if rest_done is not None:
                await rest_done()
            for topic, share in shares.items():
                await self._handlers[topic].handle(share)

        return finish
