"""Commands that lost an optimistic-concurrency race are run again on fresh state."""

import random
import time
from collections.abc import Callable
from typing import TypeVar

from eventsourcing.persistence import IntegrityError

from aggregates.errors import DomainError

T = TypeVar("T")
# Each round of a race has a winner, so this many attempts outlast that many writers at once.
MAX_ATTEMPTS = 30


class ConcurrentChangeError(DomainError):
    """Other writers kept changing what this command needed, past every retry."""

    def __init__(self, what: str) -> None:
        super().__init__(f"{what} could not be recorded: other changes kept conflicting; try again")


def retried(what: str, command: Callable[[], T], attempts: int = MAX_ATTEMPTS) -> T:
    """Run a load-change-save ``command`` again while another writer wins the race.

    A failed save recorded nothing, so running the command again on what it re-reads applies
    its change exactly once.
    """
    for attempt in range(1, attempts + 1):
        try:
            return command()
        except IntegrityError:
            # Jittered backoff, so that writers racing for one aggregate fall out of step.
            time.sleep(random.uniform(0, 0.002 * attempt))
    raise ConcurrentChangeError(what)
