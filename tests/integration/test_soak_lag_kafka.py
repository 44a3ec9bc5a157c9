"""The soak's lag watch on a real broker and PostgreSQL: each role's records behind, summed over
its groups as the broker reports them, and the relay's saved position against the store."""

import asyncio
from pathlib import Path

import pytest
from aiokafka import AIOKafkaProducer, TopicPartition

from benchmarks.soak_lag import RELAY, LagWatch
from connectors.relay import STREAM
from connectors.topics import ensure_topics
from hub.settings import Settings
from hub.streaming.roles import ORDER_EVENTS, Role, plain_group
from projections.positions import SqlPositionStore
from projections.sqldb import SqlDatabase
from tests.integration.test_lag_probe_kafka import _commit

pytestmark = [pytest.mark.kafka, pytest.mark.postgres]


async def _produce(bootstrap: str, topic: str, count: int) -> None:
    producer = AIOKafkaProducer(bootstrap_servers=bootstrap, acks="all")
    await producer.start()
    try:
        for _ in range(count):
            await producer.send_and_wait(topic, b"x", partition=0)
    finally:
        await producer.stop()


def test_each_roles_lag_is_read_from_its_groups_and_the_relays_position(
    kafka_bootstrap: str, kafka_topic_prefix: str, database_url: str, tmp_path: Path
) -> None:
    settings = Settings(
        _env_file=None,  # type: ignore[call-arg]
        data_dir=tmp_path,
        kafka_bootstrap=kafka_bootstrap,
        database_url=database_url,
        topic_prefix=kafka_topic_prefix,
        consumer_group=f"bench-{kafka_topic_prefix}",
    )
    events = settings.topic("order_events")
    routing = plain_group(settings, Role.ORCHESTRATION, ORDER_EVENTS)
    views = plain_group(settings, Role.PROJECTIONS, ORDER_EVENTS)

    async def scenario() -> None:
        await ensure_topics(
            kafka_bootstrap, {t: settings.topic_partitions for t in settings.all_topics()}
        )
        await _produce(kafka_bootstrap, events, 7)
        await _commit(kafka_bootstrap, routing, {TopicPartition(events, 0): 5})
        await _commit(kafka_bootstrap, views, {TopicPartition(events, 0): 7})
        watch = LagWatch(settings, [])
        db = SqlDatabase(settings.views_url())
        try:
            SqlPositionStore(db, follower=RELAY).set(STREAM, 3)
            found = await watch.look()
        finally:
            await watch.close()
            db.close()
        assert found is not None and watch.last == found
        assert found.lag["orchestration"] == 2 and found.consumed["orchestration"] == 5
        assert found.lag["projections"] == 0 and found.consumed["projections"] == 7
        assert found.lag["intake"] == 0 and found.lag["fulfillment"] == 0
        # An empty store: its head (0) is behind no saved position; 3 published so far.
        assert (found.lag[RELAY], found.consumed[RELAY]) == (0, 3)

    asyncio.run(scenario())
