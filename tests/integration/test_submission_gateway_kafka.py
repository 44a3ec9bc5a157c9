"""The submitted topic's gateway on the real broker: concurrent requests' records published
together as closed batches, each acknowledged (acks=all, idempotent), every one on the topic
once, on its key's partition, with its headers, a partition's records in the order they came."""

import asyncio
import dataclasses
import uuid

import pytest
from aiokafka.errors import MessageSizeTooLargeError

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


@pytest.mark.asyncio
async def test_a_submission_the_topic_refuses_as_too_large_fails_alone_and_the_next_go_on(
    kafka_bootstrap: str,
) -> None:
    """A topic made before the hub set its record limit keeps the broker's ~1 MB: a body the
    API takes (up to 1,000,000 bytes, more as its record) can be refused. That request fails,
    and the requests after it, on the same partition, are still acknowledged."""
    topic = f"gateway-{uuid.uuid4().hex[:8]}.orderhub.orders.submitted"
    await ensure_topics(kafka_bootstrap, {topic: 1})
    publisher = KafkaPublisher(
        kafka_bootstrap, client_id="gateway-test", whole_batches=True, max_record_bytes=2**24
    )
    await publisher.start()
    try:
        gateway = SubmissionGateway(publisher, topic, linger_ms=5)
        plain = submit_order(external_id="WEB-BIG")
        big = dataclasses.replace(plain, raw_payload=plain.raw_payload[:-1] + " " * 1_100_000 + "}")
        with pytest.raises(MessageSizeTooLargeError):
            await gateway.submit(big)
        after = [submit_order(external_id=f"WEB-{i}") for i in range(5)]
        for command in after:
            await asyncio.wait_for(gateway.submit(command), 30)
    finally:
        await publisher.stop()
    records = await read_topic(kafka_bootstrap, topic, until=lambda rs: len(rs) >= 5)
    assert sorted(r.key for r in records) == sorted(str(c.order_id).encode() for c in after)
