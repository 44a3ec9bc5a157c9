"""Batches of a group's topics read with aiokafka alone, for records Faust's machinery made costly.

faust-streaming hands each record through its own machinery: the fetcher awaits two new tasks
per record (`wait_first(callback(message), suspend_flow.wait())`), the record becomes an Event
in a channel, and `take_batches` acks it one by one. For the stock feed (rows of a few hundred
bytes, applied 500 at a time) that was some 40 % of the fulfillment role's CPU, and about half of
the projections role's for the order events (py-spy, benchmarks/README.md); hub.streaming.roles
lists the topics read this way. Here a consumer of its own group takes what `getmany` returns
(up to a batch), hands it to the handler, and commits the batch's offsets only once the handler
returned: with those of the batches handled after it within `consumer_commit_seconds`, in one
commit request (and on a stop).

The guarantees of the Faust agents are kept: at least once (a crash or a rebalance during the
handler leaves the batch uncommitted, so its new owner reads it again; the stock feed's items
remember the offsets they applied and the followers their positions, so a batch read again is
applied once), concurrency 1, and a
handler that raised has its batch read again from the committed offsets after a pause, never
skipped. Its group is watched for stalls as the Faust groups are (hub.streaming.worker).

A group new to this consumer starts where `resume_from` (the Faust group that read the topic
before) had committed, so that an upgrade does not read the whole feed again.

With a `window`, a batch is handed over when full or `window` seconds after its first records,
as the Faust agents' `take_batches` did: at a few records a second, each batch a transaction of
its own would cost more than the wait. With `early` as well, the window closes as soon as a
fetch comes back short: `getmany` hands over everything the fetcher holds (up to the batch), so
a short answer means nothing more has arrived. A lone order then goes at once instead of
waiting out the window (up to 50 ms on each hop of its way to a decision); a backlog still comes
in full batches, and at a steady rate the batch grows with what arrived while the one before
was being handled.

With the window kept by the broker (`window_at_broker`), each fetch is held there for the window
while records come, and taken as the batch; an idle consumer asks for a fetch answered at its
first record instead, and hands that record over at once (hub.streaming.broker_hold: an idle
hub paid for a fetch every window in every consumer).
"""

import asyncio
import logging
from collections.abc import Sequence
from typing import Any, Protocol

from aiokafka import AIOKafkaConsumer, TopicPartition
from aiokafka.admin import AIOKafkaAdminClient
from aiokafka.errors import KafkaError

from connectors.consumed import ConsumedMessage, normalise_headers
from hub.settings import Settings
from hub.streaming.broker_hold import BROKER_WINDOW_MIN_BYTES, BrokerHold
from hub.streaming.commits import Commits
from hub.streaming.overlap import Overlap, read_again

log = logging.getLogger(__name__)
RETRY_PAUSE_SECONDS = 1.0
COMMIT_ON_STOP_SECONDS = 2.0
FINISHING_LOOK_SECONDS = 0.01


class BatchHandler(Protocol):
    async def handle(self, messages: Sequence[ConsumedMessage]) -> None: ...


# Per topic, the `ce_type`s a consumer's handler acts on (None: every record); a consumer given
# them hands over only those records (hub.streaming.feeds.decode would pass the others).
Wanted = dict[str, frozenset[str] | None]


def consumed(record: Any) -> ConsumedMessage:
    """An aiokafka record as the hub's handlers take it."""
    return ConsumedMessage(
        topic=record.topic,
        partition=record.partition,
        offset=record.offset,
        key=record.key,
        value=record.value or b"",
        headers=normalise_headers(record.headers),
    )


# A consumer whose batches overlap their saves (the intake) takes a batch as its first fetch
# came: draining a backlog, a batch came short each time aiokafka's buffer held only the tail of
# a partition's fetch (1 MB by default, ~550 submissions), 461-477 records on average for 500
# (benchmarks/README.md, intake9, intake10), each short batch a save (its round trips, its fsync)
# for fewer orders. Four times as much per fetch leaves a tail a quarter as often; under a steady
# flow a fetch holds what arrived, far less.
OVERLAP_PARTITION_FETCH_BYTES = 4 * 1024 * 1024


class PlainBatchConsumer:
    """One group's batches to one handler, committed after the handler returned."""

    def __init__(
        self,
        settings: Settings,
        topics: Sequence[str],
        group: str,
        handler: BatchHandler,
        batch_size: int,
        instance_id: str | None = None,
        resume_from: str | None = None,
        window: float = 0.0,
        early: bool = False,
        commit_every: float | None = None,
        window_at_broker: bool | None = None,
        overlap: bool = False,
        wanted: Wanted | None = None,
    ) -> None:
        self.settings = settings
        self.topics = list(topics)
        self.group = group
        self.handler = handler
        self.batch_size = batch_size
        self.instance_id = instance_id
        self.resume_from = resume_from
        self.window = window
        self.early = early
        # Handled batches' offsets are committed together, at most this long after the first
        # of them (0: after each batch), off the loop (hub.streaming.commits).
        self.commit_every = (
            settings.consumer_commit_seconds if commit_every is None else commit_every
        )
        self.commits = Commits(group, self.commit_every)
        if window_at_broker is None:
            window_at_broker = settings.batch_window_at_broker
        self.window_at_broker = window_at_broker and window > 0 and not early
        # A handler that prepares its batches has the next one prepared while the one before
        # it finishes (hub.streaming.overlap).
        self.overlap = (
            Overlap(handler, group, self._done, self._pause)  # type: ignore[arg-type]
            if overlap and hasattr(handler, "prepare")
            else None
        )
        self.wanted = as_header_values(wanted)
        self.batches = 0  # handled (tests and logs)
        self._kafka: AIOKafkaConsumer | None = None
        self.hold: BrokerHold | None = None  # the fetch asked for next (window at the broker)

    def assigned(self) -> int:
        """Partitions this consumer holds now (the worker's health page)."""
        return 0 if self._kafka is None else len(self._kafka.assignment())

    def consumer(self) -> AIOKafkaConsumer:
        s = self.settings
        if s.kafka_bootstrap is None:
            raise ValueError("a plain consumer needs ORDERHUB_KAFKA_BOOTSTRAP")
        fetching: dict[str, int] = {}
        if self.window_at_broker:
            # The broker holds each fetch for the window: one fetch (its request, its answer
            # decoded, in the consumer and in the broker) per window, not one per record that
            # arrived within it, as topping the batch up here made at a steady rate.
            fetching = {
                "fetch_max_wait_ms": max(1, int(self.window * 1000)),
                "fetch_min_bytes": BROKER_WINDOW_MIN_BYTES,
            }
        if self.overlap is not None:
            fetching["max_partition_fetch_bytes"] = OVERLAP_PARTITION_FETCH_BYTES
        return AIOKafkaConsumer(
            bootstrap_servers=s.kafka_bootstrap,
            group_id=self.group,
            group_instance_id=self.instance_id,
            enable_auto_commit=False,
            auto_offset_reset="earliest",
            max_poll_records=self.batch_size,
            session_timeout_ms=int(s.kafka_session_timeout_seconds * 1000),
            heartbeat_interval_ms=int(s.kafka_heartbeat_seconds * 1000),
            rebalance_timeout_ms=int(s.kafka_rebalance_timeout_seconds * 1000),
            **fetching,
        )

    async def run(self) -> None:
        """Until cancelled (the worker stopping). A consumer that failed (the broker gone past
        aiokafka's own retries) is made again; what was not committed is read again."""
        while True:
            try:
                await self.run_once()
            except asyncio.CancelledError:
                raise
            except Exception:
                log.exception("%s: consumer failed; starting it again", self.group)
                await asyncio.sleep(RETRY_PAUSE_SECONDS)

    async def run_once(self) -> None:
        if self.resume_from is not None:
            await seed_offsets(self.settings, self.group, self.resume_from, self.topics)
        kafka = self.consumer()
        kafka.subscribe(self.topics)
        await kafka.start()
        self._kafka = kafka
        loop = asyncio.get_running_loop()
        hold = BrokerHold(kafka, self.window, loop.time()) if self.window_at_broker else None
        self.hold = hold
        try:
            while True:
                wait = self._fetch_wait(loop.time(), hold)
                fetched = await kafka.getmany(
                    timeout_ms=max(1, int(min(wait, 1.0) * 1000)), max_records=self.batch_size
                )
                if fetched and hold is not None:
                    hold.records_came(loop.time())
                if fetched:
                    await self._handle(kafka, await self._filled(kafka, fetched))
                    if hold is not None:
                        hold.handled(loop.time())
                elif hold is not None:
                    hold.check_idle(loop.time())
                await self._settle_overlap(kafka, bool(fetched))
                self.commits.send_if_due(kafka, loop.time())
        finally:
            self._kafka = None
            await self._stop_overlap(kafka)
            try:
                # What was handled is committed before leaving (a stop, a failure), so that a
                # clean stop reads nothing twice; a crash reads it again, as at least once does.
                await asyncio.wait_for(
                    asyncio.shield(self.commits.flush(kafka)), COMMIT_ON_STOP_SECONDS
                )
            except (TimeoutError, asyncio.CancelledError, KafkaError):
                self.commits.cancel()
            except Exception:  # a commit sent before failed: the consumer still stops
                log.exception("%s: commit on leaving failed", self.group)
                self.commits.cancel()
            await kafka.stop()

    async def _filled(
        self, kafka: AIOKafkaConsumer, fetched: dict[TopicPartition, list[Any]]
    ) -> dict[TopicPartition, list[Any]]:
        """The batch topped up with what arrives within the window, until full; `early`, the
        first fetch as it came (full, or short: nothing more had arrived); with the window kept
        by the broker, the first fetch too (it waited out the window there)."""
        if self.early or self.window_at_broker:
            return fetched
        count = sum(len(records) for records in fetched.values())
        deadline = asyncio.get_running_loop().time() + self.window
        while count < self.batch_size:
            left = deadline - asyncio.get_running_loop().time()
            if left <= 0:
                break
            more = await kafka.getmany(
                timeout_ms=max(1, int(left * 1000)), max_records=self.batch_size - count
            )
            count = topped_up(fetched, more, count)
        return fetched

    async def _handle(self, kafka: AIOKafkaConsumer, fetched: dict[TopicPartition, Any]) -> None:
        # Partition by partition, each in its order: one item's rows are on one partition.
        messages = handed_over(fetched, self.wanted)
        if self.overlap is not None:
            await self.overlap.take(kafka, fetched, messages)
            return
        try:
            await self.handler.handle(messages)
        except Exception:
            # Handlers park what they cannot apply; one that raised met something else (an
            # outage past its retries): read the batch again rather than skip it.
            log.exception("%s: batch of %d failed; reading it again", self.group, len(messages))
            await self._pause()
            read_again(kafka, [fetched])
            return
        await self._done(fetched)

    def _fetch_wait(self, now: float, hold: BrokerHold | None) -> float:
        """How long the next fetch may wait: until the handled batches' commit is due, the
        broker's window, and while a batch is being finished (overlap) a short while only, so
        that it is marked handled (and committed) soon after it finished, not a second later."""
        wait = self.commits.wait(now)
        if hold is not None:
            wait = min(wait, hold.wait_for(now))
        if self.overlap is not None and not self.overlap.finished:
            wait = min(wait, FINISHING_LOOK_SECONDS)
        return wait

    async def _settle_overlap(self, kafka: AIOKafkaConsumer, fetched: bool) -> None:
        """The batch being finished marked handled once it finished; idle, waited for."""
        if self.overlap is not None and (not fetched or self.overlap.finished):
            await self.overlap.settle(kafka)

    async def _stop_overlap(self, kafka: AIOKafkaConsumer) -> None:
        if self.overlap is not None:
            await self.overlap.stop(kafka, COMMIT_ON_STOP_SECONDS)

    async def _pause(self) -> None:
        await asyncio.sleep(RETRY_PAUSE_SECONDS)

    async def _done(self, fetched: dict[TopicPartition, Any]) -> None:
        """A batch handled: its offsets are committed with the next commit."""
        ends = {tp: records[-1].offset + 1 for tp, records in fetched.items()}
        self.commits.handled(ends, asyncio.get_running_loop().time())
        self.batches += 1
        if self.commit_every <= 0 and self._kafka is not None:
            await self.commits.flush(self._kafka)


def as_header_values(wanted: Wanted | None) -> dict[str, frozenset[bytes] | None] | None:
    """The wanted types as the headers carry them (bytes), compared before a record is made a
    ConsumedMessage (see `handed_over`)."""
    if wanted is None:
        return None
    return {
        topic: None if types is None else frozenset(t.encode() for t in types)
        for topic, types in wanted.items()
    }


def handed_over(fetched: dict[TopicPartition, list[Any]], wanted: Any) -> list[ConsumedMessage]:
    """The batch's records as the handler takes them: with `wanted` (per topic, the `ce_type`s
    as bytes, None for every type), only the records of those types, those without the header
    (the handler parks them as undecodable) and the last record of each partition (which the
    handler's positions are taken from; not of a wanted type, the handler passes it). The
    orchestration role acts on one of an order's ten-odd events and on none of its four stock
    reservations: each record made a ConsumedMessage, its headers copied, to be looked at once
    and passed (py-spy: the role's largest cost per record after aiokafka's own unpacking)."""
    if wanted is None:
        return [consumed(r) for records in fetched.values() for r in records]
    messages = []
    for records in fetched.values():
        last = records[-1]
        for record in records:
            if record is last or _wanted(record, wanted):
                messages.append(consumed(record))
    return messages


def _wanted(record: Any, wanted: dict[str, frozenset[bytes] | None]) -> bool:
    types = wanted.get(record.topic)
    if types is None:
        return True
    for name, value in record.headers or ():
        if name == "ce_type":
            return value in types
    return True


def topped_up(
    fetched: dict[TopicPartition, list[Any]], more: dict[TopicPartition, list[Any]], count: int
) -> int:
    """`more` added to the batch `fetched`, partition by partition in order; the batch's count."""
    for tp, records in more.items():
        held = fetched.setdefault(tp, [])
        if held and records[0].offset <= held[-1].offset:
            # Taken back by a rebalance within the window, the partition was read again from
            # its committed offset: only the new read, in order, goes on.
            count -= len(held)
            held.clear()
        held.extend(records)
        count += len(records)
    return count


async def seed_offsets(settings: Settings, group: str, before: str, topics: Sequence[str]) -> None:
    """A group that never committed starts where `before` had committed on these topics.

    Done before the group's consumer joins: a seek from the rebalance listener raced the
    consumer's own reset of partitions without a committed offset. When several workers start
    at once, each commits the same offsets; once the group has members, a stray commit of this
    kind is refused and the group's own offsets stand."""
    if await committed_offsets(settings, group):
        return
    offsets = {tp: o for tp, o in (await committed_offsets(settings, before)).items()
               if tp.topic in topics}  # fmt: skip
    if not offsets:
        return
    seeder = AIOKafkaConsumer(
        bootstrap_servers=settings.kafka_bootstrap, group_id=group, enable_auto_commit=False
    )
    seeder.assign(list(offsets))
    try:
        await seeder.start()
        await seeder.commit(offsets)
        log.info("%s starts where %s was: %s", group, before, offsets)
    except KafkaError as error:
        log.warning("%s: offsets of %s not taken over (%r)", group, before, error)
    finally:
        await seeder.stop()


async def committed_offsets(settings: Settings, group: str) -> dict[TopicPartition, int]:
    """What `group` has committed (nothing when it never did, or cannot be asked)."""
    admin = AIOKafkaAdminClient(bootstrap_servers=settings.kafka_bootstrap)
    try:
        await admin.start()
        found = await admin.list_consumer_group_offsets(group)
    except KafkaError as error:
        log.warning("offsets of %s not read (%r): starting from the earliest", group, error)
        return {}
    finally:
        await admin.close()
    return {tp: meta.offset for tp, meta in found.items() if meta.offset >= 0}
