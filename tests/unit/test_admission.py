"""Admission control's decision: the routing backlog's age from positions, and when to shed."""

import asyncio
import math
from collections.abc import Sequence

import pytest
from fastapi import FastAPI

from hub.api.admission import Admission, Lag, Queue, StageLag, Verdict, judge
from hub.api.problems import ProblemError, install_problem_handlers, problem_response


def one(head: int, position: int | None) -> Queue:
    return Queue({"p0": head}, {"p0": position})


def test_the_age_is_the_time_since_the_first_head_past_the_position() -> None:
    stage = StageLag()
    assert stage.observe(0.0, one(10, 10)).age == 0.0
    assert stage.observe(1.0, one(12, 10)).age == 0.0  # waiting since this look
    lag = stage.observe(3.0, one(20, 11))
    assert lag.age == pytest.approx(2.0)  # entry 11 arrived by t=1, not by t=0
    assert lag.waiting == 9
    # The stage passed the head seen at t=1 (12): the oldest waiting one came by t=3.
    assert stage.observe(4.0, one(25, 15)).age == pytest.approx(1.0)
    assert stage.observe(5.0, one(25, 25)).age == 0.0


def test_a_stopped_stage_ages_and_cannot_drain() -> None:
    stage = StageLag()
    stage.observe(0.0, one(5, 5))
    stage.observe(1.0, one(50, 5))
    lag = stage.observe(9.0, one(400, 5))
    assert lag.age == pytest.approx(8.0)
    assert math.isinf(lag.drain_seconds)


def test_the_drain_time_comes_from_the_positions_progress() -> None:
    stage = StageLag()
    for t in range(7):  # 100 a second done, 300 waiting
        lag = stage.observe(float(t), one(300 + 100 * t, 100 * t))
    assert lag.drain_seconds == pytest.approx(3.0)


def test_a_partition_never_committed_is_not_counted_as_behind() -> None:
    stage = StageLag()
    lag = stage.observe(0.0, Queue({"a": 1000, "b": 7}, {"a": None, "b": 7}))
    lag = stage.observe(30.0, Queue({"a": 2000, "b": 7}, {"a": None, "b": 7}))
    assert (lag.age, lag.waiting) == (0.0, 0)


@pytest.mark.parametrize(
    ("ages", "max_lag", "shed"),
    [
        ((1.0, 2.0), 5.0, False),
        ((3.0, 2.5), 5.0, True),  # an order waits in each stage in turn: the ages add up
        ((60.0,), 0.0, False),  # 0: admission control off
    ],
)
def test_sheds_when_the_stages_ages_add_up_past_the_limit(
    ages: Sequence[float], max_lag: float, shed: bool
) -> None:
    lags = [Lag(age=a, waiting=10, drain_seconds=0.0) for a in ages]  # no rate known yet
    assert judge(lags, max_lag, 30).shed is shed


@pytest.mark.parametrize(
    ("drain", "retry"),
    [(12.4, 10), (2.6, 1), (0.0, 1), (1000.0, 30), (math.inf, 30)],
)
def test_retry_after_is_the_wait_back_under_its_share_bounded(drain: float, retry: int) -> None:
    verdict = judge([Lag(age=9.0, waiting=900, drain_seconds=drain)], 5.0, 30)
    assert verdict.shed
    assert verdict.retry_after == retry


def test_check_answers_429_with_retry_after_only_while_shedding() -> None:
    looks = iter([(0.0, 10, 10), (1.0, 500, 10), (8.0, 600, 10), (9.0, 600, 600)])
    now = {"t": 0.0}

    async def sample() -> Sequence[Queue]:
        now["t"], head, position = next(looks)
        return [one(head, position)]

    admission = Admission(sample, max_lag=5.0, interval=0.2, max_retry=30, clock=lambda: now["t"])
    for _ in range(2):
        asyncio.run(admission.sample_once())
        admission.check("orders")  # nothing waits, then waits since this look only
    asyncio.run(admission.sample_once())  # the order at 10 has waited since t=1: 7 s
    with pytest.raises(ProblemError) as refused:
        admission.check("orders")
    assert refused.value.problem.status == 429
    assert admission.verdict.lag_seconds == pytest.approx(7.0)
    assert int(refused.value.headers["Retry-After"]) >= 1
    asyncio.run(admission.sample_once())
    admission.check("orders")  # drained


def test_a_failed_sample_admits() -> None:
    state = {"fail": False, "t": 0.0}

    async def sample() -> Sequence[Queue]:
        if state["fail"]:
            raise OSError("broker away")
        return [one(1000, 0)]

    def clock() -> float:
        state["t"] += 10.0
        return float(state["t"])

    admission = Admission(sample, max_lag=5.0, interval=0.2, max_retry=30, clock=clock)
    asyncio.run(admission.sample_once())
    asyncio.run(admission.sample_once())
    with pytest.raises(ProblemError) as refused:
        admission.check("orders")
    assert refused.value.problem.status == 429
    assert refused.value.headers["Retry-After"] == "30"  # nothing drained: the longest wait
    assert refused.value.problem.type == "/problems/overloaded"
    state["fail"] = True
    asyncio.run(admission.sample_once())
    admission.check("orders")


def test_a_shed_answer_is_the_problem_as_rendered_and_follows_each_verdict() -> None:
    app = FastAPI()
    install_problem_handlers(app)
    handler = app.exception_handlers[ProblemError]
    admission = Admission(None, max_lag=5.0, interval=0.2, max_retry=30)
    answers = []
    for lag, retry in ((6.25, 3), (6.25, 3), (9.5, 30)):
        admission.verdict = Verdict(True, lag, 100, retry, (lag,), 2.0 * lag)
        for _ in range(2):
            with pytest.raises(ProblemError) as refused:
                admission.check("orders")
            error = refused.value
            fresh = problem_response(error.problem, error.headers)  # rendered now
            answer = asyncio.run(handler(None, error))
            assert (answer.status_code, answer.body) == (429, fresh.body)
            assert answer.raw_headers == fresh.raw_headers
            answers.append(answer.body)
    assert answers[0] == answers[1] == answers[2] == answers[3]  # equal verdicts, equal bodies
    assert b'"routing_lag_seconds":9.5' in answers[4] and answers[4] == answers[5]
    assert b"after 30 s" in answers[4] and b"after 3 s" in answers[0]
