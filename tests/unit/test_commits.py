"""A plain consumer's commits sent off its loop (hub.streaming.commits): the loop does not wait
for a commit's answer, one commit at a time with offsets only moving forward, only handled
batches' offsets, and a stop waits for the commit in flight before the last one."""

import asyncio
from pathlib import Path
from typing import Any, NamedTuple

import pytest
from aiokafka import TopicPartition
from aiokafka.errors import CommitFailedError

from hub.settings import Settings
from hub.streaming.commits import Commits
from hub.streaming.plain_batches import PlainBatchConsumer

TP = TopicPartition("t", 0)
GONE = TopicPartition("t", 1)


class Broker:
    """A consumer's commits: each waits until answered (`answer`), noted when sent."""

    def __init__(self, fail: BaseException | None = None) -> None:
        self.sent: list[dict[TopicPartition, int]] = []
        self.committed: dict[TopicPartition, int] = {}
        self.answers: list[asyncio.Event] = []
        self.fail = fail

    def assignment(self) -> set[TopicPartition]:
        return {TP}

    async def commit(self, offsets: dict[TopicPartition, int]) -> None:
        self.sent.append(dict(offsets))
        answered = asyncio.Event()
        self.answers.append(answered)
        await answered.wait()
        if self.fail is not None:
            raise self.fail
        self.committed.update(offsets)

    def answer(self) -> None:
        for answered in self.answers:
            answered.set()


@pytest.mark.asyncio
async def test_a_due_commit_is_sent_without_waiting_for_its_answer_one_at_a_time() -> None:
    commits, broker = Commits("g", 0.2), Broker()
    commits.handled({TP: 3, GONE: 5}, now=0.0)
    commits.send_if_due(broker, now=0.1)
    await asyncio.sleep(0)
    assert broker.sent == []  # not due yet

    commits.send_if_due(broker, now=0.2)
    await asyncio.sleep(0)
    assert broker.sent == [{TP: 3}]  # sent (a partition no longer held left out), unanswered
    commits.handled({TP: 6}, now=0.3)
    commits.send_if_due(broker, now=0.6)
    await asyncio.sleep(0)
    assert broker.sent == [{TP: 3}]  # the one before is still being answered
    assert 0 < commits.wait(0.6) < 0.01

    broker.answer()
    await asyncio.sleep(0)
    commits.send_if_due(broker, now=0.7)
    await asyncio.sleep(0)
    broker.answer()
    await commits.flush(broker)
    assert broker.sent == [{TP: 3}, {TP: 6}] and broker.committed == {TP: 6}
    assert not commits.waiting and commits.wait(1.0) == 1.0


@pytest.mark.asyncio
async def test_a_stop_waits_for_the_commit_in_flight_then_commits_the_rest() -> None:
    commits, broker = Commits("g", 0.0), Broker()
    commits.handled({TP: 3}, now=0.0)
    commits.send_if_due(broker, now=0.0)
    await asyncio.sleep(0)
    commits.handled({TP: 9}, now=0.0)

    stopping = asyncio.create_task(commits.flush(broker))
    await asyncio.sleep(0.01)
    assert not stopping.done() and broker.sent == [{TP: 3}]
    broker.answer()
    await asyncio.sleep(0.01)
    broker.answer()
    await stopping

    assert broker.sent == [{TP: 3}, {TP: 9}] and broker.committed == {TP: 9}


async def answered_with(failure: BaseException) -> tuple[Commits, Broker]:
    """A commit of offset 3 sent and answered with `failure`."""
    commits, broker = Commits("g", 0.0), Broker(fail=failure)
    commits.handled({TP: 3}, now=0.0)
    commits.send_if_due(broker, now=0.0)
    await asyncio.sleep(0)
    broker.answer()
    await asyncio.sleep(0)
    return commits, broker


@pytest.mark.asyncio
async def test_a_commit_refused_by_a_rebalance_is_dropped_any_other_failure_fails_the_loop() -> (
    None
):
    refused, broker = await answered_with(CommitFailedError("rebalanced"))
    await refused.flush(broker)
    assert broker.committed == {}  # the batches are read again by the partition's new owner

    failing, broken = await answered_with(RuntimeError("client bug"))
    failing.handled({TP: 6}, now=1.0)
    with pytest.raises(RuntimeError, match="client bug"):
        failing.send_if_due(broken, now=1.0)


class Record(NamedTuple):
    topic: str
    partition: int
    offset: int
    key: bytes | None = None
    value: bytes = b""
    headers: tuple[tuple[str, bytes], ...] = ()


class Failing:
    """A consumer of one batch whose commits fail otherwise than by a rebalance."""

    def __init__(self) -> None:
        self.fetches = 0
        self.stopped = False

    def subscribe(self, topics: list[str]) -> None: ...

    async def start(self) -> None: ...

    def assignment(self) -> set[TopicPartition]:
        return {TP}

    async def getmany(self, timeout_ms: int, max_records: int) -> dict[TopicPartition, Any]:
        self.fetches += 1
        if self.fetches == 1:
            return {TP: [Record(TP.topic, TP.partition, 0)]}
        await asyncio.sleep(timeout_ms / 1000)
        return {}

    async def commit(self, offsets: dict[TopicPartition, int]) -> None:
        raise RuntimeError("client bug")

    async def stop(self) -> None:
        self.stopped = True


class Nothing:
    async def handle(self, messages: Any) -> None: ...


@pytest.mark.asyncio
async def test_a_consumer_whose_commit_failed_in_flight_still_stops_its_client(
    tmp_path: Path,
) -> None:
    settings = Settings(data_dir=tmp_path, kafka_bootstrap="127.0.0.1:1")
    reader = PlainBatchConsumer(settings, ["t"], "g", Nothing(), 500, commit_every=0.001)
    kafka = Failing()
    reader.consumer = lambda: kafka  # type: ignore[method-assign]
    running = asyncio.create_task(reader.run_once())
    async with asyncio.timeout(5):
        while kafka.fetches < 3 and not running.done():
            await asyncio.sleep(0.01)  # the commit was sent, and failed, beside the loop

    running.cancel()
    await asyncio.gather(running, return_exceptions=True)

    assert kafka.stopped
