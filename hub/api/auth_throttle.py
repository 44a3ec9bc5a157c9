"""A throttle on failed authentication: after N failures in a window from one client address,
or naming one key id, further attempts are refused (429 with Retry-After) until the oldest
failure leaves the window.

Attempts are refused *before* the key is checked, so a guesser learns nothing while held. The
memory is bounded: at most `tracked` addresses and key ids are remembered, the least recently
failing forgotten first. Like the rate limiter, each API process counts on its own.
"""

import math
import threading
import time
from collections import OrderedDict, deque
from collections.abc import Callable

from starlette.requests import HTTPConnection

from hub.services.access import KEY_PREFIX, AccessService, NotAuthenticated, Principal
from hub.settings import Settings


class Throttled(Exception):
    def __init__(self, retry_after: int) -> None:
        super().__init__(f"too many failed authentications; retry in {retry_after} s")
        self.retry_after = retry_after


class AuthThrottle:
    def __init__(
        self,
        per_client: int = 10,
        per_key: int = 20,
        window_seconds: float = 60.0,
        tracked: int = 10_000,
        clock: Callable[[], float] | None = None,
    ) -> None:
        self._limits = {"client": per_client, "key": per_key}
        self._window = window_seconds
        self._tracked = tracked
        self._clock = clock or time.monotonic
        self._failures: OrderedDict[tuple[str, str], deque[float]] = OrderedDict()
        self._lock = threading.Lock()

    @classmethod
    def from_settings(cls, settings: Settings) -> "AuthThrottle":
        return cls(
            per_client=settings.auth_failures_per_client,
            per_key=settings.auth_failures_per_key,
            window_seconds=settings.auth_failure_window_seconds,
            tracked=settings.auth_failure_tracked,
        )

    def wait(self, client: str | None, key_id: str | None) -> int | None:
        """Seconds to wait before trying again, or None when an attempt may go ahead."""
        now = self._clock()
        waits = []
        with self._lock:
            for bucket in _buckets(client, key_id):
                times = self._failures.get(bucket)
                if times is None:
                    continue
                while times and times[0] <= now - self._window:
                    times.popleft()
                if len(times) >= self._limits[bucket[0]]:
                    waits.append(times[0] + self._window - now)
        return max(1, math.ceil(max(waits))) if waits else None

    def failed(self, client: str | None, key_id: str | None) -> None:
        now = self._clock()
        with self._lock:
            for bucket in _buckets(client, key_id):
                times = self._failures.pop(bucket, None)
                if times is None:
                    times = deque(maxlen=self._limits[bucket[0]])
                times.append(now)
                self._failures[bucket] = times  # now the most recent
            while len(self._failures) > self._tracked:
                self._failures.popitem(last=False)

    def tracked(self) -> int:
        with self._lock:
            return len(self._failures)


def throttle_of(connection: HTTPConnection) -> AuthThrottle:
    """The app's throttle (made from the hub's settings at start-up, or given by a test)."""
    throttle: AuthThrottle = connection.app.state.auth_throttle
    return throttle


def client_of(connection: HTTPConnection) -> str | None:
    # uvicorn puts the address from X-Forwarded-For here for the proxies it trusts
    # (--forwarded-allow-ips); otherwise it is the peer's.
    return connection.client.host if connection.client is not None else None


def key_id_of(presented: str) -> str | None:
    """The key id an API key names (its public part), if it looks like one of ours."""
    prefix, _, rest = presented.partition("_")
    key_id = rest.partition("_")[0]
    return key_id if prefix == KEY_PREFIX and len(key_id) == 12 else None


def authenticate(
    connection: HTTPConnection, access: AccessService, presented: str
) -> tuple[Principal, str]:
    """Check a presented key under the throttle: Throttled while held, NotAuthenticated (and
    one more failure counted) when it does not authenticate."""
    throttle = throttle_of(connection)
    client = client_of(connection)
    key_id = key_id_of(presented)
    wait = throttle.wait(client, key_id)
    if wait is not None:
        raise Throttled(wait)
    try:
        return access.check(presented)
    except NotAuthenticated:
        throttle.failed(client, key_id)
        raise


def _buckets(client: str | None, key_id: str | None) -> list[tuple[str, str]]:
    found = []
    if client:
        found.append(("client", client))
    if key_id:
        found.append(("key", key_id))
    return found
