"""A plain consumer's commits sent off its loop (hub.streaming.commits): the loop does not wait
for a commit's answer, one commit at a time with offsets only moving forward, only handled
batches' offsets, and a stop waits for the commit in flight before the last one."""

import asyncio

import pytest
from aiokafka import TopicPartition
from aiokafka.errors import CommitFailedError

from hub.streaming.commits import Commits

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
    commits.send_if_due(broker, now=0.1)  # type: ignore[arg-type]
    await asyncio.sleep(0)
    assert broker.sent == []  # not due yet

    commits.send_if_due(broker, now=0.2)  # type: ignore[arg-type]
    await asyncio.sleep(0)
    assert broker.sent == [{TP: 3}]  # sent (a partition no longer held left out), unanswered
    commits.handled({TP: 6}, now=0.3)
    commits.send_if_due(broker, now=0.6)  # type: ignore[arg-type]
    await asyncio.sleep(0)
    assert broker.sent == [{TP: 3}]  # the one before is still being answered
    assert 0 < commits.wait(0.6) < 0.01

    broker.answer()
    await asyncio.sleep(0)
    commits.send_if_due(broker, now=0.7)  # type: ignore[arg-type]
    await asyncio.sleep(0)
    broker.answer()
    await commits.flush(broker)  # type: ignore[arg-type]
    assert broker.sent == [{TP: 3}, {TP: 6}] and broker.committed == {TP: 6}
    assert not commits.waiting and commits.wait(1.0) == 1.0


@pytest.mark.asyncio
async def test_a_stop_waits_for_the_commit_in_flight_then_commits_the_rest() -> None:
    commits, broker = Commits("g", 0.0), Broker()
    commits.handled({TP: 3}, now=0.0)
    commits.send_if_due(broker, now=0.0)  # type: ignore[arg-type]
    await asyncio.sleep(0)
    commits.handled({TP: 9}, now=0.0)

    stopping = asyncio.create_task(commits.flush(broker))  # type: ignore[arg-type]
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
    commits.send_if_due(broker, now=0.0)  # type: ignore[arg-type]
    await asyncio.sleep(0)
    broker.answer()
    await asyncio.sleep(0)
    return commits, broker


@pytest.mark.asyncio
async def test_a_commit_refused_by_a_rebalance_is_dropped_any_other_failure_fails_the_loop() -> (
    None
):
    refused, broker = await answered_with(CommitFailedError("rebalanced"))
    await refused.flush(broker)  # type: ignore[arg-type]
    assert broker.committed == {}  # the batches are read again by the partition's new owner

    failing, broken = await answered_with(RuntimeError("client bug"))
    failing.handled({TP: 6}, now=1.0)
    with pytest.raises(RuntimeError, match="client bug"):
        failing.send_if_due(broken, now=1.0)  # type: ignore[arg-type]
