"""The relay's batched produce against a real broker: each key's records in order, in the
partition `send()` chose for it, batches that fill up, two topics in one call, and the
relay's saved position moving only with what the broker acknowledged."""

import asyncio
from collections import defaultdict
from pathlib import Path

import pytest
from aiokafka.errors import KafkaConnectionError

from connectors.codec import OutboundRecord, record_to_envelope
from connectors.publisher import KafkaPublisher
from connectors.topics import ensure_topics
from hub.bootstrap import bootstrap
from hub.settings import Settings
from hub.streaming.relay import build_relay
from tests.integration.test_relay_kafka import _commands
from tests.support.kafka import read_topic

pytestmark = [pytest.mark.kafka]


def _records(topic: str, keys: int, per_key: int, size: int) -> list[OutboundRecord]:
    """Keys interleaved, as an event log interleaves orders; `seq` counts per key."""
    return [
        OutboundRecord(
            topic=topic,
            key=f"key-{k}".encode(),
            value=bytes([65 + k % 26]) * size,
            headers=(("seq", str(n).encode()), ("key", f"key-{k}".encode())),
        )
        for n in range(per_key)
        for k in range(keys)
    ]


@pytest.mark.asyncio
async def test_whole_batches_keep_each_keys_order_and_partition_across_full_batches(
    kafka_bootstrap: str, kafka_topic_prefix: str
) -> None:
    batched, single = f"{kafka_topic_prefix}batched", f"{kafka_topic_prefix}single"
    await ensure_topics(kafka_bootstrap, {batched: 3, single: 3})
    # 12 keys x 150 records x 2 KB = 3.6 MB over 3 partitions: each partition's records fill
    # a 1 MB batch at least once, so one call queues several batches per partition.
    records = _records(batched, keys=12, per_key=150, size=2048)
    per_send = _records(single, keys=12, per_key=2, size=10)
    whole = KafkaPublisher(kafka_bootstrap, whole_batches=True)
    one_by_one = KafkaPublisher(kafka_bootstrap)
    try:
        await whole.publish(records[:900])
        await whole.publish(records[900:])
        await one_by_one.publish(per_send)
    finally:
        await whole.stop()
        await one_by_one.stop()

    got = await read_topic(kafka_bootstrap, batched, until=lambda rs: len(rs) >= len(records))
    assert len(got) == len(records), "each record once"
    sequences: dict[bytes, list[int]] = defaultdict(list)
    partition_of: dict[bytes, set[int]] = defaultdict(set)
    for r in sorted(got, key=lambda r: (r.partition, r.offset)):
        headers = dict(r.headers)
        assert r.key == headers["key"]
        assert r.value == records[int(headers["seq"]) * 12 + int(r.key[4:])].value
        sequences[r.key].append(int(headers["seq"]))
        partition_of[r.key].add(r.partition)
    assert all(seqs == list(range(150)) for seqs in sequences.values()), "order kept per key"
    assert all(len(p) == 1 for p in partition_of.values())
    assert len({p for ps in partition_of.values() for p in ps}) == 3

    # The same keys go to the same partitions as record by record (a relay upgraded while
    # an order is half published keeps that order's events in one partition).
    sent = await read_topic(kafka_bootstrap, single, until=lambda rs: len(rs) >= len(per_send))
    assert {r.key: {r.partition} for r in sent} == dict(partition_of)


@pytest.mark.asyncio
async def test_the_relay_on_whole_batches_saves_only_what_was_acknowledged(
    database_url: str, kafka_bootstrap: str, kafka_topic_prefix: str, tmp_path: Path
) -> None:
    settings = Settings(
        database_url=database_url,
        kafka_bootstrap=kafka_bootstrap,
        topic_prefix=kafka_topic_prefix,
        topic_partitions=3,
        data_dir=tmp_path / "data",
        relay_batch_size=35,
        relay_save_seconds=0.0,  # saved after each batch, to see each acknowledgement's
    )
    orders, inventory = settings.topic("order_events"), settings.topic("inventory_events")
    await ensure_topics(kafka_bootstrap, {orders: 3, inventory: 3})
    hub = bootstrap(settings)
    hub.intake.place_orders(_commands(60))
    total = hub.store.max_position()
    # A broker that does not answer: the batch fails and the saved position stays.
    unreachable = KafkaPublisher("127.0.0.1:9", whole_batches=True)
    relay = build_relay(hub, unreachable)
    with pytest.raises(KafkaConnectionError):
        await asyncio.wait_for(relay.publish_next_batch(), timeout=20)
    assert hub.relay_positions().get("notification_log") is None

    publisher = KafkaPublisher(kafka_bootstrap, whole_batches=True)
    relay = build_relay(hub, publisher)
    batches = []
    try:
        while sent := await relay.publish_next_batch():
            batches.append(sent)
            assert hub.relay_positions().get("notification_log") == sum(batches)
    finally:
        await publisher.stop()
    assert batches == [35, 35, 35, 15]
    got = await read_topic(kafka_bootstrap, orders, until=lambda rs: len(rs) >= total)
    by_order: dict[str, list[int]] = defaultdict(list)
    for r in sorted(got, key=lambda r: (r.partition, r.offset)):
        envelope = record_to_envelope(r.key, r.value, r.headers)
        by_order[envelope.subject].append(envelope.sequence)
    assert len(got) == total == 120
    assert all(seqs == [1, 2] for seqs in by_order.values())
    hub.close()
