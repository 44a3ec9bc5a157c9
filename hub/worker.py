"""The Faust worker: thin agents that hand batches to the handlers in hub.consumers.

Concurrency stays 1 per agent: faust-streaming commits offsets past messages still in flight
when an agent runs concurrently (faust-streaming#606). Scale out by partitions and workers.
Delivery is at-least-once (not faust's exactly_once, which has open duplicate bugs): a batch is
acknowledged only after its handler returned, and handlers are idempotent.
"""

import asyncio
import logging
from collections.abc import Sequence
from typing import Any, Protocol

import faust

from connectors.consumed import ConsumedMessage, normalise_headers
from connectors.publisher import KafkaPublisher
from connectors.topics import ensure_topics
from hub.bootstrap import Hub, bootstrap
from hub.consumers import (
    IntakeConsumer,
    ProjectionConsumer,
    channel_parser,
)
from hub.delivery import Follower
from hub.edge_consumers import DeadLetterConsumer, FulfillmentUpdatesConsumer, StockFeedConsumer
from hub.settings import Settings

log = logging.getLogger(__name__)


def to_consumed(event: Any) -> ConsumedMessage:
    message = event.message
    value = message.value if isinstance(message.value, bytes) else bytes(message.value or b"")
    return ConsumedMessage(
        topic=message.topic,
        partition=message.partition,
        offset=message.offset,
        key=message.key,
        value=value,
        headers=normalise_headers(message.headers),
    )


class BatchHandler(Protocol):
    async def handle(self, messages: Sequence[ConsumedMessage]) -> None: ...


def add_batch_agent(
    app: faust.App, topic: Any, name: str, handler: BatchHandler, batch_size: int, window: float
) -> None:
    """One agent: batches of raw records to a handler that never raises."""

    async def agent(stream: Any) -> None:
        async for batch in stream.take_events(batch_size, within=window):
            await handler.handle([to_consumed(e) for e in batch])

    app.agent(topic, concurrency=1, name=name)(agent)


def create_worker_app(hub: Hub, publisher: KafkaPublisher) -> faust.App:
    """The Faust app with its agents; nothing connects until the worker starts it."""
    s = hub.settings
    assert s.kafka_bootstrap is not None
    (s.data_dir / "faust").mkdir(parents=True, exist_ok=True)
    app = faust.App(
        s.consumer_group,
        broker=[f"kafka://{host}" for host in s.kafka_bootstrap.split(",")],
        store="memory://",
        web_enabled=False,
        producer_acks=-1,
        topic_replication_factor=s.topic_replication,
        topic_partitions=s.topic_partitions,
        topic_allow_declare=True,
        consumer_auto_offset_reset="earliest",
        broker_commit_every=s.intake_batch_size,
        broker_commit_interval=1.0,
        stream_wait_empty=True,
        datadir=str(s.data_dir / "faust"),
    )

    def raw_topic(*names: str) -> Any:
        # Raw bytes in: parsing is ours, so a poison message is parked instead of crashing Faust.
        return app.topic(
            *(s.topic(n) for n in names),
            value_type=bytes,
            value_serializer="raw",
            key_serializer="raw",
        )

    submitted = raw_topic("submitted")
    order_events = raw_topic("order_events", "rejected")
    orchestration_inputs = raw_topic("order_events", "inventory_events")
    stock_feed_topic = raw_topic("inventory_snapshots")
    updates_topic = raw_topic("fulfillment_updates")

    projections: dict[str, Follower] = {
        "order_status": hub.order_status,
        "backorders": hub.backorders,
        "source_load": hub.source_load,
        "rejected_submissions": hub.rejected,
        "billing": hub.billing,
        "exceptions": hub.exceptions,
        "audit_trail": hub.audit,
    }
    for name, view in projections.items():
        consumer = ProjectionConsumer(name, view, publisher, s)
        add_batch_agent(
            app,
            order_events,
            f"{name}_projection",
            consumer,
            s.projection_batch_size,
            s.batch_window_seconds,
        )
    add_batch_agent(
        app,
        raw_topic("inventory_events", "catalog_events"),
        "stock_levels_projection",
        ProjectionConsumer("stock_levels", hub.stock_levels, publisher, s),
        s.projection_batch_size,
        s.batch_window_seconds,
    )
    add_batch_agent(
        app,
        raw_topic("dlq"),
        "dead_letters",
        DeadLetterConsumer(hub.intake, s),
        s.intake_batch_size,
        s.batch_window_seconds,
    )
    add_batch_agent(
        app,
        submitted,
        "intake",
        IntakeConsumer(hub.intake, publisher, s),
        s.intake_batch_size,
        s.batch_window_seconds,
    )
    channel_ids = [c.channel_id for c in hub.access.channels()]
    if channel_ids:
        # faust-streaming cannot subscribe by pattern: a channel registered later is picked up
        # when workers restart (the topic exists from registration, so nothing is lost).
        channel_topics = app.topic(
            *(s.channel_topic(c) for c in channel_ids),
            value_type=bytes,
            value_serializer="raw",
            key_serializer="raw",
        )
        add_batch_agent(
            app,
            channel_topics,
            "channel_intake",
            IntakeConsumer(
                hub.intake,
                publisher,
                s,
                parse=channel_parser(hub.access.channel, s, hub.clock),
                name="channel_intake",
            ),
            s.intake_batch_size,
            s.batch_window_seconds,
        )
    add_batch_agent(
        app,
        orchestration_inputs,
        "orchestrator",
        ProjectionConsumer("orchestrator", hub.orchestrator, publisher, s),
        s.intake_batch_size,
        s.batch_window_seconds,
    )
    add_batch_agent(
        app,
        updates_topic,
        "fulfillment_updates",
        FulfillmentUpdatesConsumer(hub.fulfillment, hub.intake, publisher, s),
        s.intake_batch_size,
        s.batch_window_seconds,
    )
    add_batch_agent(
        app,
        stock_feed_topic,
        "stock_feed",
        StockFeedConsumer(hub.catalog, publisher, s),
        s.intake_batch_size,
        s.batch_window_seconds,
    )

    @app.timer(interval=s.backorder_sweep_seconds)  # type: ignore[untyped-decorator]
    async def sweep_backorders() -> None:
        try:
            await asyncio.to_thread(hub.orchestrator.sweep_backorders)
        except Exception:
            log.exception("backorder sweep failed; the next one will try again")

    @app.timer(interval=s.jeopardy_interval_seconds)  # type: ignore[untyped-decorator]
    async def jeopardy_clock() -> None:
        try:
            await asyncio.to_thread(hub.jeopardy.tick)
        except Exception:
            log.exception("jeopardy clock failed; the next tick will try again")

    @app.on_before_shutdown.connect  # type: ignore[arg-type]
    async def stop_publisher(app: faust.App, **kwargs: Any) -> None:
        await publisher.stop()

    return app


def run_worker(settings: Settings) -> None:
    """Create missing topics, then run the Faust worker until SIGTERM/SIGINT."""
    assert settings.kafka_bootstrap is not None
    asyncio.run(
        ensure_topics(
            settings.kafka_bootstrap,
            {t: settings.topic_partitions for t in settings.all_topics()},
            settings.topic_replication,
        )
    )
    asyncio.set_event_loop(asyncio.new_event_loop())  # asyncio.run closed the previous one
    hub = bootstrap(settings)
    hub.orchestration.supply.refresh()  # the supply view rebuilt before the first order comes
    publisher = KafkaPublisher(settings.kafka_bootstrap, client_id="orderhub-worker")
    app = create_worker_app(hub, publisher)
    worker = faust.Worker(app, loglevel=settings.log_level.upper(), quiet=True)
    try:
        worker.execute_from_commandline()
    finally:
        hub.close()
