"""Polling with a deadline, so tests wait for a condition instead of sleeping a fixed time.

A fixed sleep is either too short on a loaded 2-core machine (flaky) or too long everywhere else
(slow); polling returns as soon as the condition holds and fails with what it last saw.
"""

from __future__ import annotations

import asyncio
import inspect
import time
from collections.abc import Awaitable, Callable
from typing import Any, TypeVar, overload

T = TypeVar("T")

DEFAULT_TIMEOUT = 15.0
DEFAULT_INTERVAL = 0.05


def _failure(message: str, timeout: float, attempts: int, last: object) -> AssertionError:
    return AssertionError(
        f"{message}: condition not met within {timeout:g} s ({attempts} attempts);"
        f" last value: {last!r}"
    )


def wait_for(
    predicate: Callable[[], T],
    *,
    timeout: float = DEFAULT_TIMEOUT,
    interval: float = DEFAULT_INTERVAL,
    message: str = "wait_for",
    ignore: tuple[type[BaseException], ...] = (),
) -> T:
    """Call ``predicate`` until it returns a truthy value and return that value.

    Raises ``AssertionError`` naming ``message`` and the last value (or ignored exception) once
    ``timeout`` seconds have passed. Exceptions of the types in ``ignore`` count as "not yet";
    any other exception propagates at once, because it is a bug rather than a slow condition.
    """
    deadline = time.monotonic() + timeout
    attempts = 0
    last: object = None
    while True:
        attempts += 1
        try:
            value = predicate()
        except ignore as exc:
            last = exc
        else:
            if value:
                return value
            last = value
        # One last attempt after the deadline, so a condition met during the final sleep is seen.
        remaining = deadline - time.monotonic()
        if remaining <= 0:
            raise _failure(message, timeout, attempts, last)
        time.sleep(min(interval, remaining))


@overload
async def async_wait_for(
    predicate: Callable[[], Awaitable[T]],
    *,
    timeout: float = ...,
    interval: float = ...,
    message: str = ...,
    ignore: tuple[type[BaseException], ...] = ...,
) -> T: ...


@overload
async def async_wait_for(
    predicate: Callable[[], T],
    *,
    timeout: float = ...,
    interval: float = ...,
    message: str = ...,
    ignore: tuple[type[BaseException], ...] = ...,
) -> T: ...


async def async_wait_for(
    predicate: Callable[[], Any],
    *,
    timeout: float = DEFAULT_TIMEOUT,
    interval: float = DEFAULT_INTERVAL,
    message: str = "async_wait_for",
    ignore: tuple[type[BaseException], ...] = (),
) -> Any:
    """Async twin of :func:`wait_for`; ``predicate`` may be a plain or an async callable.

    Sleeps with ``asyncio.sleep`` so the consumers and producers under test keep running.
    """
    deadline = time.monotonic() + timeout
    attempts = 0
    last: object = None
    while True:
        attempts += 1
        try:
            result = predicate()
            value = await result if inspect.isawaitable(result) else result
        except ignore as exc:
            last = exc
        else:
            if value:
                return value
            last = value
        remaining = deadline - time.monotonic()
        if remaining <= 0:
            raise _failure(message, timeout, attempts, last)
        await asyncio.sleep(min(interval, remaining))
