"""The submitted topic's gateway on the real broker: concurrent requests' records published
together as closed batches, each acknowledged (acks=all, idempotent), every one on the topic
once, on its key's partition, with its headers, a partition's records in the order they came."""

import asyncio
import uuid

import pytest

from connectors.publisher import KafkaPublisher, cached_partitioner
from connectors.topics import ensure_topics
from hub.streaming.submissions import ACTOR_HEADER, CORRELATION_HEADER, SubmissionGateway
from tests.contracts.factories import submit_order
from tests.support.kafka import read_topic

pytestmark = [pytest.mark.kafka]

PARTITIONS = 3


@pytest.mark.asyncio
async def test_concurrent_submissions_are_each_acknowledged_and_on_the_topic_once(
    kafka_bootstrap: str,
) -> None:
    topic = f"gateway-{uuid.uuid4().hex[:8]}.orderhub.orders.submitted"
    await ensure_topics(kafka_bootstrap, {topic: PARTITIONS})
    publisher = KafkaPublisher(kafka_bootstrap, client_id="gateway-test", whole_batches=True)
    await publisher.start()
    try:
        gateway = SubmissionGateway(publisher, topic, linger_ms=5)
        commands = [submit_order(external_id=f"WEB-{i}") for i in range(40)]
        # Two waves: the second gathers while the first is being published.
        first = [asyncio.ensure_future(gateway.submit(c)) for c in commands[:20]]
        await asyncio.sleep(0.002)
        second = [asyncio.ensure_future(gateway.submit(c)) for c in commands[20:]]
        assert await asyncio.gather(*first, *second) == [None] * 40
    finally:
        await publisher.stop()

    records = await read_topic(kafka_bootstrap, topic, until=lambda rs: len(rs) >= 40)
    assert len(records) == 40
    by_key = {r.key: r for r in records}
    assert set(by_key) == {str(c.order_id).encode() for c in commands}
    for c in commands:
        record = by_key[str(c.order_id).encode()]
        assert record.value == c.raw_payload.encode()
        assert dict(record.headers) == {
            ACTOR_HEADER: c.actor.encode(),
            CORRELATION_HEADER: c.correlation_id.encode(),
        }
        key = str(c.order_id).encode()
        assert record.partition == cached_partitioner(key, list(range(PARTITIONS)), [])
    for partition in range(PARTITIONS):
        sent = [str(c.order_id).encode() for c in commands]
        on_partition = [
            r.key for r in sorted(records, key=lambda r: r.offset) if r.partition == partition
        ]
        assert on_partition == [k for k in sent if k in set(on_partition)]
