"""The plain consumer preparing a batch while the one before it finishes (hub.streaming.overlap),
on the real broker: every record handled in order, a failed finish read again, never skipped,
and only finished batches committed."""

import asyncio
from collections.abc import Sequence
from pathlib import Path
from typing import Any

import pytest
from aiokafka import TopicPartition

from connectors.consumed import ConsumedMessage
from hub.streaming import plain_batches
from hub.streaming.overlap import Finish
from hub.streaming.plain_batches import PlainBatchConsumer, committed_offsets
from tests.integration.test_plain_batches_kafka import read_until, settings_for, topic_with

pytestmark = [pytest.mark.kafka]


class Preparing:
    """Notes each batch's offsets when prepared and when finished; the first finish fails."""

    def __init__(self) -> None:
        self.prepared: list[list[int]] = []
        self.finished: list[list[int]] = []
        self.failed = False

    async def handle(self, messages: Sequence[ConsumedMessage]) -> None:
        await (await self.prepare(messages))()

    async def prepare(self, messages: Sequence[ConsumedMessage]) -> Finish:
        offsets = [m.offset for m in messages]
        self.prepared.append(offsets)

        async def finish() -> None:
            if not self.failed:
                self.failed = True
                raise RuntimeError("the store failed")
            self.finished.append(offsets)

        return finish

    def offsets(self) -> list[int]:
        return [offset for batch in self.finished for offset in batch]


@pytest.mark.asyncio
async def test_a_failed_finish_is_read_again_and_only_finished_batches_are_committed(
    tmp_path: Path, kafka_bootstrap: str
) -> None:
    topic = await topic_with(kafka_bootstrap, [b"%d" % n for n in range(7)])
    settings = settings_for(tmp_path, kafka_bootstrap)
    handler = Preparing()
    reader = PlainBatchConsumer(
        settings, [topic], f"{topic}.group", handler, batch_size=3, overlap=True
    )

    await read_until(reader, lambda: handler.offsets()[-1:] == [6])

    # Each record finished once, in order: the failed batch and the one prepared after it were
    # read again from their first record.
    assert handler.offsets() == list(range(7))
    assert handler.prepared[0] == [0, 1, 2]
    assert [0, 1, 2] in handler.prepared[1:]
    committed = await committed_offsets(settings, f"{topic}.group")
    assert committed == {TopicPartition(topic, 0): 7}


class Saving:
    """Saves each record once by its offset (as the intake by order id), counting the saves."""

    def __init__(self) -> None:
        self.saves: dict[int, int] = {}

    async def handle(self, messages: Sequence[ConsumedMessage]) -> None:
        await (await self.prepare(messages))()

    async def prepare(self, messages: Sequence[ConsumedMessage]) -> Finish:
        offsets = [m.offset for m in messages]

        async def finish() -> None:
            for offset in offsets:
                self.saves[offset] = self.saves.get(offset, 0) + 1

        return finish


@pytest.mark.asyncio
async def test_a_crash_after_the_saves_before_their_commit_reads_them_again(
    tmp_path: Path, kafka_bootstrap: str, monkeypatch: pytest.MonkeyPatch
) -> None:
    # The offsets' commit now goes beside the loop (hub.streaming.commits): a consumer gone
    # before any commit was answered leaves its saved batches uncommitted, read again whole.
    topic = await topic_with(kafka_bootstrap, [b"%d" % n for n in range(7)])
    settings = settings_for(tmp_path, kafka_bootstrap)
    group = f"{topic}.group"
    handler = Saving()
    crashing = PlainBatchConsumer(settings, [topic], group, handler, batch_size=3, overlap=True)

    async def never_answered(kafka: Any) -> None:
        await asyncio.Event().wait()

    monkeypatch.setattr(crashing.commits, "commit", never_answered)
    monkeypatch.setattr(plain_batches, "COMMIT_ON_STOP_SECONDS", 0.1)
    await read_until(crashing, lambda: len(handler.saves) == 7)
    assert await committed_offsets(settings, group) == {}

    again = PlainBatchConsumer(settings, [topic], group, handler, batch_size=3, overlap=True)
    await read_until(again, lambda: set(handler.saves.values()) == {2})

    assert handler.saves == {n: 2 for n in range(7)}  # each saved again, none skipped
    assert await committed_offsets(settings, group) == {TopicPartition(topic, 0): 7}
