"""Embedded overload answered fast (hub.api.admission_inflight: `answer_within`, the cap).

Offered more than the API's process can take, by a client holding a bounded number of
connections (issue 10's flow benchmark: 64), the hub only ever saw those captures in flight,
each answered in ~150 ms: nothing looked behind, nothing was shed, and the client's orders
waited seconds for a connection. With the cap, captures beyond the rate they are taken times
`answer_within` are answered 429 at once, and those let in are answered within about that.
"""

import asyncio
import statistics
from collections import deque

import pytest

from hub.api.admission import Admission, Queue
from hub.api.admission_inflight import MIN_CAP, CaptureCount
from hub.api.problems import ProblemError


def test_the_cap_is_the_rate_taken_times_the_answer_bound() -> None:
    now = {"t": 0.0}
    count = CaptureCount(lambda: now["t"], answer_within=0.1)
    open_ = [count.begin() for _ in range(64)]
    count.stage()
    assert count.cap is None and not count.full()  # nothing measured yet: no cap
    for step in range(1, 6):  # 64 always in flight, taken 64 each 0.2 s: 320/s
        now["t"] = step * 0.2
        for token in open_:
            count.end(token, captured=True)
        open_ = [count.begin() for _ in range(64)]
        count.stage()
    assert count.cap == 32
    assert count.full()  # 64 in flight, 32 let in
    while len(open_) > 32:
        count.end(open_.pop(), captured=False)
    assert not count.full()


def test_a_low_rate_keeps_a_floor_and_idle_drops_the_cap() -> None:
    now = {"t": 0.0}
    count = CaptureCount(lambda: now["t"], answer_within=0.1)
    for step in range(1, 11):  # one capture at a time, each 0.05 s: 20/s
        token = count.begin()
        now["t"] += 0.05
        count.end(token, captured=True)
        if step % 4 == 0:
            count.stage()
    count.stage()
    assert count.cap is None  # fewer than 20 taken: a latency, not a rate
    for _ in range(40):
        token = count.begin()
        now["t"] += 0.05
        count.end(token, captured=True)
        count.stage()
    assert count.cap == MIN_CAP  # 20/s x 0.1 s is 2: let 16 in whatever the rate
    now["t"] += 10.0  # idle
    count.stage()
    assert count.cap is None


def test_without_answer_within_there_is_no_cap() -> None:
    now = {"t": 0.0}
    count = CaptureCount(lambda: now["t"])
    open_ = [count.begin() for _ in range(100)]
    for step in range(1, 6):
        now["t"] = step * 0.2
        for token in open_[:50]:
            count.end(token, captured=True)
        open_ = open_[50:] + [count.begin() for _ in range(50)]
        count.stage()
    assert count.cap is None and not count.full()


def test_the_check_answers_429_with_retry_after_when_full() -> None:
    count = CaptureCount(answer_within=0.1)
    gate = Admission(None, 5.0, 0.2, 30, captures=count)
    count.cap = 2
    tokens = [count.begin() for _ in range(2)]
    gate.check("orders")  # two in flight, the cap: let in
    tokens.append(count.begin())
    with pytest.raises(ProblemError) as refused:
        gate.check("orders")
    assert refused.value.headers["Retry-After"] == "1"
    assert refused.value.problem.status == 429
    count.end(tokens[0], captured=True)
    gate.check("orders")


SERVICE_MS = 4  # the hub takes one capture at a time, 4 ms each: 250/s at most
CONNECTIONS = 64
LOOK_MS = 200  # admission's look while something waits (ORDERHUB_ADMISSION_SAMPLE_SECONDS)


async def offer(answer_within: float, rate: int, seconds: int) -> dict[str, list[float]]:
    """Open loop at `rate` orders/s on a virtual clock (1 ms steps): a client holding
    `CONNECTIONS` at most, a hub whose captures are serial (as the embedded API's one
    interpreter), the real count and admission between them. Each order's answer time from
    when it was due (its wait for a connection included), by outcome; "settled": those due
    once the first half second had set the cap; "in time": when each taken one was answered."""
    now = {"t": 0.0}
    count = CaptureCount(lambda: now["t"], answer_within=answer_within)

    async def idle_routing() -> list[Queue]:
        return [Queue({"log": 0}, {"log": 0})]

    gate = Admission(idle_routing, 5.0, LOOK_MS / 1000, 30, lambda: now["t"], captures=count)
    answers: dict[str, list[float]] = {"taken": [], "shed": [], "in time": [], "settled": []}
    due = [i * 1000 // rate for i in range(rate * seconds)]  # ms
    client: deque[int] = deque()  # orders due, waiting for a connection
    hub: deque[tuple[int, int]] = deque()  # (token, due) let in, in turn
    free, busy_until, serving = CONNECTIONS, 0, None
    for ms in range(seconds * 1000 + 30_000):
        now["t"] = ms / 1000
        while due and due[0] <= ms:
            client.append(due.pop(0))
        if serving is not None and busy_until <= ms:
            token, was_due = serving
            count.end(token, captured=True)
            answers["taken"].append((ms - was_due) / 1000)
            answers["in time"].append(ms / 1000)
            if was_due >= 500:
                answers["settled"].append((ms - was_due) / 1000)
            serving, free = None, free + 1
        while client and free:
            was_due, token = client.popleft(), count.begin()
            try:
                gate.check("orders")
            except ProblemError:
                count.end(token, captured=False)  # answered at once: the connection is free
                answers["shed"].append((ms - was_due) / 1000)
                continue
            hub.append((token, was_due))
            free -= 1
        if serving is None and hub:
            serving, busy_until = hub.popleft(), ms + SERVICE_MS
        if ms % LOOK_MS == 0:
            await gate.sample_once()
        if not (due or client or hub or serving):
            break
    return answers


def p99(values: list[float]) -> float:
    return statistics.quantiles(values, n=100)[98]


def test_an_overload_is_answered_fast_with_the_cap_and_slowly_without() -> None:
    """Offered twice what the hub takes, for 3 s. Without the cap nothing is shed and the
    client's queue grows (answers take seconds by the end); with it, the captures let in are
    answered within about the bound (0.1 s) and the rest get 429 at once."""
    capped = asyncio.run(offer(0.1, rate=500, seconds=3))
    uncapped = asyncio.run(offer(0.0, rate=500, seconds=3))
    assert not uncapped["shed"]
    assert p99(uncapped["settled"]) > 1.0
    # The hub works at its pace all the same: it took as many while the orders came.
    done = [sum(1 for t in run["in time"] if t <= 3.0) for run in (capped, uncapped)]
    assert done[0] >= 0.97 * done[1]
    assert len(capped["shed"]) > 0.4 * 1500
    # Before the cap is known (the first look with captures taken), 64 are let in: their
    # answers take ~64 service times; from then on those let in wait about the bound.
    assert p99(capped["settled"]) <= 0.11
    assert max(capped["taken"]) < 0.4
    assert max(capped["shed"]) < 0.4
