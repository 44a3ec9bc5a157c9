"""Watching consumer groups for stalls, for the worker (which exits) and the API (which reports).

A Faust worker can hang for good in a rebalance while its process stays up (faust#402,
faust-streaming#133: agents waiting in `take_events`, `wait_empty` waiting for them). Nothing
inside the stuck consumer can be trusted to notice, so the check reads the group's committed
offsets from the broker. A worker that finds its group stalled exits: delivery is at-least-once
and handlers are idempotent, so a restart (by `orderhub worker`'s supervisor, systemd or
Docker) costs a redelivery, never a loss.
"""

import asyncio
import logging
import time
from collections.abc import Callable, Iterable, Mapping

from connectors.lag import LagProbe
from hub.streaming.stall import ConsumerHealth, StallDetector

log = logging.getLogger(__name__)


class ConsumerWatch:
    """Probes groups every `interval` seconds; `health()` says how each one is doing."""

    def __init__(
        self,
        probe: LagProbe,
        groups: Mapping[str, Iterable[str]],
        stall_after: float,
        interval: float,
        clock: Callable[[], float] = time.monotonic,
        rebalancing: Callable[[], bool] | None = None,
    ) -> None:
        self._probe = probe
        self._topics = {group: list(topics) for group, topics in groups.items()}
        self._detectors = {g: StallDetector(g, stall_after, clock) for g in self._topics}
        self._interval = interval
        self._rebalancing = rebalancing

    def set_topics(self, group: str, topics: Iterable[str]) -> None:
        self._topics[group] = list(topics)

    def health(self) -> list[ConsumerHealth]:
        return [d.health() for d in self._detectors.values()]

    def stalled(self) -> list[ConsumerHealth]:
        return [h for h in self.health() if h.stalled]

    async def probe_once(self) -> None:
        for group, detector in self._detectors.items():
            if self._rebalancing is not None:
                detector.rebalancing(self._rebalancing())
            try:
                lag = await self._probe.group_lag(group, self._topics[group])
            except Exception as error:  # any client error: the state is unknown, not stalled
                log.debug("lag probe for %s failed: %r", group, error)
                detector.probe_failed()
                continue
            detector.observe(lag.lag, lag.committed_total)

    async def run(self, on_stall: Callable[[list[ConsumerHealth]], None] | None = None) -> None:
        """Probe until cancelled; call `on_stall` when a group is found stalled."""
        try:
            while True:
                await self.probe_once()
                stalled = self.stalled()
                if stalled and on_stall is not None:
                    on_stall(stalled)
                await asyncio.sleep(self._interval)
        finally:
            await self._probe.stop()
