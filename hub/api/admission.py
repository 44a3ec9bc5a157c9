"""Admission control: capture answers 429 while routing is too far behind.

Offered more orders than it can route, the hub used to accept and save every one: the API and
the intake took the cores routing needed, and routed *less* (benchmarks/README.md, issue 10).
Now a capture route asks `Admission.check()` before it reads the body; while the routing
backlog is over `ORDERHUB_ADMISSION_MAX_LAG_SECONDS` it answers 429 with `Retry-After`, having
read and stored nothing (the client sends the same order again later, under the same channel
and external id: that retry is a first capture, not a duplicate).

The signal is **the age of the oldest order waiting for routing**, in seconds: what a newly
accepted order would wait before its decision, whatever the cause (routing slow, starved of
CPU, stopped). A count of waiting orders would need a rate to mean anything, and the rate is
what falls under overload. It is read from positions the hub keeps anyway, never per request:
a background task samples every `ORDERHUB_ADMISSION_SAMPLE_SECONDS` (0.2 s)

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

Retry-After is the time the backlog needs to drain below the limit at the drain rate measured
over the last few seconds (the positions' progress), at least 1 s and at most
`ORDERHUB_ADMISSION_MAX_RETRY_SECONDS`.
"""

import asyncio
import logging
import math
import time
from collections import deque
from collections.abc import Awaitable, Callable, Mapping, Sequence
from dataclasses import dataclass

from prometheus_client import Counter, Gauge

from hub.api.problems import ProblemError
from schemas.problems import Problem

log = logging.getLogger(__name__)

SHED = Counter(
    "orderhub_admission_shed",
    "Capture requests answered 429 because routing was too far behind",
    ["route"],
)
LAG = Gauge("orderhub_admission_lag_seconds", "Age of the oldest order waiting for routing")
DRAIN_WINDOW = 5.0  # seconds of positions the drain rate is measured over
KEPT_MOVES = 10_000  # head moves remembered per partition (~30 min of samples at 0.2 s)


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
    """One stage's queue over successive samples: the age of its oldest waiting entry."""

    def __init__(self) -> None:
        self._moves: dict[str, deque[tuple[float, int]]] = {}
        self._progress: deque[tuple[float, int]] = deque()

    def observe(self, now: float, queue: Queue) -> Lag:
        age, waiting, done = 0.0, 0, 0
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
            done += position
        return Lag(age, waiting, self._drain_seconds(now, done, waiting))

    def _drain_seconds(self, now: float, done: int, waiting: int) -> float:
        self._progress.append((now, done))
        while len(self._progress) > 2 and now - self._progress[1][0] >= DRAIN_WINDOW:
            self._progress.popleft()
        if waiting == 0:
            return 0.0
        then, done_then = self._progress[0]
        rate = (done - done_then) / (now - then) if now > then else 0.0
        return waiting / rate if rate > 0 else math.inf


@dataclass(frozen=True)
class Verdict:
    shed: bool
    lag_seconds: float
    waiting: int
    retry_after: int  # whole seconds, when shedding
    stages: tuple[float, ...] = ()  # each stage's age

    def as_dict(self) -> dict[str, object]:
        return {
            "shedding": self.shed,
            "routing_lag_seconds": round(self.lag_seconds, 2),
            "stage_lag_seconds": [round(age, 2) for age in self.stages],
            "waiting": self.waiting,
        }


OPEN = Verdict(shed=False, lag_seconds=0.0, waiting=0, retry_after=0)


def judge(lags: Sequence[Lag], max_lag: float, max_retry: int) -> Verdict:
    """Shed while an order would wait longer than `max_lag` (0: never); the retry comes when
    the backlog, drained at its measured rate, is back under the limit."""
    lag = sum(stage.age for stage in lags)  # an order waits at each stage in turn
    waiting = sum(stage.waiting for stage in lags)
    stages = tuple(stage.age for stage in lags)
    if max_lag <= 0 or lag <= max_lag:
        return Verdict(False, lag, waiting, 0, stages)
    drain = sum(stage.drain_seconds for stage in lags)
    retry = max_retry if math.isinf(drain) else min(max_retry, max(1, math.ceil(drain - max_lag)))
    return Verdict(True, lag, waiting, retry, stages)


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
    ) -> None:
        self._sample = sample
        self._max_lag = max_lag
        self._interval = interval
        self._max_retry = max_retry
        self._clock = clock
        self._stages: list[StageLag] = []
        self.verdict = OPEN

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
        self.verdict = judge(lags, self._max_lag, self._max_retry)
        LAG.set(self.verdict.lag_seconds)
        return self.verdict

    async def run(self) -> None:
        """Sample until cancelled."""
        while True:
            await self.sample_once()
            await asyncio.sleep(self._interval)

    def check(self, route: str) -> None:
        """Raise a 429 problem while shedding; call it before the body is read."""
        verdict = self.verdict
        if not verdict.shed:
            return
        SHED.labels(route=route).inc()
        raise ProblemError(
            Problem(
                type="/problems/overloaded",
                title="Routing is behind; try again later",
                status=429,
                detail=(
                    f"orders wait {verdict.lag_seconds:.1f} s for routing (limit "
                    f"{self._max_lag:g} s); nothing was recorded: send the same order again "
                    f"after {verdict.retry_after} s"
                ),
                extra={"routing_lag_seconds": round(verdict.lag_seconds, 2)},
            ),
            headers={"Retry-After": str(verdict.retry_after)},
        )
