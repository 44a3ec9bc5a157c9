"""A plain consumer's batch window (hub.streaming.plain_batches): topped up with what arrives
within it, each partition kept in its order, even when a rebalance within the window has the
partition read again from its committed offset."""

import asyncio
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import pytest
from aiokafka import TopicPartition

from connectors.consumed import ConsumedMessage
from hub.settings import Settings
from hub.streaming.plain_batches import PlainBatchConsumer

TP = TopicPartition("t.orderhub.orders.events", 0)
OTHER = TopicPartition("t.orderhub.orders.events", 1)


@dataclass
class Record:
    offset: int


class Scripted:
    """A consumer whose `getmany` answers what it was given, then nothing."""

    def __init__(self, *answers: dict[TopicPartition, list[Record]]) -> None:
        self.answers = list(answers)
        self.calls = 0

    async def getmany(self, timeout_ms: int, max_records: int) -> dict[TopicPartition, Any]:
        self.calls += 1
        return self.answers.pop(0) if self.answers else {}


class Nothing:
    async def handle(self, messages: list[ConsumedMessage]) -> None:
        pass


def reader(tmp_path: Path, batch_size: int, window: float) -> PlainBatchConsumer:
    settings = Settings(data_dir=tmp_path, kafka_bootstrap="127.0.0.1:1")
    return PlainBatchConsumer(
        settings, [TP.topic], "g", Nothing(), batch_size, window=window, window_at_broker=False
    )


def offsets(fetched: dict[TopicPartition, list[Record]]) -> dict[TopicPartition, list[int]]:
    return {tp: [r.offset for r in records] for tp, records in fetched.items()}


@pytest.mark.asyncio
async def test_a_batch_is_topped_up_within_its_window_partition_by_partition_in_order(
    tmp_path: Path,
) -> None:
    kafka = Scripted({TP: [Record(2)], OTHER: [Record(7)]}, {TP: [Record(3), Record(4)]})
    first = {TP: [Record(0), Record(1)]}

    filled = await reader(tmp_path, 6, 0.5)._filled(kafka, first)  # type: ignore[arg-type]

    assert offsets(filled) == {TP: [0, 1, 2, 3, 4], OTHER: [7]}


@pytest.mark.asyncio
async def test_a_partition_read_again_within_the_window_goes_on_from_the_new_read_only(
    tmp_path: Path,
) -> None:
    # Offsets 10 and 11 were not committed; a rebalance gave the partition back, read again
    # from its committed offset 8: handing over 10, 11, 8, 9, ... would apply 8 after 11.
    kafka = Scripted({TP: [Record(8), Record(9), Record(10)]}, {TP: [Record(11)]})
    first = {TP: [Record(10), Record(11)]}

    filled = await reader(tmp_path, 4, 0.5)._filled(kafka, first)  # type: ignore[arg-type]

    assert offsets(filled) == {TP: [8, 9, 10, 11]}


@pytest.mark.asyncio
async def test_without_a_window_a_batch_is_what_one_fetch_returned(tmp_path: Path) -> None:
    kafka = Scripted({TP: [Record(1)]})

    filled = await reader(tmp_path, 500, 0.0)._filled(kafka, {TP: [Record(0)]})  # type: ignore[arg-type]

    assert offsets(filled) == {TP: [0]} and kafka.calls == 0


def early_reader(tmp_path: Path, batch_size: int, window: float) -> PlainBatchConsumer:
    settings = Settings(data_dir=tmp_path, kafka_bootstrap="127.0.0.1:1")
    return PlainBatchConsumer(
        settings, [TP.topic], "g", Nothing(), batch_size, window=window, early=True
    )


@pytest.mark.asyncio
async def test_closing_early_a_short_fetch_is_handed_over_at_once(tmp_path: Path) -> None:
    # A fetch short of the batch took all the fetcher held: waiting out the window (here 10 s)
    # would only delay the lone record.
    kafka = Scripted({TP: [Record(1)]})

    filled = await early_reader(tmp_path, 500, 10.0)._filled(kafka, {TP: [Record(0)]})  # type: ignore[arg-type]

    assert offsets(filled) == {TP: [0]} and kafka.calls == 0


class Backlog:
    """A partition with `records` waiting: each `getmany` answers up to `max_records` of them."""

    def __init__(self, records: int) -> None:
        self.next = 0
        self.end = records
        self.calls = 0

    async def getmany(self, timeout_ms: int, max_records: int) -> dict[TopicPartition, Any]:
        self.calls += 1
        taken = range(self.next, min(self.end, self.next + max_records))
        self.next = taken.stop
        return {TP: [Record(o) for o in taken]} if taken else {}


@pytest.mark.asyncio
async def test_closing_early_a_backlog_still_comes_in_full_batches(tmp_path: Path) -> None:
    kafka = Backlog(1_250)
    consumer = early_reader(tmp_path, 500, 10.0)
    batches = []
    while fetched := await kafka.getmany(timeout_ms=1000, max_records=consumer.batch_size):
        batches.append(await consumer._filled(kafka, fetched))  # type: ignore[arg-type]

    assert [len(b[TP]) for b in batches] == [500, 500, 250]
    assert [b[TP][0].offset for b in batches] == [0, 500, 1000]


class Trickle:
    """One record every `every` seconds, for ever."""

    def __init__(self, every: float) -> None:
        self.every = every
        self.next = 1

    async def getmany(self, timeout_ms: int, max_records: int) -> dict[TopicPartition, Any]:
        await asyncio.sleep(min(self.every, timeout_ms / 1000))
        if timeout_ms / 1000 < self.every:
            return {}
        self.next += 1
        return {TP: [Record(self.next - 1)]}


@pytest.mark.asyncio
async def test_without_closing_early_the_window_still_bounds_the_wait(tmp_path: Path) -> None:
    kafka = Trickle(0.01)
    loop = asyncio.get_running_loop()
    start = loop.time()

    filled = await reader(tmp_path, 500, 0.1)._filled(kafka, {TP: [Record(0)]})  # type: ignore[arg-type]

    waited = loop.time() - start
    assert 0.09 <= waited < 0.3
    assert 5 <= len(filled[TP]) <= 11


@pytest.mark.asyncio
async def test_with_the_window_at_the_broker_a_fetch_is_the_batch_and_the_broker_holds_it(
    tmp_path: Path,
) -> None:
    settings = Settings(data_dir=tmp_path, kafka_bootstrap="127.0.0.1:1")
    window = PlainBatchConsumer(settings, [TP.topic], "g", Nothing(), 500, window=0.05)
    assert window.window_at_broker  # the setting's default
    first = {TP: [Record(0), Record(1)]}
    more = Scripted({TP: [Record(2)]})

    assert offsets(await window._filled(more, first)) == {TP: [0, 1]}  # type: ignore[arg-type]
    assert more.calls == 0  # not topped up: the broker waited out the window

    kafka = window.consumer()
    assert (kafka._fetch_max_wait_ms, kafka._fetch_min_bytes) == (50, 1_048_576)
    # Closing early, the broker answers at once, as before.
    early = PlainBatchConsumer(settings, [TP.topic], "g", Nothing(), 500, window=0.05, early=True)
    assert not early.window_at_broker
    assert early.consumer()._fetch_min_bytes == 1


class Preparing(Nothing):
    async def prepare(self, messages: list[ConsumedMessage]) -> Any:
        return lambda: asyncio.sleep(0)


@pytest.mark.asyncio
async def test_a_consumer_whose_batches_overlap_their_saves_fetches_four_mb_a_partition(
    tmp_path: Path,
) -> None:
    """Draining a backlog it takes a batch as it came: a larger fetch per partition leaves
    aiokafka's buffer holding only a partition's tail (a short batch, a save for fewer
    records) less often. The other consumers keep aiokafka's 1 MB."""
    settings = Settings(data_dir=tmp_path, kafka_bootstrap="127.0.0.1:1")
    overlapping = PlainBatchConsumer(
        settings, [TP.topic], "g", Preparing(), 500, window=0.05, early=True, overlap=True
    )
    assert overlapping.overlap is not None
    assert overlapping.consumer()._max_partition_fetch_bytes == 4 * 1024 * 1024
    plain = PlainBatchConsumer(settings, [TP.topic], "g", Nothing(), 500, window=0.05)
    assert plain.consumer()._max_partition_fetch_bytes == 1024 * 1024
