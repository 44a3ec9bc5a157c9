"""The fetch a plain consumer with its batch window at the broker asks for next.

With the window kept by the broker (hub.streaming.plain_batches, `window_at_broker`), each fetch
is held there for the window: one fetch per window while records come, instead of one per record
that arrived within it. An idle consumer does not need that: its fetches, answered empty every
window, cost it and the broker a request 20 times a second (an idle distributed hub went from
87-130 to 151-194 ms of CPU a second, benchmarks/README.md). Once no record came for two windows,
it asks for a fetch answered at the first record (aiokafka's default: held 500 ms at most) and
hands that record over at once: a lone order after a quiet spell waits for no window (a batch
of one costs more per order, but only while the hub has little to do); the consumer then goes
back to the window's fetches, so that what follows comes in batches while records keep coming.

aiokafka fixes these two settings per consumer; its fetcher reads them anew for each request it
builds, so they are changed there (`fetch_settings` checks they are where this aiokafka keeps
them; tests/unit/test_broker_hold.py fails on an aiokafka that moved them, and the consumer then
keeps the window's fetches, as before, and logs why).
"""

import logging
from typing import Any

from aiokafka import AIOKafkaConsumer

log = logging.getLogger(__name__)

# With the window kept by the broker, a fetch is answered once this much has come (or the window
# passed): more than a batch of the hub's records, so the window is what answers at our rates.
BROKER_WINDOW_MIN_BYTES = 1_048_576
# An idle consumer's fetch: answered at its first byte, else after this long (aiokafka's default).
IDLE_FETCH_WAIT_MS = 500


def fetch_settings(kafka: AIOKafkaConsumer) -> Any | None:
    """The started consumer's fetcher, whose `_fetch_max_wait_ms` and `_fetch_min_bytes` it reads
    anew for every fetch request it builds (aiokafka 0.14: `Fetcher._get_actions_per_node`);
    None when this aiokafka keeps them otherwise (tests/unit/test_broker_hold.py fails then
    rather than the hub paying the broker-held window's idle cost unnoticed)."""
    fetcher = getattr(kafka, "_fetcher", None)
    given = (getattr(kafka, "_fetch_max_wait_ms", 0), getattr(kafka, "_fetch_min_bytes", 0))
    kept = (
        getattr(fetcher, "_fetch_max_wait_ms", None),
        getattr(fetcher, "_fetch_min_bytes", None),
    )
    return fetcher if kept == given else None


class BrokerHold:
    """Which fetch a consumer with the window at the broker asks for next: held for the window
    while records come, answered at the first record once none came for two windows."""

    def __init__(self, kafka: AIOKafkaConsumer, window: float, now: float) -> None:
        self.window = window
        self.window_ms = max(1, int(window * 1000))
        self.fetcher = fetch_settings(kafka)
        if self.fetcher is None:
            log.error("this aiokafka's fetch settings are not where they were: an idle consumer "
                      "keeps fetching every window")  # fmt: skip
        self.busy = True  # the consumer was made asking for the window's fetches
        self.last_records = now  # when records last came (or the consumer started)

    def records_came(self, now: float) -> None:
        """Records came at `now`: the fetches after them are held for the window again."""
        self.last_records = now
        if not self.busy:
            self._ask(self.window_ms, BROKER_WINDOW_MIN_BYTES)
            self.busy = True

    def handled(self, now: float) -> None:
        """A batch was handled: the two windows without records count from now (records that
        came while it was handled wait in the fetcher)."""
        self.last_records = now

    def wait_for(self, now: float) -> float:
        """How long the next `getmany` may wait before the consumer checks whether it is idle."""
        if not self.busy or self.fetcher is None:
            return float("inf")
        return self.last_records + 2 * self.window - now

    def check_idle(self, now: float) -> None:
        """No record for two windows: the fetches held for the window came back empty."""
        if self.busy and self.fetcher is not None and now - self.last_records >= 2 * self.window:
            self._ask(IDLE_FETCH_WAIT_MS, 1)
            self.busy = False

    def _ask(self, max_wait_ms: int, min_bytes: int) -> None:
        # Read by the fetcher when it builds its next request: the one after the records just
        # taken (none is in flight to their broker while they wait to be taken), or after the
        # fetch in flight now.
        if self.fetcher is not None:
            self.fetcher._fetch_max_wait_ms = max_wait_ms
            self.fetcher._fetch_min_bytes = min_bytes
