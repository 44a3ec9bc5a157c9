"""Per-channel rate limits: a token bucket per channel, in this API process.

Each API instance limits on its own, so N instances allow up to N times the rate; put a shared
limiter (gateway) in front when that matters.

A channel's limit is read from its definition in the store, then kept for `LIMIT_CACHE_SECONDS`
(as API keys are, `hub.services.access.KEY_CACHE_SECONDS`): a channel key's every capture read
the channel's events in a pool thread for it. A redefinition through this process's API is seen
at once (`forget_limit`); one made through another process within that time.
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

LIMIT_CACHE_SECONDS = 5.0


class RateLimiter:
    def __init__(self, clock: Callable[[], float] | None = None) -> None:
        self._clock = clock or time.monotonic
        self._buckets: dict[str, tuple[float, float]] = {}
        self._lock = threading.Lock()
        # channel id -> (when read, per minute); its own clock: a test's bucket clock may stand
        self._limits: dict[str, tuple[float, int]] = {}

    def known_limit(self, channel_id: str) -> int | None:
        """The channel's limit per minute if read less than LIMIT_CACHE_SECONDS ago."""
        found = self._limits.get(channel_id)
        if found is None or time.monotonic() - found[0] >= LIMIT_CACHE_SECONDS:
            return None
        return found[1]

    def remember_limit(self, channel_id: str, per_minute: int) -> None:
        if len(self._limits) > 10_000:  # bounded, whatever the number of channels
            self._limits.clear()
        self._limits[channel_id] = (time.monotonic(), per_minute)

    def forget_limit(self, channel_id: str) -> None:
        self._limits.pop(channel_id, None)

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
    limiter: RateLimiter = request.app.state.rate_limiter
    per_minute = await _limit(limiter, hub, principal.channel_id)
    wait = limiter.take(principal.channel_id, per_minute)
    if wait is not None:
        raise ProblemError(
            Problem(
                type="/problems/rate-limited",
                title="Too many requests for this channel",
                status=429,
                detail=f"limit {per_minute}/minute",
            ),
            headers={"Retry-After": str(int(wait))},
        )


async def charge_rate(request: Request, hub: Hub, principal: Principal, items: int) -> None:
    """Charge the rest of a payload that carried `items` orders (the first paid at the door),
    refused ones included: each costs a parse, a rejection record and an exception."""
    if principal.role is not Role.CHANNEL or principal.channel_id is None or items <= 1:
        return
    limiter: RateLimiter = request.app.state.rate_limiter
    per_minute = await _limit(limiter, hub, principal.channel_id)
    limiter.charge(principal.channel_id, per_minute, items - 1)


async def _limit(limiter: RateLimiter, hub: Hub, channel_id: str) -> int:
    """The channel's limit per minute, read from the store when not known of late (an unknown
    channel raises access.UnknownChannelError, as the read does)."""
    per_minute = limiter.known_limit(channel_id)
    if per_minute is None:
        definition = await asyncio.to_thread(hub.access.channel, channel_id)
        per_minute = definition.rate_limit_per_minute
        limiter.remember_limit(channel_id, per_minute)
    return per_minute
