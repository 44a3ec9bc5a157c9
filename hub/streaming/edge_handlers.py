"""Consumers for what comes back from the edges: the stock feed and the sources' updates.

Like hub.streaming.handlers, they never raise: refused messages are kept with their reason, bytes
that cannot be read go to the DLQ, and an outage is waited out.
"""

import asyncio
import json
import logging
from collections.abc import Sequence
from typing import Any

from pydantic import ValidationError

from aggregates.errors import DomainError
from aggregates.submission import RejectedSubmission
from connectors.codec import OutboundRecord
from connectors.consumed import ConsumedMessage, dead_letter, rejection
from connectors.publisher import Publisher
from hub.services.catalog import CatalogService, StockLevel
from hub.services.fulfillment import FulfillmentService
from hub.services.fulfillment_updates import apply_raw_update, apply_raw_updates
from hub.services.intake import IntakeService, RejectSubmission
from hub.services.stock_halves import FeedPosition, PartlyRecordedError
from hub.settings import Settings
from hub.streaming.retries import with_retries
from schemas.problems import field_problems
from schemas.sources import StockDelta, StockSnapshot

log = logging.getLogger(__name__)


class StockFeedConsumer:
    """orderhub.inventory.snapshots → StockItems; refused messages go to the rejected topic."""

    name = "stock_feed"

    def __init__(
        self,
        catalog: CatalogService,
        publisher: Publisher,
        settings: Settings,
        intake: IntakeService | None = None,
    ) -> None:
        self._catalog = catalog
        self._publisher = publisher
        self._settings = settings
        # Where refused rows are also kept as rejected submissions (seen without Kafka tools).
        self._intake = intake

    async def handle(self, messages: Sequence[ConsumedMessage]) -> None:
        """The readable messages of a batch are applied in one transaction, with the records
        of the rows refused; if that fails for a reason other than an outage, each is applied
        on its own so that one poison message goes to the DLQ and the rest still apply.
        Refused messages are parked in batch order."""
        parked: dict[int, OutboundRecord] = {}
        readable: dict[int, StockSnapshot | StockDelta] = {}
        for index, message in enumerate(messages):
            try:
                payload = json.loads(message.value.decode("utf-8"))
            except (ValueError, RecursionError) as error:
                parked[index] = _dead(self._settings, message, f"unparseable: {error}", self.name)
                continue
            try:
                readable[index] = parse_stock_message(payload)
            except ValidationError as error:
                errors = [p.model_dump() for p in field_problems(error)]
                parked[index] = self._rejected(message, "invalid_stock_message", errors)
        kept: set[int] = set()  # whose records were saved already
        if readable:
            refused, kept = await self._apply(messages, readable, parked)
            parked |= refused
        if parked:
            await self._keep_refused(messages, {i: r for i, r in parked.items() if i not in kept})
            records = [parked[index] for index in sorted(parked)]
            await with_retries(
                lambda: self._publisher.publish(records),
                self._settings.max_handler_attempts,
                "parking refused stock messages",
            )

    def _refused_rows(
        self, messages: Sequence[ConsumedMessage], parked: dict[int, OutboundRecord]
    ) -> list[RejectSubmission]:
        """What goes to the rejected topic, as rejected submissions. Ids come from the
        message's position and bytes: a batch delivered again keeps each one once."""
        topic = self._settings.topic("inventory_rejected")
        return [
            refused_row(messages[index], record)
            for index, record in sorted(parked.items())
            if record.topic == topic
        ]

    async def _keep_refused(
        self, messages: Sequence[ConsumedMessage], parked: dict[int, OutboundRecord]
    ) -> None:
        """Refused rows kept as rejected submissions too (seen without Kafka tools)."""
        refused = self._refused_rows(messages, parked)
        if self._intake is None or not refused:
            return
        intake = self._intake
        await with_retries(
            lambda: asyncio.to_thread(intake.record_rejections, refused),
            self._settings.max_handler_attempts,
            "keeping refused stock messages",
        )

    async def _apply(
        self,
        messages: Sequence[ConsumedMessage],
        readable: dict[int, StockSnapshot | StockDelta],
        unreadable: dict[int, OutboundRecord],
    ) -> tuple[dict[int, OutboundRecord], set[int]]:
        """The rows refused, and the batch indexes whose refusals are kept already: in one
        batch, the records of every refused row are saved with it (hub.services.catalog)."""
        actor = f"system:{self.name}"
        indexes, rows = list(readable), list(readable.values())
        positions = [feed_position(messages[index]) for index in readable]

        def refusal(index: int, error: DomainError) -> OutboundRecord:
            return self._rejected(messages[index], type(error).__name__, [str(error)])

        def keep(refusals: list[tuple[int, DomainError]]) -> list[RejectedSubmission]:
            if self._intake is None:
                return []
            refused = {indexes[row]: refusal(indexes[row], error) for row, error in refusals}
            return self._intake.unkept_rejections(
                self._refused_rows(messages, unreadable | refused)
            )

        # Refusals recorded in parts of the batch that committed before it failed: a redelivery
        # finds those rows fed already (a later row of their item moved its offset), so they
        # are remembered here, not refused again (hub.services.stock_halves).
        settled: dict[int, DomainError] = {}

        def apply() -> list[StockLevel | DomainError]:
            try:
                return self._catalog.apply_stock_many(rows, actor, positions, keep)
            except PartlyRecordedError as partly:
                settled.update(
                    {n: r for n, r in enumerate(partly.settled) if isinstance(r, DomainError)}
                )
                raise partly.cause from partly

        try:
            results = await with_retries(
                lambda: asyncio.to_thread(apply),
                self._settings.max_handler_attempts,
                "stock updates",
            )
        except Exception as error:
            log.warning("batch of %d stock updates failed (%r); one by one", len(rows), error)
            earlier = {indexes[n]: refusal(indexes[n], e) for n, e in settled.items()}
            return await self._one_by_one(messages, readable, earlier)
        results = [settled.get(n, result) for n, result in enumerate(results)]
        refused = {
            index: refusal(index, result)
            for index, result in zip(indexes, results, strict=True)
            if isinstance(result, DomainError)
        }
        return refused, set(unreadable) | set(refused) if self._intake is not None else set()

    async def _one_by_one(
        self,
        messages: Sequence[ConsumedMessage],
        readable: dict[int, StockSnapshot | StockDelta],
        earlier: dict[int, OutboundRecord],
    ) -> tuple[dict[int, OutboundRecord], set[int]]:
        """Each row on its own; `earlier`, refused and kept by a part of the batch that was
        recorded, is not applied again."""
        refused: dict[int, OutboundRecord] = dict(earlier)
        for index, row in readable.items():
            if index in earlier:
                continue
            record = await self._apply_one(messages[index], row)
            if record is not None:
                refused[index] = record
                # Kept at once: a later row of its item would move the item's offset past it.
                await self._keep_refused(messages, {index: record})
        return refused, set(refused)

    async def _apply_one(
        self, message: ConsumedMessage, stock: StockSnapshot | StockDelta
    ) -> OutboundRecord | None:
        try:
            await with_retries(
                lambda: asyncio.to_thread(
                    self._catalog.apply_stock, stock, f"system:{self.name}", feed_position(message)
                ),
                self._settings.max_handler_attempts,
                "stock update",
            )
        except DomainError as error:
            return self._rejected(message, type(error).__name__, [str(error)])
        except Exception as error:
            return _dead(self._settings, message, repr(error), self.name)
        return None

    def _rejected(self, message: ConsumedMessage, reason: str, errors: list[Any]) -> OutboundRecord:
        topic = self._settings.topic("inventory_rejected")
        return rejection(topic, message, reason, {"errors": errors})


def refused_row(message: ConsumedMessage, record: OutboundRecord) -> RejectSubmission:
    """A refused stock-feed message as a rejected submission: the reason and the problems of
    its rejection record, the raw bytes behind where it was read."""
    body = json.loads(record.value)
    problems = [
        error if isinstance(error, dict) else {"field": "(message)", "message": str(error)}
        for error in body.get("errors", [])
    ]
    where = f"{message.topic}/{message.partition}@{message.offset}"
    return RejectSubmission(
        channel=f"topic:{message.topic}"[:128],
        raw_payload=f"{where}\n" + message.value.decode("utf-8", errors="replace"),
        format="kafka-record",
        reason=str(body.get("reason", "refused")),
        problems=[{"code": body.get("reason", "refused"), **p} for p in problems],
        actor="system:stock_feed",
        details={"topic": message.topic, "partition": message.partition, "offset": message.offset},
    )


def feed_position(message: ConsumedMessage) -> FeedPosition:
    """Where the message was read: its item remembers it, so a redelivery changes nothing."""
    return (f"{message.topic}/{message.partition}", message.offset)


def parse_stock_message(payload: object) -> StockSnapshot | StockDelta:
    """By its `kind` (default snapshot), so that error paths start at the message's root."""
    kind = payload.get("kind", "snapshot") if isinstance(payload, dict) else "snapshot"
    model = StockDelta if kind == "delta" else StockSnapshot
    return model.model_validate(payload)


class FulfillmentUpdatesConsumer:
    """orderhub.fulfillment.updates → orders; refused updates parked, unparseable to the DLQ."""

    name = "fulfillment_updates"

    def __init__(
        self,
        fulfillment: FulfillmentService,
        intake: IntakeService,
        publisher: Publisher,
        settings: Settings,
    ) -> None:
        self._fulfillment = fulfillment
        self._intake = intake
        self._publisher = publisher
        self._settings = settings

    async def handle(self, messages: Sequence[ConsumedMessage]) -> None:
        """The batch's updates applied together (hub.services.fulfillment_batch); if that
        fails for a reason other than an outage, one at a time, so that a poison message goes
        to the DLQ and the rest still apply. Updates to one shipment arrive on one partition,
        in order, and are applied in batch order either way."""
        parked: dict[int, OutboundRecord] = {}
        texts: dict[int, str] = {}
        for index, message in enumerate(messages):
            try:
                texts[index] = message.value.decode("utf-8")
            except UnicodeDecodeError as error:
                parked[index] = _dead(self._settings, message, f"unparseable: {error}", self.name)
        try:
            results = await with_retries(
                lambda: asyncio.to_thread(
                    apply_raw_updates, self._fulfillment, self._intake, list(texts.values())
                ),
                self._settings.max_handler_attempts,
                "fulfillment updates",
            )
        except Exception as error:
            log.warning("batch of %d updates failed (%r); one by one", len(texts), error)
            parked |= await self._one_by_one(messages, texts)
        else:
            for index, result in zip(texts, results, strict=True):
                if isinstance(result, ValueError):
                    parked[index] = _dead(self._settings, messages[index], str(result), self.name)
        if parked:
            records = [parked[index] for index in sorted(parked)]
            await with_retries(
                lambda: self._publisher.publish(records),
                self._settings.max_handler_attempts,
                "parking fulfillment updates",
            )

    async def _one_by_one(
        self, messages: Sequence[ConsumedMessage], texts: dict[int, str]
    ) -> dict[int, OutboundRecord]:
        parked: dict[int, OutboundRecord] = {}
        for index, text in texts.items():
            message = messages[index]
            try:
                await with_retries(
                    lambda t=text: asyncio.to_thread(  # type: ignore[misc]
                        apply_raw_update, self._fulfillment, self._intake, t
                    ),
                    self._settings.max_handler_attempts,
                    "fulfillment update",
                )
            except ValueError as error:
                parked[index] = _dead(self._settings, message, str(error), self.name)
            except Exception as error:
                log.exception("%s: update failed at %s", self.name, message.stream)
                parked[index] = _dead(self._settings, message, repr(error), self.name)
        return parked


def _dead(settings: Settings, message: ConsumedMessage, error: str, by: str) -> OutboundRecord:
    return dead_letter(settings.topic("dlq"), message, error, by, settings.kafka_max_record_bytes)


class DeadLetterConsumer:
    """orderhub.dlq → the exception queue: every parked message becomes a "parked" exception
    (kept with its bytes, where it came from and why), so people see it without Kafka tools."""

    name = "dead_letters"

    def __init__(self, intake: IntakeService, settings: Settings) -> None:
        self._intake = intake
        self._settings = settings

    async def handle(self, messages: Sequence[ConsumedMessage]) -> None:
        records = [_parked(m) for m in messages]
        if not records:
            return
        try:
            # Ids come from the bytes: a redelivered record is the same exception, not a new one.
            await with_retries(
                lambda: asyncio.to_thread(self._intake.record_rejections, records),
                self._settings.max_handler_attempts,
                "recording dead letters",
            )
        except Exception:
            # Parking it again would loop; the record stays in the DLQ topic, where it is safe.
            log.exception("could not list %d dead letters as exceptions", len(records))


def _parked(message: ConsumedMessage) -> RejectSubmission:
    # The parking headers come last: a record parked before and sent again keeps the earlier
    # ones ahead of them, so each is read from the end.
    parking = {k: v.decode("utf-8", errors="replace") for k, v in message.headers}
    origin = parking.get("dlq-original-topic") or message.topic
    offset = parking.get("dlq-original-offset") or str(message.offset)
    error = parking.get("dlq-error") or "parked without a reason"
    # A message too large for the DLQ whole came cut to its first bytes (dead_letter): what
    # was cut is said beside them, as a rejection record says of a long payload.
    cut: dict[str, object] = {
        name: parking[header]
        for name, header in (
            ("raw_payload_sha256", "dlq-original-sha256"),
            ("key_sha256", "dlq-original-key-sha256"),
            ("headers_dropped", "dlq-original-headers-dropped"),
        )
        if header in parking
    }
    size = parking.get("dlq-original-bytes", "")
    if size.isdigit():  # a record someone else put on the DLQ may say anything here
        cut["raw_payload_bytes"] = int(size)
    return RejectSubmission(
        channel=f"topic:{origin}"[:128],
        raw_payload=f"{origin}@{offset}\n" + message.value.decode("utf-8", errors="replace"),
        format="kafka-record",
        reason="dead_lettered",
        problems=[{"field": "(message)", "message": error, "code": "parked"}],
        actor="system:dlq",
        external_id=None,
        details={
            "topic": origin,
            "partition": parking.get("dlq-original-partition"),
            "offset": offset,
            "consumer": parking.get("dlq-consumer"),
            "parked_at": parking.get("dlq-parked-at"),
            **cut,
        },
    )
