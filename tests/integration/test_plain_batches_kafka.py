"""The plain batch consumer (hub.streaming.plain_batches) on the real broker: offsets committed
only after the handler returned, a failed batch read again rather than skipped, and a group new
to it starting where the Faust group before it had committed."""

import asyncio
import uuid
from collections.abc import Callable, Sequence
from pathlib import Path

import pytest
from aiokafka import AIOKafkaConsumer, AIOKafkaProducer, TopicPartition

from connectors.consumed import ConsumedMessage
from connectors.topics import ensure_topics
from hub.settings import Settings
from hub.streaming.plain_batches import PlainBatchConsumer, committed_offsets

pytestmark = [pytest.mark.kafka]


async def topic_with(bootstrap: str, values: list[bytes]) -> str:
    topic = f"t{uuid.uuid4().hex[:8]}.orderhub.inventory.snapshots"
    await ensure_topics(bootstrap, {topic: 1})
    producer = AIOKafkaProducer(bootstrap_servers=bootstrap, acks="all", enable_idempotence=True)
    await producer.start()
    try:
        for value in values:
            await producer.send_and_wait(topic, value, key=b"wh-lyon")
    finally:
        await producer.stop()
    return topic


class Recording:
    """Keeps every batch it is handed; the first `failures` calls raise after keeping it."""

    def __init__(self, failures: int = 0) -> None:
        self.batches: list[list[int]] = []
        self.failures = failures

    async def handle(self, messages: Sequence[ConsumedMessage]) -> None:
        self.batches.append([m.offset for m in messages])
        if len(self.batches) <= self.failures:
            raise RuntimeError("the handler failed")

    def offsets(self) -> list[int]:
        return [offset for batch in self.batches for offset in batch]


async def read_until(reader: PlainBatchConsumer, enough: Callable[[], bool]) -> None:
    """Run the consumer until `enough` holds, then stop it as the worker's shutdown does."""
    task = asyncio.create_task(reader.run())
    try:
        async with asyncio.timeout(60):
            while not enough():
                await asyncio.sleep(0.05)
    finally:
        task.cancel()
        await asyncio.gather(task, return_exceptions=True)


def settings_for(tmp_path: Path, bootstrap: str) -> Settings:
    return Settings(_env_file=None, data_dir=tmp_path, kafka_bootstrap=bootstrap)  # type: ignore[call-arg]


@pytest.mark.asyncio
async def test_a_failed_batch_is_read_again_and_only_a_handled_batch_is_committed(
    tmp_path: Path, kafka_bootstrap: str
) -> None:
    topic = await topic_with(kafka_bootstrap, [b"a", b"b", b"c"])
    settings = settings_for(tmp_path, kafka_bootstrap)
    handler = Recording(failures=1)
    reader = PlainBatchConsumer(settings, [topic], f"{topic}.group", handler, batch_size=500)

    await read_until(
        reader, lambda: reader.batches >= 1 and sorted(set(handler.offsets())) == [0, 1, 2]
    )

    # Every record handed over again after the failure, none skipped, in partition order.
    assert handler.batches[0] == sorted(handler.batches[0])
    assert sorted(set(handler.offsets()[len(handler.batches[0]) :])) == [0, 1, 2]
    committed = await committed_offsets(settings, f"{topic}.group")
    assert committed == {TopicPartition(topic, 0): 3}


@pytest.mark.asyncio
async def test_a_new_group_starts_where_the_group_before_it_committed(
    tmp_path: Path, kafka_bootstrap: str
) -> None:
    topic = await topic_with(kafka_bootstrap, [b"a", b"b", b"c", b"d", b"e"])
    before = f"{topic}.faust"
    faust = AIOKafkaConsumer(
        bootstrap_servers=kafka_bootstrap, group_id=before, enable_auto_commit=False
    )
    faust.assign([TopicPartition(topic, 0)])
    await faust.start()
    try:
        await faust.commit({TopicPartition(topic, 0): 3})  # the Faust agent had read a, b, c
    finally:
        await faust.stop()
    settings = settings_for(tmp_path, kafka_bootstrap)
    handler = Recording()
    reader = PlainBatchConsumer(
        settings, [topic], f"{topic}.plain", handler, batch_size=500, resume_from=before
    )

    await read_until(reader, lambda: 4 in handler.offsets())

    assert handler.offsets() == [3, 4]


@pytest.mark.asyncio
async def test_handled_batches_are_committed_together_soon_after_and_on_stop(
    tmp_path: Path, kafka_bootstrap: str
) -> None:
    settings = settings_for(tmp_path, kafka_bootstrap)
    # Held back for a minute: nothing is committed while it runs; a stop commits what was handled.
    held = await topic_with(kafka_bootstrap, [b"a", b"b", b"c"])
    handler = Recording()
    reader = PlainBatchConsumer(
        settings, [held], f"{held}.group", handler, batch_size=500, commit_every=60.0
    )
    task = asyncio.create_task(reader.run())
    try:
        async with asyncio.timeout(60):
            while handler.offsets() != [0, 1, 2]:
                await asyncio.sleep(0.05)
        await asyncio.sleep(0.5)
        assert await committed_offsets(settings, f"{held}.group") == {}
    finally:
        task.cancel()
        await asyncio.gather(task, return_exceptions=True)
    assert await committed_offsets(settings, f"{held}.group") == {TopicPartition(held, 0): 3}

    # The setting's default: committed within a fraction of a second while it runs on.
    soon = await topic_with(kafka_bootstrap, [b"d", b"e"])
    reader = PlainBatchConsumer(settings, [soon], f"{soon}.group", Recording(), batch_size=500)
    assert 0 < reader.commit_every < 1
    task = asyncio.create_task(reader.run())
    try:
        async with asyncio.timeout(60):
            while await committed_offsets(settings, f"{soon}.group") != {
                TopicPartition(soon, 0): 2
            }:
                await asyncio.sleep(0.1)
        assert not task.done()
    finally:
        task.cancel()
        await asyncio.gather(task, return_exceptions=True)
