"""The lag probe on a real broker: what waits beyond a group's committed offsets, as Kafka's own
kafka-consumer-groups tool reports it; and the watch that tells a stalled group from a busy one."""

import asyncio
import itertools

import pytest
from aiokafka import AIOKafkaConsumer, AIOKafkaProducer, TopicPartition
from aiokafka.structs import OffsetAndMetadata

from connectors.lag import LagProbe
from connectors.topics import ensure_topics
from hub.streaming.stall import ConsumerState
from hub.streaming.watchdog import ConsumerWatch

pytestmark = pytest.mark.kafka


async def _produce(bootstrap: str, topic: str, count: int) -> None:
    producer = AIOKafkaProducer(bootstrap_servers=bootstrap, acks="all")
    await producer.start()
    try:
        for n in range(count):
            await producer.send_and_wait(topic, b"x", partition=n % 2)
    finally:
        await producer.stop()


async def _commit(bootstrap: str, group: str, offsets: dict[TopicPartition, int]) -> None:
    consumer = AIOKafkaConsumer(
        bootstrap_servers=bootstrap, group_id=group, enable_auto_commit=False
    )
    await consumer.start()
    try:
        consumer.assign(list(offsets))
        await consumer.commit({tp: OffsetAndMetadata(o, "") for tp, o in offsets.items()})
    finally:
        await consumer.stop()


def test_lag_is_what_waits_beyond_the_committed_offsets(
    kafka_bootstrap: str, kafka_topic_prefix: str
) -> None:
    topic = f"{kafka_topic_prefix}lag.probe"
    missing = f"{kafka_topic_prefix}lag.not-created"
    group = f"{kafka_topic_prefix}lag-group"
    p0, p1 = TopicPartition(topic, 0), TopicPartition(topic, 1)

    async def scenario() -> None:
        await ensure_topics(kafka_bootstrap, {topic: 2})
        await _produce(kafka_bootstrap, topic, 10)  # 5 on each partition
        probe = LagProbe(kafka_bootstrap)
        try:
            fresh = await probe.group_lag(group, [topic, missing])
            assert (fresh.lag, fresh.committed_total) == (10, 0)
            await _commit(kafka_bootstrap, group, {p0: 5, p1: 2})
            later = await probe.group_lag(group, [topic, missing])
            assert later.committed == {p0: 5, p1: 2}
            assert later.ends == {p0: 5, p1: 5}
            assert (later.lag, later.committed_total) == (3, 7)

            # The watch over the same broker: a group that does not commit is stalled.
            clock = itertools.count(0.0, 30.0)
            watch = ConsumerWatch(probe, {group: [topic]}, 60.0, 0.0, clock=lambda: next(clock))
            for _ in range(3):
                await watch.probe_once()
            (health,) = watch.health()
            assert health.state is ConsumerState.STALLED and health.lag == 3
            await _commit(kafka_bootstrap, group, {p0: 5, p1: 5})
            await watch.probe_once()
            assert watch.health()[0].state is ConsumerState.IDLE
        finally:
            await probe.stop()

    asyncio.run(scenario())
