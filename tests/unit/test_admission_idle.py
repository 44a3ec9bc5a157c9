"""Admission control's looks while the hub is idle (hub.api.admission.Admission.run): every
`interval` while anything waits, once every IDLE_SAMPLE_SECONDS while nothing does and no capture
came, and at once when a capture comes into this process."""

import asyncio
from collections.abc import Sequence

import pytest

from hub.api.admission import IDLE_SAMPLE_SECONDS, Admission, Queue, StageLag
from hub.api.admission_inflight import CaptureCount


class Looks:
    def __init__(self, waiting: int) -> None:
        self.waiting = waiting
        self.count = 0

    async def __call__(self) -> Sequence[Queue]:
        self.count += 1
        return [Queue({"p": 10 + self.waiting}, {"p": 10})]


async def running(admission: Admission, seconds: float) -> None:
    task = asyncio.create_task(admission.run())
    await asyncio.sleep(seconds)
    task.cancel()
    await asyncio.gather(task, return_exceptions=True)


@pytest.mark.asyncio
async def test_idle_it_looks_seldom_and_at_once_when_a_capture_comes() -> None:
    assert IDLE_SAMPLE_SECONDS >= 0.5
    looks, captures = Looks(waiting=0), CaptureCount()
    admission = Admission(looks, max_lag=5.0, interval=0.02, max_retry=30, captures=captures)
    task = asyncio.create_task(admission.run())
    try:
        await asyncio.sleep(0.3)
        assert looks.count == 1  # at 0.02 s it would have looked ~15 times
        token = captures.begin()
        await asyncio.sleep(0.01)
        assert looks.count == 2  # the capture woke it
        await asyncio.sleep(0.1)
        assert looks.count >= 4  # a capture in flight waits: looked at every interval
        captures.end(token, captured=True)
    finally:
        task.cancel()
        await asyncio.gather(task, return_exceptions=True)


@pytest.mark.asyncio
async def test_a_stop_that_comes_with_a_capture_stops_it() -> None:
    # Python 3.11's `wait_for` returned the event's wait when a cancel came as it was set: the
    # looks went on after the API's stop had cancelled them.
    looks, captures = Looks(waiting=0), CaptureCount()
    admission = Admission(looks, max_lag=5.0, interval=0.02, max_retry=30, captures=captures)
    task = asyncio.create_task(admission.run())
    await asyncio.sleep(0.05)  # idle, waiting for a capture
    captures.arrived.set()
    task.cancel()
    done, _ = await asyncio.wait({task}, timeout=2 * IDLE_SAMPLE_SECONDS)
    assert task in done and task.cancelled()


@pytest.mark.asyncio
async def test_while_anything_waits_it_looks_every_interval() -> None:
    looks = Looks(waiting=3)
    admission = Admission(looks, 5.0, interval=0.02, max_retry=30, captures=CaptureCount())
    await running(admission, 0.3)
    assert looks.count >= 8


def test_looks_a_second_apart_while_idle_are_no_measure_of_a_stage() -> None:
    """Idle, a look a second apart; stock set meanwhile (3 events, routed at once), then a lone
    client's orders. The stretch in which routing took the stock events began with nothing
    waiting: counted as a second of work, routing would drain 3 events a second, and the client's
    next orders waiting at one look (3 events each) would be seconds of expected wait."""
    stage = StageLag()
    stage.observe(0.0, Queue({"log": 10}, {"log": 10}))
    # Woken by the client's first capture: the stock events were taken meanwhile.
    stage.observe(1.0, Queue({"log": 13}, {"log": 13}))
    lag = stage.observe(1.2, Queue({"log": 25}, {"log": 13}))  # 4 orders captured since
    assert lag.waiting == 12
    assert lag.drain_seconds == 0.0  # not known (was 4.0 s: 12 events at 3 a second)
