"""Telling a stalled consumer from an idle or a busy one, from what Kafka shows of it.

A consumer group is stalled when records wait for it (lag > 0) and its committed offsets have
not moved for `stall_after` seconds, or when it has been rebalancing that long. Idle time (no
lag) never counts: the clock starts when lag appears or when the group last made progress,
whichever is later. Pure: the clock is passed in, so tests drive it.
"""

from collections.abc import Callable
from dataclasses import dataclass
from enum import StrEnum


class ConsumerState(StrEnum):
    UNKNOWN = "unknown"  # not probed yet, or Kafka did not answer
    IDLE = "idle"  # nothing waiting
    LAGGING = "lagging"  # records waiting, within the stall limit
    STALLED = "stalled"


@dataclass(frozen=True)
class ConsumerHealth:
    group: str
    state: ConsumerState
    lag: int | None
    seconds_without_progress: float
    reason: str = ""

    @property
    def stalled(self) -> bool:
        return self.state is ConsumerState.STALLED

    def as_dict(self) -> dict[str, object]:
        return {
            "group": self.group,
            "state": self.state.value,
            "lag": self.lag,
            "seconds_without_progress": round(self.seconds_without_progress, 1),
            "reason": self.reason,
        }


class StallDetector:
    """Fed with probes (lag and committed total) and rebalance transitions; says if stalled."""

    def __init__(self, group: str, stall_after: float, clock: Callable[[], float]) -> None:
        self.group = group
        self._stall_after = stall_after
        self._clock = clock
        self._lag: int | None = None
        self._committed: int | None = None
        self._progress_at = clock()  # last commit, or when lag appeared after idle
        self._rebalancing_since: float | None = None
        self._probe_failed_since: float | None = None

    def observe(self, lag: int, committed_total: int) -> None:
        """One probe: records waiting (end - committed, summed) and the committed total."""
        now = self._clock()
        self._probe_failed_since = None
        if self._committed is None or committed_total != self._committed:
            self._progress_at = now
        elif lag > 0 and (self._lag is None or self._lag == 0):
            self._progress_at = now  # idle until now: the wait starts here
        self._lag = lag
        self._committed = committed_total

    def probe_failed(self) -> None:
        """Kafka did not answer: the state is unknown (not stalled: the broker may be away)."""
        if self._probe_failed_since is None:
            self._probe_failed_since = self._clock()

    def rebalancing(self, active: bool) -> None:
        if active and self._rebalancing_since is None:
            self._rebalancing_since = self._clock()
        elif not active:
            self._rebalancing_since = None

    def health(self) -> ConsumerHealth:
        now = self._clock()
        waited = now - self._progress_at
        if self._rebalancing_since is not None:
            rebalancing = now - self._rebalancing_since
            if rebalancing >= self._stall_after:
                return self._health(
                    ConsumerState.STALLED, rebalancing, f"rebalancing for {rebalancing:.0f}s"
                )
        if self._probe_failed_since is not None or self._lag is None:
            return self._health(ConsumerState.UNKNOWN, 0.0, "no answer from Kafka yet")
        if self._lag == 0:
            return self._health(ConsumerState.IDLE, 0.0)
        if waited >= self._stall_after:
            reason = f"{self._lag} records waiting, no commit for {waited:.0f}s"
            return self._health(ConsumerState.STALLED, waited, reason)
        return self._health(ConsumerState.LAGGING, waited)

    def _health(self, state: ConsumerState, waited: float, reason: str = "") -> ConsumerHealth:
        return ConsumerHealth(self.group, state, self._lag, waited, reason)
