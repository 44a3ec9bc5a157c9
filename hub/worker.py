"""The Faust worker: thin agents that hand batches to the handlers in hub.consumers.

Concurrency stays 1 per agent: faust-streaming commits offsets past messages still in flight
when an agent runs concurrently (faust-streaming#606). Scale out by partitions and workers.
Delivery is at-least-once (not faust's exactly_once, which has open duplicate bugs): a batch is
acknowledged only after its handler returned, and handlers are idempotent.
"""

import asyncio
import logging
from typing import Any

import faust

from connectors.consumed import ConsumedMessage, normalise_headers
from connectors.publisher import KafkaPublisher
from connectors.topics import ensure_topics
from hub.bootstrap import Hub, bootstrap
from hub.consumers import IntakeConsumer, ProjectionConsumer, StockFeedConsumer
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
    # Raw bytes in: parsing is ours, so a poison message is parked instead of crashing Faust.
    submitted = app.topic(
        s.topic("submitted"), value_type=bytes, value_serializer="raw", key_serializer="raw"
    )
    order_events = app.topic(
        s.topic("order_events"), value_type=bytes, value_serializer="raw", key_serializer="raw"
    )

    orchestration_inputs = app.topic(
        s.topic("order_events"),
        s.topic("inventory_events"),
        value_type=bytes,
        value_serializer="raw",
        key_serializer="raw",
    )
    stock_feed_topic = app.topic(
        s.topic("inventory_snapshots"),
        value_type=bytes,
        value_serializer="raw",
        key_serializer="raw",
    )

    intake = IntakeConsumer(hub.intake, publisher, s)
    order_status = ProjectionConsumer("order_status", hub.order_status, publisher, s)
    backorders = ProjectionConsumer("backorders", hub.backorders, publisher, s)
    source_load = ProjectionConsumer("source_load", hub.source_load, publisher, s)
    orchestrator = ProjectionConsumer("orchestrator", hub.orchestrator, publisher, s)
    stock_feed = StockFeedConsumer(hub.catalog, publisher, s)

    @app.agent(submitted, concurrency=1, name="intake")
    async def intake_agent(stream: Any) -> None:
        async for batch in stream.take_events(s.intake_batch_size, within=s.batch_window_seconds):
            await intake.handle([to_consumed(e) for e in batch])

    @app.agent(order_events, concurrency=1, name="order_status_projection")
    async def order_status_agent(stream: Any) -> None:
        async for batch in stream.take_events(
            s.projection_batch_size, within=s.batch_window_seconds
        ):
            await order_status.handle([to_consumed(e) for e in batch])

    @app.agent(order_events, concurrency=1, name="backorders_projection")
    async def backorders_agent(stream: Any) -> None:
        async for batch in stream.take_events(
            s.projection_batch_size, within=s.batch_window_seconds
        ):
            await backorders.handle([to_consumed(e) for e in batch])

    @app.agent(order_events, concurrency=1, name="source_load_projection")
    async def source_load_agent(stream: Any) -> None:
        async for batch in stream.take_events(
            s.projection_batch_size, within=s.batch_window_seconds
        ):
            await source_load.handle([to_consumed(e) for e in batch])

    @app.agent(orchestration_inputs, concurrency=1, name="orchestrator")
    async def orchestrator_agent(stream: Any) -> None:
        async for batch in stream.take_events(s.intake_batch_size, within=s.batch_window_seconds):
            await orchestrator.handle([to_consumed(e) for e in batch])

    @app.agent(stock_feed_topic, concurrency=1, name="stock_feed")
    async def stock_feed_agent(stream: Any) -> None:
        async for batch in stream.take_events(s.intake_batch_size, within=s.batch_window_seconds):
            await stock_feed.handle([to_consumed(e) for e in batch])

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
    publisher = KafkaPublisher(settings.kafka_bootstrap, client_id="orderhub-worker")
    app = create_worker_app(hub, publisher)
    worker = faust.Worker(app, loglevel=settings.log_level.upper(), quiet=True)
    try:
        worker.execute_from_commandline()
    finally:
        hub.close()
