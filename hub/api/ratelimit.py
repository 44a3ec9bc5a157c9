"""Per-channel rate limits: a token bucket per channel, in this API process.

Each API instance limits on its own, so N instances allow up to N times the rate; put a shared
limiter (gateway) in front when that matters.
"""

import math
import threading
import time
from collections.abc import Callable


class RateLimiter:
    def __init__(self, clock: Callable[[], float] | None = None) -> None:
        self._clock = clock or time.monotonic
        self._buckets: dict[str, tuple[float, float]] = {}
        self._lock = threading.Lock()

    def take(self, key: str, per_minute: int, cost: int = 1) -> float | None:
        """Take `cost` tokens; None when allowed, else the seconds to wait before retrying.

        The bucket holds ten seconds' worth of requests (at least one), so short bursts pass
        and a sustained flood is held to the rate.
        """
        rate = per_minute / 60.0
        capacity = max(1.0, rate * 10)
        now = self._clock()
        with self._lock:
            tokens, last = self._buckets.get(key, (capacity, now))
            tokens = min(capacity, tokens + (now - last) * rate)
            # A payload larger than the bucket passes from a full bucket and leaves it in debt,
            # so a big bulk upload waits its turn instead of being refused for ever.
            if tokens >= cost or tokens >= capacity:
                self._buckets[key] = (tokens - cost, now)
                return None
            self._buckets[key] = (tokens, now)
            return max(1.0, math.ceil((cost - tokens) / rate))
