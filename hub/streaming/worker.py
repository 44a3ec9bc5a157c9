"""The Faust worker: thin agents that hand batches to the handlers in hub.streaming.handlers.

A worker runs one role, and each role is its own Faust app and consumer group, so that read
models never wait behind routing (one consumer feeds every agent of an app: the slowest agent
holds up all the others) and a rebalance in one role does not stop the rest:

- intake: submissions (REST and channel topics) into orders; the DLQ into the exception queue;
- orchestration: routing on order and inventory events; the backorder sweep;
- fulfillment: the sources' updates and the stock feed coming back from the edges; the jeopardy
  clock (orders not shipped near their promise: fulfillment's question, and kept off routing's
  process, where it took a third of the time under load);
- projections: every read model (and billing), fed by one consumer decoding each record once.

Topics listed in hub.streaming.roles are read by plain aiokafka consumers instead (batch in,
handler, commit: hub.streaming.plain_batches), run as tasks of the role's app; the orchestration
and projections roles read all of theirs so, and their apps have no Faust consumer.

Concurrency stays 1 per agent: faust-streaming commits offsets past messages still in flight
when an agent runs concurrently (faust-streaming#606). Scale out by partitions and workers.
Delivery is at-least-once (not faust's exactly_once, which has open duplicate bugs): a batch is
acknowledged only after its handler returned, and handlers are idempotent. For the same reason a
rebalance does not wait for batches in flight (`stream_wait_empty=False`: with it, a worker can
wait for good, faust#402); what was not acknowledged is delivered again to the new owner.
"""

import asyncio
import logging
import os
from collections.abc import Callable, Sequence
from dataclasses import replace
from typing import Any

import faust

from connectors.consumed import ConsumedMessage, to_consumed
from connectors.publisher import KafkaPublisher
from hub.bootstrap import Following, Hub
from hub.services.channel_definitions import ChannelDefinitions
from hub.streaming.batches import take_batches
from hub.streaming.drain import FastDeliveryConsumer
from hub.streaming.edge_handlers import (
    DeadLetterConsumer,
    FulfillmentUpdatesConsumer,
    StockFeedConsumer,
)
from hub.streaming.feeds import Feed, FeedsConsumer, feeds_of
from hub.streaming.handlers import ByTopic, IntakeConsumer, channel_parsers
from hub.streaming.kafka_parts import KafkaParts, instance_id
from hub.streaming.plain_batches import BatchHandler, PlainBatchConsumer, Wanted
from hub.streaming.roles import (
    ORDER_EVENTS,
    SUBMISSIONS,
    Role,
    plain_consumers,
    plain_group,
    plain_topics,
)
from hub.streaming.stall import ConsumerHealth

log = logging.getLogger(__name__)
STALL_EXIT_CODE = 70  # EX_SOFTWARE: the supervisor restarts the worker
RAW_TOPIC: dict[str, Any] = {
    "value_type": bytes,
    "value_serializer": "raw",
    "key_serializer": "raw",
}


# Batches close early (Settings.batch_close_early) only on an order's way to its decision: the
# submissions into intake and the order events into routing. Each batch costs its handler a commit
# of positions and of offsets; elsewhere (read models, stock, dead letters) a window more is no
# harm, and a batch per record would multiply those commits (and, with the orchestration role's
# stock events, hold its order events' handler behind them: they share its lock).


class OneAtATime:
    """A handler that waits for the other handlers of its lock: a follower fed by two
    consumers (a Faust agent and a plain consumer) is applied by one batch at a time."""

    def __init__(self, handler: BatchHandler, lock: asyncio.Lock) -> None:
        self._handler = handler
        self._lock = lock

    async def handle(self, messages: Sequence[ConsumedMessage]) -> None:
        async with self._lock:
            await self._handler.handle(messages)


def restricted(feeds: list[Feed], topics: set[str]) -> list[Feed]:
    """The feeds of these topics, each with only those of its topics."""
    return [replace(f, topics=f.topics & topics) for f in feeds if f.topics & topics]


class Agents:
    """Adds batch agents to one Faust app and remembers which topics they read."""

    def __init__(self, app: faust.App, hub: Hub, publisher: KafkaPublisher) -> None:
        self.app = app
        self.hub = hub
        self.publisher = publisher
        self.settings = hub.settings
        self.consumed: set[str] = set()
        # Groups of plain consumers (hub.streaming.plain_batches) and the topics each reads.
        self.plain: dict[str, list[str]] = {}
        self.readers: list[PlainBatchConsumer] = []
        self._reading: set[asyncio.Task[None]] = set()
        self.timers: list[str] = []
        self.closing_early: list[str] = []  # agents and plain groups whose batches close early
        self._topics: dict[tuple[str, ...], Any] = {}

    def topic(self, *names: str) -> Any:
        """Hub topics by their settings name."""
        return self.raw_topic(*(self.settings.topic(n) for n in names))

    def raw_topic(self, *topics: str) -> Any:
        # Raw bytes in: parsing is ours, so a poison message is parked instead of crashing Faust.
        # Agents reading the same topics share one topic object, as when they were listed here.
        self.consumed.update(topics)
        if topics not in self._topics:
            self._topics[topics] = self.app.topic(*topics, **RAW_TOPIC)
        return self._topics[topics]

    def add(
        self, topic: Any, name: str, handler: BatchHandler, batch_size: int, early: bool = False
    ) -> None:
        """One agent: batches of raw records to a handler that never raises. A batch goes when
        full, `batch_window_seconds` after its first record, or (`early`, on an order's way to
        its decision: see above) when nothing more has arrived; an idle agent sleeps."""
        window = self.settings.batch_window_seconds
        early = early and self.settings.batch_close_early
        if early:
            self.closing_early.append(name)

        async def agent(stream: Any) -> None:
            async for batch in take_batches(stream, batch_size, window, early):
                await handler.handle([to_consumed(e) for e in batch])

        self.app.agent(topic, concurrency=1, name=name)(agent)

    def add_plain(
        self,
        role: Role,
        name: str,
        handler: BatchHandler,
        batch_size: int,
        channel_ids: list[str] | None = None,
        early: bool = False,
        overlap: bool = False,
        wanted: Wanted | None = None,
    ) -> None:
        """The role's plain consumer `name` (hub.streaming.roles): an aiokafka consumer of its
        own group, in a task of the app, taking over where the app's group had committed;
        `wanted`: per topic, the only types handed over to `handler` (plain_batches)."""
        s = self.settings
        window = (early and s.order_window_seconds) or s.batch_window_seconds
        window = s.views_window_seconds if role is Role.PROJECTIONS else window
        topics = plain_topics(s, role, name, channel_ids)
        group = plain_group(s, role, name)
        instance = instance_id(s, role)
        reader = PlainBatchConsumer(
            s,
            topics,
            group,
            handler,
            batch_size,
            instance_id=None if instance is None else f"{instance}-{name}",
            resume_from=self.app.conf.id,
            window=window,
            early=early and s.batch_close_early,
            overlap=overlap,
            wanted=wanted,
        )
        self.plain[group] = sorted(topics)
        if reader.early:
            self.closing_early.append(group)
        self.readers.append(reader)

        async def read() -> None:
            task = asyncio.current_task()
            assert task is not None
            self._reading.add(task)
            try:
                await reader.run()
            finally:
                self._reading.discard(task)

        read.__name__ = name.replace("-", "_")
        self.app.task(read)

    async def stop_reading(self) -> None:
        """Stop the plain consumers, as Faust stops its consumer first when the app stops: the
        app's tasks are cancelled last, after all of its services have stopped, and until then
        each consumer went on reading and handling batches of a backlog."""
        tasks = list(self._reading)
        for task in tasks:
            task.cancel()
        await asyncio.gather(*tasks, return_exceptions=True)

    def add_followers(
        self, role: Role, name: str, followers: list[Following], batch_size: int
    ) -> None:
        """One agent for these followers, reading the union of their topics: each record is
        decoded once and handed to every follower of its topic (hub.streaming.feeds). Topics
        the role reads with a plain consumer (hub.streaming.roles) go to it instead, with the
        followers' share of them; a follower fed by both is applied one batch at a time."""
        feeds = feeds_of(self.settings, followers)
        rest: set[str] = set().union(*(feed.topics for feed in feeds))
        parts: list[tuple[str, list[Feed]]] = []
        for plain, names in plain_consumers(role).items():
            topics = {self.settings.topic(n) for n in names}
            parts.append((plain, restricted(feeds, topics)))
            rest -= topics
        parts.append(("", restricted(feeds, rest)))
        fed = [feed.follower for _, part in parts for feed in part]
        shared = len({id(f) for f in fed}) < len(fed)
        lock = asyncio.Lock() if shared else None
        for plain, part in parts:
            if not part:
                continue
            # The order events' consumer signs what it parks as the role's agent did.
            called = f"{name}-{plain}" if plain not in ("", ORDER_EVENTS) else name
            consumer = FeedsConsumer(
                called, part, self.publisher, self.settings, self.hub.store.event_at
            )
            handler = consumer if lock is None else OneAtATime(consumer, lock)
            if plain:
                early = (role, plain) == (Role.ORCHESTRATION, ORDER_EVENTS)
                wanted = consumer.wanted if role is Role.ORCHESTRATION else None
                self.add_plain(role, plain, handler, batch_size, early=early, wanted=wanted)
            else:
                self.add(self.raw_topic(*sorted(rest)), name, handler, batch_size)

    def followers(self, role: Role) -> list[Following]:
        """The hub's followers this role runs."""
        return [f for f in self.hub.followers if f.worker_role == role]

    def every(self, seconds: float, job: Callable[[], object], what: str) -> None:
        """A timer running a blocking job in a thread; a failure waits for the next tick."""

        async def tick() -> None:
            try:
                await asyncio.to_thread(job)
            except Exception:
                log.exception("%s failed; the next tick will try again", what)

        tick.__name__ = what.replace(" ", "_")
        self.app.timer(interval=seconds)(tick)
        self.timers.append(what)


def add_intake(a: Agents) -> None:
    s, hub = a.settings, a.hub
    # One plain consumer: the submissions and the channels' records into orders, saved together
    # (channel definitions kept between batches, checked at each), and the DLQ's into the
    # exception queue. It reads the channels registered now; a later one after a restart (its
    # topic exists from its registration, so nothing is lost).
    channel_ids = [c.channel_id for c in hub.access.channels()]
    parsers = channel_parsers(ChannelDefinitions(hub.store).current, s, hub.clock)
    intake = IntakeConsumer(hub.intake, a.publisher, s, parsers, channel_name="channel_intake")
    handler = ByTopic({s.topic("dlq"): DeadLetterConsumer(hub.intake, s)}, intake)
    # A batch is parsed while the one before it is saved (hub.streaming.overlap).
    a.add_plain(
        Role.INTAKE,
        SUBMISSIONS,
        handler,
        s.intake_batch_size,
        channel_ids,
        early=True,
        overlap=True,
    )


def add_orchestration(a: Agents) -> None:
    s, hub = a.settings, a.hub
    followers = a.followers(Role.ORCHESTRATION)
    a.add_followers(Role.ORCHESTRATION, "orchestrator", followers, s.intake_batch_size)
    a.every(s.backorder_sweep_seconds, hub.orchestrator.sweep_backorders, "backorder sweep")


def add_fulfillment(a: Agents) -> None:
    s, hub = a.settings, a.hub
    # Both topics are read by plain consumers (their own groups, starting where the role's
    # Faust group had committed): rows of a few hundred bytes and updates, 500 a batch, where
    # Faust's per-record machinery was the larger part of the role's CPU for the feed.
    updates = FulfillmentUpdatesConsumer(hub.fulfillment, hub.intake, a.publisher, s)
    a.add_plain(Role.FULFILLMENT, "updates", updates, s.intake_batch_size)
    stock_feed = StockFeedConsumer(hub.catalog, a.publisher, s, hub.intake)
    a.add_plain(Role.FULFILLMENT, "stock-feed", stock_feed, s.intake_batch_size)
    a.every(s.jeopardy_interval_seconds, hub.jeopardy.tick, "jeopardy clock")


def add_projections(a: Agents) -> None:
    # One consumer for every view, not one each: the group and its topics are the same, so the
    # offsets committed before (the slowest view's, faust acks a record once every agent did)
    # are where it resumes; views that were ahead see those events again, idempotently.
    views = a.followers(Role.PROJECTIONS)
    a.add_followers(Role.PROJECTIONS, "projections", views, a.settings.projection_batch_size)


ROLES: dict[Role, Callable[[Agents], None]] = {
    Role.INTAKE: add_intake,
    Role.ORCHESTRATION: add_orchestration,
    Role.FULFILLMENT: add_fulfillment,
    Role.PROJECTIONS: add_projections,
}


def create_worker_app(
    hub: Hub, publisher: KafkaPublisher, role: Role, loop: asyncio.AbstractEventLoop | None = None
) -> faust.App:
    """The Faust app of one role, on `loop` (else the thread's); nothing connects until the
    worker starts it."""
    s = hub.settings
    kafka = KafkaParts(s)
    datadir = s.data_dir / "faust" / role.value
    datadir.mkdir(parents=True, exist_ok=True)
    app = faust.App(
        s.group_for(role.value),
        loop=loop,
        store="memory://",
        web_enabled=s.worker_health_port is not None,
        web_port=s.worker_health_port or 6066,
        web_bind=s.api_host,
        datadir=str(datadir),
        **kafka.consumer_settings(role),
    )
    # Each record into the streams without four tasks of its own (hub.streaming.drain).
    app.transport.Consumer = FastDeliveryConsumer  # type: ignore[misc]
    agents = Agents(app, hub, publisher)
    ROLES[role](agents)
    if not agents.consumed:
        # Every topic of the role is read by plain consumers: the app runs them, the timers and
        # the health page, without a Faust consumer (it would subscribe to nothing and fail).
        app.boot_strategy = app.BootStrategy(app, enable_kafka_consumer=False)
    groups = ({app.conf.id: sorted(agents.consumed)} if agents.consumed else {}) | agents.plain
    watch = kafka.consumer_watch(groups, rebalancing=lambda: bool(app.rebalancing))

    @app.task  # type: ignore[untyped-decorator]
    async def watchdog() -> None:
        await watch.run(on_stall=exit_stalled)

    def assigned() -> int:
        held = sum(reader.assigned() for reader in agents.readers)
        return held + (len(app.consumer.assignment()) if agents.consumed else 0)

    if s.worker_health_port is not None:

        @app.page("/healthz")
        async def healthz(web: Any, request: Any) -> Any:
            groups = watch.health()
            body = {
                "status": "stalled" if any(h.stalled for h in groups) else "ok",
                "role": role.value,
                "rebalancing": bool(app.rebalancing),
                "assigned_partitions": assigned(),
                "consumers": [h.as_dict() for h in groups],
            }
            return web.json(body, status=503 if body["status"] == "stalled" else 200)

    @app.on_before_shutdown.connect  # type: ignore[arg-type]
    async def stop_publisher(app: faust.App, **kwargs: Any) -> None:
        await agents.stop_reading()  # what they park goes through the publisher
        await publisher.stop()

    return app


def exit_stalled(stalled: list[ConsumerHealth]) -> None:
    """A stuck consumer cannot be trusted to shut down cleanly: leave now, be restarted."""
    for health in stalled:
        log.critical("consumer group %s stalled (%s): exiting", health.group, health.reason)
    logging.shutdown()
    os._exit(STALL_EXIT_CODE)
