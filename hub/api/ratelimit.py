"""Per-channel rate limits: a token bucket per channel, in this API process.

Each API instance limits on its own, so N instances allow up to N times the rate; put a shared
limiter (gateway) in front when that matters.
"""

import asyncio
import math
import threading
import time
from collections.abc import Callable

from fastapi import Request

from hub.api.problems import ProblemError
from hub.bootstrap import Hub
from hub.services.access import Principal
from schemas.channels import Role
from schemas.problems import Problem


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
        rate, capacity = _bucket(per_minute)
        with self._lock:
            tokens, now = self._refilled(key, rate, capacity)
            # A payload larger than the bucket passes from a full bucket and leaves it in debt,
            # so a big bulk upload waits its turn instead of being refused for ever.
            if tokens >= cost or tokens >= capacity:
                self._buckets[key] = (tokens - cost, now)
                return None
            self._buckets[key] = (tokens, now)
            return max(1.0, math.ceil((cost - tokens) / rate))

    def charge(self, key: str, per_minute: int, cost: int) -> None:
        """Take `cost` tokens from a request already let in (the rest of a bulk payload, counted
        once it is read): the bucket may go into debt, so the next request waits for it."""
        rate, capacity = _bucket(per_minute)
        with self._lock:
            tokens, now = self._refilled(key, rate, capacity)
            self._buckets[key] = (tokens - cost, now)

    def _refilled(self, key: str, rate: float, capacity: float) -> tuple[float, float]:
        now = self._clock()
        tokens, last = self._buckets.get(key, (capacity, now))
        return min(capacity, tokens + (now - last) * rate), now


def _bucket(per_minute: int) -> tuple[float, float]:
    """(tokens per second, capacity)."""
    rate = per_minute / 60.0
    return rate, max(1.0, rate * 10)


async def check_rate(request: Request, hub: Hub, principal: Principal) -> None:
    """429 with Retry-After when the channel is over its rate; call it before reading the body."""
    if principal.role is not Role.CHANNEL or principal.channel_id is None:
        return
    definition = await asyncio.to_thread(hub.access.channel, principal.channel_id)
    limiter: RateLimiter = request.app.state.rate_limiter
    wait = limiter.take(principal.channel_id, definition.rate_limit_per_minute)
    if wait is not None:
        raise ProblemError(
            Problem(
                type="/problems/rate-limited",
                title="Too many requests for this channel",
                status=429,
                detail=f"limit {definition.rate_limit_per_minute}/minute",
            ),
            headers={"Retry-After": str(int(wait))},
        )


async def charge_rate(request: Request, hub: Hub, principal: Principal, items: int) -> None:
    """Charge the rest of a payload that carried `items` orders (the first paid at the door),
    refused ones included: each costs a parse, a rejection record and an exception."""
    if principal.role is not Role.CHANNEL or principal.channel_id is None or items <= 1:
        return
    definition = await asyncio.to_thread(hub.access.channel, principal.channel_id)
    limiter: RateLimiter = request.app.state.rate_limiter
    limiter.charge(principal.channel_id, definition.rate_limit_per_minute, items - 1)
