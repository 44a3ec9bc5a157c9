"""A consumed batch prepared while the one before it finishes (hub.streaming.overlap): the
finishes one after the other in the order read, a batch marked handled only once finished, a
failed batch and the one prepared after it read again from their first records."""

import asyncio
from collections.abc import Sequence
from pathlib import Path
from typing import Any

import pytest
from aiokafka import TopicPartition

from connectors.consumed import ConsumedMessage
from hub.settings import Settings
from hub.streaming.overlap import Finish, Overlap
from hub.streaming.plain_batches import PlainBatchConsumer
from tests.unit.test_plain_batch_window import OTHER, TP, Record


class Seeks:
    def __init__(self) -> None:
        self.seeks: dict[TopicPartition, int] = {}

    def seek(self, tp: TopicPartition, offset: int) -> None:
        self.seeks[tp] = offset


class Steps:
    """Prepares and finishes batches, noting each step; a finish waits until released."""

    def __init__(self, failing_finish: int | None = None, failing_prepare: int | None = None):
        self.log: list[str] = []
        self.release: dict[int, asyncio.Event] = {}
        self.failing_finish = failing_finish
        self.failing_prepare = failing_prepare
        self.running = 0

    async def handle(self, messages: Sequence[ConsumedMessage]) -> None:
        await (await self.prepare(messages))()

    async def prepare(self, messages: Sequence[ConsumedMessage]) -> Finish:
        n = messages[0].offset
        self.log.append(f"prepare {n}")
        if n == self.failing_prepare:
            raise RuntimeError("parser down")
        self.release[n] = asyncio.Event()

        async def finish() -> None:
            self.running += 1
            assert self.running == 1, "two batches finishing at once"
            self.log.append(f"finish {n}")
            await self.release[n].wait()
            self.running -= 1
            if n == self.failing_finish:
                raise RuntimeError("store down")
            self.log.append(f"finished {n}")

        return finish


def batch(first: int, tp: TopicPartition = TP) -> tuple[dict[TopicPartition, list[Any]], list[Any]]:
    records = [Record(first), Record(first + 1)]
    messages = [ConsumedMessage(tp.topic, tp.partition, r.offset, None, b"") for r in records]
    return {tp: records}, messages


def overlap(steps: Steps, handled: list[int], paused: list[bool]) -> Overlap:
    async def done(fetched: dict[TopicPartition, list[Any]]) -> None:
        handled.extend(r.offset for records in fetched.values() for r in records)

    async def pause() -> None:
        paused.append(True)

    return Overlap(steps, "g", done, pause)


@pytest.mark.asyncio
async def test_the_next_batch_is_prepared_while_the_one_before_finishes_in_order() -> None:
    steps, handled, paused, kafka = Steps(), [], [], Seeks()
    o = overlap(steps, handled, paused)

    await o.take(kafka, *batch(0))  # type: ignore[arg-type]
    await asyncio.sleep(0)
    second = asyncio.create_task(o.take(kafka, *batch(2)))  # type: ignore[arg-type]
    await asyncio.sleep(0.01)

    # The second is prepared while the first is still finishing, and waits for it.
    assert steps.log == ["prepare 0", "finish 0", "prepare 2"]
    assert handled == [] and not second.done()
    steps.release[0].set()
    await second
    assert handled == [0, 1]  # the first marked once it finished; the second not yet
    steps.release[2].set()
    await o.settle(kafka)  # type: ignore[arg-type]
    assert handled == [0, 1, 2, 3]
    assert steps.log == [
        "prepare 0",
        "finish 0",
        "prepare 2",
        "finished 0",
        "finish 2",
        "finished 2",
    ]
    assert kafka.seeks == {} and paused == []


@pytest.mark.asyncio
async def test_a_batch_starts_finishing_before_take_returns() -> None:
    # Draining a backlog, nothing between two takes waits (the fetch comes from the consumer's
    # buffer, the preparation does not wait): a finish started only at the loop's next wait
    # ran after the next batch's preparation, not beside it.
    steps, handled, paused, kafka = Steps(), [], [], Seeks()
    o = overlap(steps, handled, paused)

    await o.take(kafka, *batch(0))  # type: ignore[arg-type]

    assert steps.log == ["prepare 0", "finish 0"]
    steps.release[0].set()
    await o.settle(kafka)  # type: ignore[arg-type]
    assert handled == [0, 1]


async def two_batches(steps: Steps, first: Any, second: Any) -> tuple[list[int], list[bool], Seeks]:
    """The first batch taken and let finish, then the second taken."""
    handled: list[int] = []
    paused: list[bool] = []
    kafka = Seeks()
    o = overlap(steps, handled, paused)
    await o.take(kafka, *first)  # type: ignore[arg-type]
    steps.release[first[1][0].offset].set()
    await o.take(kafka, *second)  # type: ignore[arg-type]
    assert o.finished or handled
    return handled, paused, kafka


@pytest.mark.asyncio
async def test_a_failed_batch_and_the_one_prepared_after_it_are_read_again() -> None:
    steps = Steps(failing_finish=5)

    handled, paused, kafka = await two_batches(steps, batch(5), batch(0, OTHER))

    assert handled == [] and paused == [True]
    assert kafka.seeks == {TP: 5, OTHER: 0}
    assert "finish 0" not in steps.log  # never started: it is read again after the failed one


@pytest.mark.asyncio
async def test_a_batch_that_fails_to_prepare_is_read_again_after_the_one_before_finished() -> None:
    handled, paused, kafka = await two_batches(Steps(failing_prepare=2), batch(0), batch(2))

    assert handled == [0, 1]
    assert kafka.seeks == {TP: 2} and paused == [True]


@pytest.mark.asyncio
@pytest.mark.parametrize(("finishes_after", "marked"), [(0.05, [0, 1]), (5.0, [])])
async def test_a_stop_gives_the_batch_being_finished_a_while_to_finish_and_be_marked(
    finishes_after: float, marked: list[int]
) -> None:
    steps, handled, paused, kafka = Steps(), [], [], Seeks()
    o = overlap(steps, handled, paused)
    await o.take(kafka, *batch(0))  # type: ignore[arg-type]
    asyncio.get_running_loop().call_later(finishes_after, steps.release[0].set)

    await o.stop(kafka, 0.5)  # type: ignore[arg-type]

    assert handled == marked and o.finished


@pytest.mark.asyncio
async def test_a_consumer_finishing_a_batch_looks_again_soon_to_mark_it(tmp_path: Path) -> None:
    steps = Steps()
    settings = Settings(data_dir=tmp_path, kafka_bootstrap="127.0.0.1:1")
    reader = PlainBatchConsumer(settings, [TP.topic], "g", steps, 500, early=True, overlap=True)
    assert reader.overlap is not None
    idle = reader._fetch_wait(0.0, None)

    await reader.overlap.take(Seeks(), *batch(0))  # type: ignore[arg-type]

    # Idle, a fetch waits up to a second; while a batch is finishing, a hundredth.
    assert idle == 1.0
    assert reader._fetch_wait(0.0, None) <= 0.01
    steps.release[0].set()
    await asyncio.sleep(0)
    assert reader._fetch_wait(0.0, None) == 1.0
