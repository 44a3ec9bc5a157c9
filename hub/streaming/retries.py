"""Bounded retries for consumers, with one exception: an outage is waited out, never parked."""

import asyncio
import logging
import sqlite3
from collections.abc import Awaitable, Callable
from typing import TypeVar

import psycopg
from aiokafka.errors import KafkaConnectionError, KafkaTimeoutError

log = logging.getLogger(__name__)
T = TypeVar("T")


async def with_retries(
    call: Callable[[], Awaitable[T]], attempts: int, what: str, base_delay: float = 0.2
) -> T:
    """Retry a few times; while the database or the broker is unreachable, wait for it.

    An outage is not a poison message: parking the batch would lose acknowledged work.
    """
    attempt = 0
    while True:
        attempt += 1
        try:
            return await call()
        except Exception as error:
            outage = is_outage(error)
            if attempt >= attempts and not outage:
                raise
            log.warning("%s failed (%r, attempt %d); retrying", what, error, attempt)
            await asyncio.sleep(min(base_delay * 2 ** min(attempt, 10), 10.0))


def is_outage(error: BaseException) -> bool:
    """Errors that mean "cannot reach it now", as opposed to "this message is wrong"."""
    if isinstance(error, sqlite3.OperationalError):
        return any(word in str(error) for word in ("locked", "busy"))
    return isinstance(
        error,
        psycopg.OperationalError
        | ConnectionError
        | TimeoutError
        | KafkaConnectionError
        | KafkaTimeoutError,
    )
