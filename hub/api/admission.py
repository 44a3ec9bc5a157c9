"""Admission control: capture answers 429 while routing is too far behind.

Offered more orders than it can route, the hub used to accept and save every one: the API and
the intake took the cores routing needed, and routed *less* (benchmarks/README.md, issue 10).
Now a capture route asks `Admission.check()` before it reads the body; while the routing
backlog is over `ORDERHUB_ADMISSION_MAX_LAG_SECONDS` it answers 429 with `Retry-After`, having
read and stored nothing (the client sends the same order again later, under the same channel
and external id: that retry is a first capture, not a duplicate).

Two signals, read from positions the hub keeps anyway, never per request (a background task
samples every `ORDERHUB_ADMISSION_SAMPLE_SECONDS`, 0.2 s; once a second while nothing waits
and no capture comes):

- **the wait a new order can expect**: at each stage, what waits over the rate that stage
  works at (measured over its last seconds *with work*, so that a stage idle before a step of
  load does not look slow; and only while a backlog lasts from look to look, `BusyRate`: a
  lone client's orders, each done as it came, are no measure of a stage's rate), summed over
  the stages an order goes through. It sheds once that
  passes half the limit (`WAIT_SHARE`): an accepted order also waits for its own batches and
  the commits that show them. This is what bounds an accepted order's wait: with the age
  alone, a step of overload was all admitted until its first orders had waited the limit (a
  backlog of the limit times the offered rate), then drained at routing's rate: accepted
  orders waited 2-3 times the limit;
- **the age of the oldest order waiting for routing** past the limit: whatever the cause
  (routing slow, starved of CPU, stopped), and before any rate is known.

Where the positions come from (each a stage an order waits in, in turn):

- first, this API process's own captures in flight (hub.api.admission_inflight): embedded, the
  capture itself was the bottleneck while routing kept up;
- embedded: the event store's head (its newest notification id) against the routing lane's
  followers' saved positions (orchestrator, backorder view, billing: the slowest one);
- distributed: each partition's end offset against the committed offset of the intake role's
  consumer (submissions, channel topics), the event store's head against the relay's saved
  position, and the orchestration role's order-events consumer's offsets; an order waits in
  each stage in turn, so their ages add up (`/healthz` shows each).

From positions alone the age is known to within one sample: each sample notes when a head
moved; the oldest waiting entry arrived at the first noted head past the stage's position. A
partition whose group never committed is left out (unknown is not behind), and a sample that
fails admits everything until the next one succeeds: admission control must not become an
outage of its own.

Retry-After is the time the expected wait needs to come back under its share of the limit at
the measured rates, at least 1 s and at most `ORDERHUB_ADMISSION_MAX_RETRY_SECONDS` (that
longest one while a stage has stood still).
"""

import asyncio
import logging
import math
import time
from collections import deque
from collections.abc import Awaitable, Callable, Mapping, Sequence
from dataclasses import dataclass
from typing import Protocol

from prometheus_client import Counter, Gauge

from hub.api.problems import ProblemError, problem_response
from schemas.problems import Problem

log = logging.getLogger(__name__)

SHED = Counter(
    "orderhub_admission_shed",
    "Capture requests answered 429 because routing was too far behind",
    ["route"],
)
LAG = Gauge("orderhub_admission_lag_seconds", "Age of the oldest order waiting for routing")
EXPECTED = Gauge(
    "orderhub_admission_expected_wait_seconds",
    "What a new order can expect to wait for routing: the backlog at each stage's drain rate",
)
# Seconds of positions the drain rate is measured over: several of a loaded stage's batches
# (the orchestration role commits after each, 1-3 s apart under load), so one does not swing it.
DRAIN_WINDOW = 10.0
STOPPED_SHARE = 0.5  # of the window with work and nothing done: the stage has stopped
# Entries done in the stretches that measure a stage's rate before that rate is taken as known:
# fewer are a few entries' latency, not a rate; overloaded, a stage does this many in a look.
MIN_DONE = 20
# A new order is admitted while the wait it can expect is under this share of the limit: its
# own batches, the relay and the commit that shows it add to that wait, and the expectation,
# read at commit granularity, is late by a batch.
WAIT_SHARE = 0.5
KEPT_MOVES = 10_000  # head moves remembered per partition (~30 min of samples at 0.2 s)
# Nothing waiting and no capture here since the last look: the next look this much later, or at
# this process's next capture. Each look asks the broker four questions (distributed): five a
# second were ~20 ms of CPU a second of an idle hub, API and broker (benchmarks/README.md).
# Orders reaching the hub otherwise (channel topics, other API processes) show within this.
# The longer stretch is no measure of a stage's rate (it began with nothing waiting: BusyRate);
# counted as work, it made a lone client's first orders look like seconds of wait (a03dc40).
IDLE_SAMPLE_SECONDS = 1.0


@dataclass(frozen=True)
class Queue:
    """One look at a stage: per partition, its head (the next position to be written, or the
    newest written: the same convention as `positions`) and how far the stage has got."""

    heads: Mapping[str, int]
    positions: Mapping[str, int | None]  # None: not known (never committed)


@dataclass(frozen=True)
class Lag:
    age: float  # seconds the oldest waiting entry has waited
    waiting: int
    drain_seconds: float  # to process what waits at the measured rate; inf when it stands still


class StageLag:
    """One stage's queue over successive samples: the age of its oldest waiting entry, and how
    long what waits would take at the rate the stage works when it has work."""

    def __init__(self) -> None:
        self._moves: dict[str, deque[tuple[float, int]]] = {}
        self._positions: dict[str, int] = {}
        self._heads: dict[str, int] = {}  # at the previous look
        self._rate = BusyRate()

    def observe(self, now: float, queue: Queue) -> Lag:
        age, waiting, done = 0.0, 0, 0
        positions: dict[str, int] = {}
        heads: dict[str, int] = {}
        kept = False  # an entry waiting at the previous look waits still
        for part, head in queue.heads.items():
            position = queue.positions.get(part)
            if position is None:
                continue
            moves = self._moves.setdefault(part, deque(maxlen=KEPT_MOVES))
            if not moves or head > moves[-1][1]:
                moves.append((now, head))
            # Positions only move forward: a move the stage has passed is never needed again.
            while moves and moves[0][1] <= position:
                moves.popleft()
            if head > position:
                waiting += head - position
                age = max(age, now - moves[0][0] if moves else 0.0)
            # A partition's first known position is where it stands, not progress (its first
            # commit would otherwise look like a burst of work done).
            done += max(0, position - self._positions.get(part, position))
            kept = kept or position < self._heads.get(part, position)
            positions[part], heads[part] = position, head
        self._positions, self._heads = positions, heads
        return Lag(age, waiting, self._rate.drain_seconds(now, done, waiting, kept))


class BusyRate:
    """The rate a stage works at, measured over its last `DRAIN_WINDOW` seconds with work.

    Only what the looks show is evidence of it. A stretch between two looks measures the rate
    when some entry waiting at its start still waits at its end: the stage had work throughout.
    One in which the stage took all it had seen waiting only says it kept up: a lone client's
    order, waiting at one look and routed a few ms later, counted as a look's 0.2 s of work,
    made routing's rate the client's; killed then, routing's backlog of that client's orders
    was judged a long wait within 2 s, while nothing had waited. The stretches with nothing done
    are a stall: part of the work once it ends in progress (a batch), a stop once it lasts
    `STOPPED_SHARE` of the window. And a rate from fewer than `MIN_DONE` entries is their
    latency, not a throughput."""

    def __init__(self) -> None:
        self._last_at: float | None = None
        self._had_work = False
        # (when, entries done since the previous look, its seconds, whether it measures the
        # rate): the stretches that began with work.
        self._work: deque[tuple[float, int, float, bool]] = deque()

    def drain_seconds(self, now: float, done: int, waiting: int, kept: bool) -> float:
        """`waiting` over the rate measured while the stage had work; 0 while that rate is not
        known, inf once the stage has stopped. `done`: entries done since the previous look;
        `kept`: some entry waiting then waits still."""
        if self._last_at is not None and self._had_work:
            self._work.append((now, done, now - self._last_at, kept))
        self._last_at, self._had_work = now, waiting > 0
        while self._work and now - self._work[0][0] > DRAIN_WINDOW:
            self._work.popleft()
        if waiting == 0:
            return 0.0
        busy = stalled = 0.0
        moved = 0
        for _, count, seconds, measures in self._work:
            if not count:
                stalled += seconds
                continue
            if measures:  # the stall before it was its batch
                busy += stalled + seconds
                moved += count
            stalled = 0.0
        if stalled >= STOPPED_SHARE * DRAIN_WINDOW:
            return math.inf
        # Not known yet: a stage that commits after each batch shows nothing until its first
        # batch ends; meanwhile the age is the signal.
        return waiting * (busy + stalled) / moved if moved >= MIN_DONE else 0.0


class StageLook(Protocol):
    """A stage looked at on demand (hub.api.admission_inflight.CaptureCount)."""

    cap: int | None

    def stage(self) -> Lag: ...

    def full(self) -> bool: ...


@dataclass(frozen=True)
class Verdict:
    shed: bool
    lag_seconds: float
    waiting: int
    retry_after: int  # whole seconds, when shedding
    stages: tuple[float, ...] = ()  # each stage's age
    expected_seconds: float = 0.0  # what a new order can expect to wait (inf: a stage stopped)

    def as_dict(self) -> dict[str, object]:
        expected = self.expected_seconds
        return {
            "shedding": self.shed,
            "routing_lag_seconds": round(self.lag_seconds, 2),
            "stage_lag_seconds": [round(age, 2) for age in self.stages],
            "expected_wait_seconds": None if math.isinf(expected) else round(expected, 2),
            "waiting": self.waiting,
        }


OPEN = Verdict(shed=False, lag_seconds=0.0, waiting=0, retry_after=0)


def judge(lags: Sequence[Lag], max_lag: float, max_retry: int) -> Verdict:
    """Shed (`max_lag` 0: never) while a new order could expect to wait more than
    `WAIT_SHARE` of `max_lag` (what waits, drained at the rate each stage works), or while the
    oldest waiting order has waited more than `max_lag`. The first alone let a step of overload
    in for `max_lag` seconds before it showed, and those orders then waited their backlog out.
    The retry comes when the expected wait is back under its share."""
    lag = sum(stage.age for stage in lags)  # an order waits at each stage in turn
    waiting = sum(stage.waiting for stage in lags)
    stages = tuple(stage.age for stage in lags)
    expected = sum(stage.drain_seconds for stage in lags)
    budget = max_lag * WAIT_SHARE
    if max_lag <= 0 or (lag <= max_lag and expected <= budget):
        return Verdict(False, lag, waiting, 0, stages, expected)
    over = expected - budget
    retry = max_retry if math.isinf(over) else min(max_retry, max(1, math.ceil(over)))
    return Verdict(True, lag, waiting, retry, stages, expected)


Sampler = Callable[[], Awaitable[Sequence[Queue]]]


class Admission:
    """The latest verdict, kept current by `run()`; `check()` is all a request pays."""

    def __init__(
        self,
        sample: Sampler | None,
        max_lag: float,
        interval: float,
        max_retry: int,
        clock: Callable[[], float] = time.monotonic,
        captures: "StageLook | None" = None,
    ) -> None:
        self._sample = sample
        # This process's captures in flight, the first stage an order waits in (counted by
        # hub.api.admission_inflight.CountCaptures; None: not counted).
        self.captures = captures
        self._max_lag = max_lag
        self._interval = interval
        self._max_retry = max_retry
        self._clock = clock
        self._stages: list[StageLag] = []
        self.verdict = OPEN
        self._shed_answer: tuple[Verdict, Problem, dict[str, str], bytes] | None = None
        self._full_answer: tuple[int, Problem, dict[str, str], bytes] | None = None

    @property
    def enabled(self) -> bool:
        return self._sample is not None and self._max_lag > 0

    async def sample_once(self) -> Verdict:
        if self._sample is None:
            return self.verdict
        try:
            queues = await self._sample()
        except Exception as error:  # the broker or the store unreachable: admit, say so
            log.debug("admission sample failed: %r", error)
            self.verdict = OPEN
            return OPEN
        now = self._clock()
        while len(self._stages) < len(queues):
            self._stages.append(StageLag())
        lags = [stage.observe(now, q) for stage, q in zip(self._stages, queues, strict=False)]
        if self.captures is not None:
            lags.insert(0, self.captures.stage())
        self.verdict = judge(lags, self._max_lag, self._max_retry)
        LAG.set(self.verdict.lag_seconds)
        EXPECTED.set(self.verdict.expected_seconds)
        return self.verdict

    async def run(self) -> None:
        """Sample until cancelled: every `interval`, or `IDLE_SAMPLE_SECONDS` while idle."""
        arrived = getattr(self.captures, "arrived", None)
        while True:
            if arrived is not None:
                arrived.clear()  # before the look: a capture during it is not missed
            verdict = await self.sample_once()
            if arrived is None or verdict.waiting or arrived.is_set():
                await asyncio.sleep(self._interval)
                continue
            try:
                # Not `wait_for`: in Python 3.11 a cancel (the API's stop) that comes as the
                # event is set is lost, and the looks went on.
                async with asyncio.timeout(IDLE_SAMPLE_SECONDS):
                    await arrived.wait()
            except TimeoutError:
                pass

    def check(self, route: str) -> None:
        """Raise a 429 problem while shedding, or while this process takes as many captures
        as it can answer in time (`CaptureCount.full`); call it before the body is read."""
        verdict = self.verdict
        if verdict.shed:
            SHED.labels(route=route).inc()
            raise self._shed_error(verdict)
        captures = self.captures
        if captures is not None and captures.full():
            SHED.labels(route=route).inc()
            raise self._full_error(captures.cap or 0)

    def _full_error(self, cap: int) -> ProblemError:
        """The 429 of a capture beyond the cap, its body rendered once per cap (as a shed's)."""
        made = self._full_answer
        if made is None or made[0] != cap:
            problem = Problem(
                type="/problems/overloaded",
                title="The hub takes all the orders it can answer in time; try again shortly",
                status=429,
                detail=(
                    f"{cap} orders are being taken; one more would wait past the bound on an "
                    "answer; nothing was recorded: send the same order again after 1 s"
                ),
            )
            headers = {"Retry-After": "1"}
            body = bytes(problem_response(problem, headers).body)
            made = self._full_answer = (cap, problem, headers, body)
        return ProblemError(made[1], dict(made[2]), body=made[3])

    def _shed_error(self, verdict: Verdict) -> ProblemError:
        """The 429 of `verdict`, its body rendered once: every request shed between two looks
        gets the same answer (rendering it per request was a tenth of a shed request's CPU,
        and the hub offered more than it routes sheds more requests than it accepts)."""
        made = self._shed_answer
        if made is None or made[0] is not verdict:
            problem = Problem(
                type="/problems/overloaded",
                title="Routing is behind; try again later",
                status=429,
                detail=(
                    f"a new order would wait {verdict.expected_seconds:.1f} s for routing, the "
                    f"oldest waits {verdict.lag_seconds:.1f} s (limit {self._max_lag:g} s); "
                    "nothing was recorded: send the same order again "
                    f"after {verdict.retry_after} s"
                ),
                extra={"routing_lag_seconds": round(verdict.lag_seconds, 2)},
            )
            headers = {"Retry-After": str(verdict.retry_after)}
            body = bytes(problem_response(problem, headers).body)
            made = self._shed_answer = (verdict, problem, headers, body)
        return ProblemError(made[1], dict(made[2]), body=made[3])
