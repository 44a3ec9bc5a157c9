"""Admission control sheds on evidence that orders wait, not on a rate guessed from a few looks
(hub.api.admission.BusyRate). A lone client's captures drew 429s ("a new order would wait
4.4 s", the oldest 0.0 s) in tests/e2e/test_embedded_routing_process.py while nothing had
waited: reproduced there (5 runs of 10 on a079da9 with admission on), each time from a look
during the 20 captures made as the routing process had just started, its first pass slow: a
rate from the 2-3 events done before (the source and stock just set, in a stretch begun idle,
or its first order). The other cases: a stretch between two looks counted as the stage's work
though the stage had kept up."""

import asyncio
from collections.abc import Sequence

import pytest

from hub.api.admission import Admission, Queue, StageLag
from hub.api.admission_inflight import CaptureCount

LOOK = 0.2  # the sampler's interval
TICK = 0.01


def test_a_fresh_routing_process_first_order_is_no_rate() -> None:
    """The looks of a run of that test that failed (base a079da9, instrumented): the routing
    process just started, its first pass slow (its first order routed after ~0.4 s) while the
    lone client captured its 20 orders (44 events). The window then held two stretches: 0 done
    in 0.209 s, 2 done in 0.201 s, so 0.205 s an event and 44 waiting were 9.0 s: shed, the
    oldest 0.41 s. The next look found all 20 routed in one batch 60 ms later."""
    now = {"t": 0.0}
    looks = iter([(0.0, 110, 100), (0.209, 130, 100), (0.41, 146, 102), (0.61, 146, 146)])

    async def sample() -> Sequence[Queue]:
        now["t"], head, position = next(looks)
        return [Queue({"log": head}, {"log": position})]

    gate = Admission(sample, 5.0, LOOK, 30, clock=lambda: now["t"], captures=CaptureCount())
    verdicts = [asyncio.run(gate.sample_once()) for _ in range(4)]
    assert verdicts[2].waiting == 44 and verdicts[2].lag_seconds < 0.5
    assert not any(v.shed for v in verdicts), [v.expected_seconds for v in verdicts]


def test_a_look_held_up_by_a_slow_capture_is_no_queue() -> None:
    """The client's capture and the next look both held up 4.4 s (the store busy while the
    routing process starts again); the look then finds that capture answered and the client's
    next one begun. One capture in 4.4 s is its latency, not the rate captures drain at."""
    now = {"t": 0.0}
    count = CaptureCount(lambda: now["t"])

    async def nothing_behind() -> Sequence[Queue]:
        return [Queue({"p0": 10}, {"p0": 10})]

    gate = Admission(nothing_behind, 5.0, LOOK, 30, clock=lambda: now["t"], captures=count)
    asyncio.run(gate.sample_once())  # t=0: nothing in flight
    now["t"] = 0.1
    slow = count.begin()
    now["t"] = 4.4
    count.end(slow, captured=True)
    count.begin()  # the client's next, just begun
    verdict = asyncio.run(gate.sample_once())
    assert verdict.waiting == 1 and verdict.lag_seconds == 0.0
    assert not verdict.shed, verdict.expected_seconds  # was 4.4 s: shed


def test_overlapping_slow_captures_are_a_latency_not_a_rate() -> None:
    """Two slow captures, the second begun while the first ran: the stage had work
    throughout, but one capture done is no rate to drain the next at."""
    now = {"t": 0.0}
    count = CaptureCount(lambda: now["t"])
    first = count.begin()
    for step in range(1, 24):
        now["t"] = step * LOOK
        if step == 5:
            count.begin()
        if step == 22:
            count.end(first, captured=True)
        lag = count.stage()
    assert lag.waiting == 1
    assert lag.drain_seconds == 0.0  # not known (was 4.4 s)


def killed_router(client_every: float, orders_after: int) -> list[tuple[float, bool, float]]:
    """The e2e test's sequence on the routing stage: a lone client's 20 orders routed as they
    come (3 events each, routed 40 ms after its capture), the routing process killed, the same
    client's next orders waiting for the new one. Each look's (time, shed, expected wait)."""
    now = {"t": 0.0}
    state = {"head": 100, "position": 100}

    async def sample() -> Sequence[Queue]:
        return [Queue({"log": state["head"]}, {"log": state["position"]})]

    gate = Admission(sample, 5.0, LOOK, 30, clock=lambda: now["t"], captures=CaptureCount())
    captured: list[float] = []
    looks = []
    killed_at = 20 * client_every
    end = killed_at + orders_after * client_every
    every = round(client_every / TICK)
    for tick in range(round(end / TICK) + 1):
        now["t"] = t = tick * TICK
        if tick % every == 0 and t < end:
            captured.append(t)
            state["head"] += 3
        if t < killed_at:  # routed 40 ms after capture while the router lives
            state["position"] = 100 + 3 * sum(1 for at in captured if at + 0.04 <= t + 1e-9)
        if tick % 20 == 0:
            verdict = asyncio.run(gate.sample_once())
            looks.append((t, verdict.shed, verdict.expected_seconds))
    return looks


def test_a_killed_router_after_a_lone_client_is_no_long_wait_yet() -> None:
    """Killed, routing stands still and what waits grows with the client's orders. The rate
    measured before the kill was the client's, not routing's (a look that saw one order waiting
    counted its 0.2 s as work, though routing took 40 ms): with it, 8 orders waiting for 1.6 s
    were a 2.5 s wait, shed. Until its age says so, a stopped stage's backlog is no long wait."""
    for every in (0.05, 0.1, 0.2, 0.3):
        looks = killed_router(every, orders_after=10)
        assert not any(shed for _, shed, _ in looks), (every, looks[-5:])


def test_a_backlog_kept_from_look_to_look_measures_the_rate() -> None:
    """Overloaded, what waits at one look still waits at the next: those stretches measure the
    rate, the batches' stalls included."""
    stage = StageLag()
    head, position = 100, 0
    stage.observe(0.0, Queue({"p": head}, {"p": position}))
    for step in range(1, 31):  # 100 arrive a look, 250 done each second in one commit
        head += 100
        position += 250 if step % 5 == 0 else 0
        lag = stage.observe(step * LOOK, Queue({"p": head}, {"p": position}))
    assert lag.waiting == 3100 - 1500
    assert lag.drain_seconds == pytest.approx(lag.waiting / 250)
    stage.observe(6.2, Queue({"p": head}, {"p": head}))  # all done: kept up, not a measure
    assert stage.observe(6.4, Queue({"p": head + 10}, {"p": head})).drain_seconds > 0
