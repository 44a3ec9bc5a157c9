"""Admission control's expected wait: what waits over the rate a stage works at, so that a step
of overload is shed before its first orders have waited the limit (hub.api.admission)."""

import asyncio
import math
from collections.abc import Sequence

import pytest

import hub.api.admission as admission_module
from hub.api.admission import Admission, Queue, StageLag

LIMIT = 5.0
TICK = 0.01  # the simulation's clock step; the sampler looks every 0.2 s (20 ticks)


def one(head: int, position: int | None) -> Queue:
    return Queue({"p0": head}, {"p0": position})


def simulate(offered: int, capacity: int, seconds: int) -> tuple[list[float], int, int]:
    """One stage that works in batches committed once a second (as the orchestration role does
    under load, `capacity` orders each), offered `offered` orders/s from idle, the hub's
    admission in front. The wait of each accepted order (arrival to the commit past it), the
    orders routed in the last half, and the orders shed."""
    now = {"t": 0.0}
    state = {"head": 0, "position": 0}

    async def sample() -> Sequence[Queue]:
        return [one(state["head"], state["position"])]

    gate = Admission(sample, max_lag=LIMIT, interval=0.2, max_retry=30, clock=lambda: now["t"])
    arrived: list[float] = []  # arrival time of each accepted order, in order
    waits: list[float] = []
    shed = routed_late = 0
    owed = 0.0
    for tick in range(int(seconds / TICK)):
        now["t"] = tick * TICK
        if tick % 20 == 0:
            asyncio.run(gate.sample_once())
        owed += offered * TICK
        while owed >= 1:
            owed -= 1
            if gate.verdict.shed:
                shed += 1
            else:
                arrived.append(now["t"])
                state["head"] += 1
        if tick % 100 == 99:  # a batch's commit
            done = min(capacity, state["head"] - state["position"])
            waits += [now["t"] - at for at in arrived[state["position"] : state["position"] + done]]
            state["position"] += done
            routed_late += done if now["t"] >= seconds / 2 else 0
    return waits, routed_late, shed


def test_accepted_orders_wait_less_than_the_limit_and_routing_stays_busy() -> None:
    waits, routed_late, shed = simulate(offered=500, capacity=100, seconds=40)
    assert max(waits) < LIMIT
    assert routed_late >= 0.95 * 100 * 20  # the stage kept working at its capacity
    assert shed > 0.7 * 500 * 40  # the rest was shed: ~80 % of the offer


def test_the_age_alone_let_a_step_of_overload_wait_past_the_limit(
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    """Why the expected wait: with the oldest order's age alone, what came before the age
    showed waits its backlog out, well past the limit."""
    monkeypatch.setattr(admission_module, "WAIT_SHARE", math.inf)
    waits, _, _ = simulate(offered=500, capacity=100, seconds=40)
    assert max(waits) > 2 * LIMIT


def test_below_capacity_nothing_is_shed() -> None:
    waits, _, shed = simulate(offered=80, capacity=100, seconds=40)
    assert shed == 0
    assert max(waits) <= 1.0 + TICK


def test_idle_seconds_do_not_make_a_busy_stage_look_slow() -> None:
    stage = StageLag()
    for t in range(31):  # idle for 30 s
        stage.observe(float(t), one(1000, 1000))
    for step in range(1, 11):  # then works at 50/s with 100 waiting
        lag = stage.observe(30 + step * 0.2, one(1100 + 10 * step, 1000 + 10 * step))
    assert lag.waiting == 100
    assert lag.drain_seconds == pytest.approx(2.0)  # 100 at 50/s, not at 20 s of 100 done


def test_a_partitions_first_known_position_is_not_work_done() -> None:
    stage = StageLag()
    stage.observe(0.0, Queue({"a": 50_000, "b": 150}, {"a": None, "b": 0}))
    stage.observe(1.0, Queue({"a": 50_000, "b": 300}, {"a": 49_000, "b": 100}))
    lag = stage.observe(2.0, Queue({"a": 50_100, "b": 400}, {"a": 49_100, "b": 200}))
    # 1,000 + 200 waiting; 100 done a second on b, then 100 + 100: not the 49,000 of a's commit.
    assert lag.drain_seconds == pytest.approx(1200 / 150)


def test_no_work_done_yet_is_not_known_until_it_lasts() -> None:
    stage = StageLag()
    stage.observe(0.0, one(0, 0))
    assert stage.observe(2.0, one(500, 0)).drain_seconds == 0.0  # its first batch may be long
    assert math.isinf(stage.observe(8.0, one(900, 0)).drain_seconds)  # 6 s, nothing done: stopped
