"""Wiring for `orderhub relay`: the event store's log to the order events topic."""

import asyncio
import logging

from connectors.publisher import KafkaPublisher
from connectors.relay import Relay
from connectors.topics import ensure_topics
from hub.bootstrap import Hub, bootstrap
from hub.settings import Settings

log = logging.getLogger(__name__)


def build_relay(hub: Hub, publisher: KafkaPublisher) -> Relay:
    topic = hub.settings.topic("order_events")
    return Relay(
        source=hub.store,
        publisher=publisher,
        positions=hub.relay_positions(),
        topic_for=lambda _envelope: topic,
        batch_size=hub.settings.relay_batch_size,
        poll_seconds=hub.settings.relay_poll_seconds,
    )


async def run_relay(settings: Settings, stop: asyncio.Event) -> None:
    assert settings.kafka_bootstrap is not None
    await ensure_topics(
        settings.kafka_bootstrap,
        {t: settings.topic_partitions for t in settings.all_topics()},
        settings.topic_replication,
    )
    hub = bootstrap(settings)
    publisher = KafkaPublisher(settings.kafka_bootstrap, client_id="orderhub-relay")
    await publisher.start()
    relay = build_relay(hub, publisher)
    log.info("relay started at position %s", hub.relay_positions().get("notification_log"))
    try:
        await relay.run(stop)
    finally:
        await publisher.stop()
        hub.close()
        log.info("relay stopped after publishing %d events", relay.published)
