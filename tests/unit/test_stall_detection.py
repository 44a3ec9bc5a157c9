"""Stall detection: a consumer group with records waiting and no commit for too long is stalled;
an idle group, a busy one, and one Kafka does not answer for are not."""

import asyncio
from collections.abc import Iterable

import pytest

from connectors.lag import GroupLag
from hub.streaming.stall import ConsumerState, StallDetector
from hub.streaming.watchdog import ConsumerWatch

STALL_AFTER = 60.0


class FakeClock:
    def __init__(self) -> None:
        self.now = 1000.0

    def __call__(self) -> float:
        return self.now

    def advance(self, seconds: float) -> None:
        self.now += seconds


@pytest.fixture
def clock() -> FakeClock:
    return FakeClock()


@pytest.fixture
def detector(clock: FakeClock) -> StallDetector:
    return StallDetector("orderhub-orchestration", STALL_AFTER, clock)


def test_a_group_with_nothing_waiting_is_idle_however_long_it_does_not_commit(
    detector: StallDetector, clock: FakeClock
) -> None:
    for _ in range(100):
        detector.observe(lag=0, committed_total=500)
        clock.advance(10)
    assert detector.health().state is ConsumerState.IDLE


def test_lag_that_appears_after_idle_time_starts_the_clock_then(
    detector: StallDetector, clock: FakeClock
) -> None:
    detector.observe(lag=0, committed_total=500)
    clock.advance(3600)
    detector.observe(lag=40, committed_total=500)
    assert detector.health().state is ConsumerState.LAGGING
    clock.advance(STALL_AFTER - 1)
    detector.observe(lag=40, committed_total=500)
    assert not detector.health().stalled


def test_records_waiting_and_no_commit_for_the_limit_is_a_stall(
    detector: StallDetector, clock: FakeClock
) -> None:
    detector.observe(lag=40, committed_total=500)
    clock.advance(STALL_AFTER)
    detector.observe(lag=55, committed_total=500)
    health = detector.health()
    assert health.stalled
    assert health.lag == 55
    assert "no commit for 60s" in health.reason


def test_a_busy_group_that_keeps_committing_is_never_stalled(
    detector: StallDetector, clock: FakeClock
) -> None:
    committed = 0
    for _ in range(50):
        committed += 7
        detector.observe(lag=10_000, committed_total=committed)
        clock.advance(STALL_AFTER / 2)
        assert detector.health().state is ConsumerState.LAGGING


def test_a_stalled_group_that_commits_again_is_no_longer_stalled(
    detector: StallDetector, clock: FakeClock
) -> None:
    detector.observe(lag=40, committed_total=500)
    clock.advance(STALL_AFTER + 5)
    detector.observe(lag=40, committed_total=500)
    assert detector.health().stalled
    detector.observe(lag=20, committed_total=520)
    assert detector.health().state is ConsumerState.LAGGING


def test_a_rebalance_that_does_not_end_is_a_stall_even_without_lag_figures(
    detector: StallDetector, clock: FakeClock
) -> None:
    detector.rebalancing(True)
    clock.advance(STALL_AFTER - 1)
    detector.rebalancing(True)
    assert not detector.health().stalled
    clock.advance(1)
    assert detector.health().stalled
    assert "rebalancing" in detector.health().reason
    detector.rebalancing(False)
    assert not detector.health().stalled


def test_when_kafka_does_not_answer_the_state_is_unknown_not_stalled(
    detector: StallDetector, clock: FakeClock
) -> None:
    detector.observe(lag=40, committed_total=500)
    detector.probe_failed()
    clock.advance(STALL_AFTER * 10)
    detector.probe_failed()
    assert detector.health().state is ConsumerState.UNKNOWN


class FakeProbe:
    """Answers with the lag figures a test sets; fails when told to."""

    def __init__(self) -> None:
        self.figures: dict[str, tuple[int, int]] = {}
        self.failing = False

    async def group_lag(self, group: str, topics: Iterable[str]) -> GroupLag:
        if self.failing:
            raise ConnectionError("broker away")
        lag, committed = self.figures[group]
        return _lag(group, lag, committed)

    async def stop(self) -> None:
        pass


def _lag(group: str, lag: int, committed: int) -> GroupLag:
    from aiokafka import TopicPartition

    tp = TopicPartition("orderhub.orders.events", 0)
    return GroupLag(group, {tp: committed}, {tp: committed + lag})


def test_group_lag_sums_what_waits_beyond_the_committed_offsets() -> None:
    from aiokafka import TopicPartition

    a, b = TopicPartition("t", 0), TopicPartition("t", 1)
    lag = GroupLag("g", {a: 10, b: -1}, {a: 15, b: 7})
    assert lag.lag == 5 + 7
    assert lag.committed_total == 10


def test_the_watch_reports_only_the_group_that_stalls(clock: FakeClock) -> None:
    probe = FakeProbe()
    groups = {"hub-projections": ["e"], "hub-orchestration": ["e"]}
    watch = ConsumerWatch(probe, groups, STALL_AFTER, interval=5, clock=clock)  # type: ignore[arg-type]
    committed = 0
    for _ in range(20):
        committed += 3
        probe.figures = {"hub-projections": (9, committed), "hub-orchestration": (9, 100)}
        asyncio.run(watch.probe_once())
        clock.advance(5)
    assert [h.group for h in watch.stalled()] == ["hub-orchestration"]


def test_the_watch_calls_back_when_a_group_stalls(clock: FakeClock) -> None:
    probe = FakeProbe()
    probe.figures = {"hub-intake": (3, 100)}
    called: list[list[str]] = []

    def on_stall(stalled: list) -> None:  # type: ignore[type-arg]
        called.append([h.group for h in stalled])
        raise asyncio.CancelledError  # what exiting the process amounts to here

    watch = ConsumerWatch(probe, {"hub-intake": ["s"]}, STALL_AFTER, interval=0, clock=clock)  # type: ignore[arg-type]
    asyncio.run(watch.probe_once())
    clock.advance(STALL_AFTER)
    with pytest.raises(asyncio.CancelledError):
        asyncio.run(watch.run(on_stall))
    assert called == [["hub-intake"]]


def test_a_broker_outage_is_not_reported_as_a_stall(clock: FakeClock) -> None:
    probe = FakeProbe()
    probe.figures = {"hub-intake": (3, 100)}
    watch = ConsumerWatch(probe, {"hub-intake": ["s"]}, STALL_AFTER, interval=5, clock=clock)  # type: ignore[arg-type]
    asyncio.run(watch.probe_once())
    probe.failing = True
    clock.advance(STALL_AFTER * 3)
    asyncio.run(watch.probe_once())
    assert watch.stalled() == []
    assert watch.health()[0].state is ConsumerState.UNKNOWN
