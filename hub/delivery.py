"""Embedded mode's transport: from the store's log to the followers, in-process."""

import threading
from collections.abc import Sequence
from typing import Protocol

from hub.store import OrderStore
from schemas.envelope import EventEnvelope

STREAM = "notification_log"


class Follower(Protocol):
    def apply(self, envelopes: Sequence[EventEnvelope], positions: dict[str, int]) -> None: ...

    def positions(self) -> dict[str, int]: ...


class InProcessDelivery:
    """Follows the notification log like a Kafka consumer would, with the same handlers.

    Each follower keeps its own position in the log, saved with its rows, so a restart resumes
    and a crash between a save and its delivery is caught up by the next call. Followers that
    record new events (the orchestrator) are followed round again until nothing is new.
    """

    def __init__(self, store: OrderStore, followers: list[Follower], batch_size: int) -> None:
        self._store = store
        self._followers = followers
        self._batch_size = batch_size
        self._lock = threading.Lock()

    def catch_up(self) -> int:
        """Deliver everything recorded so far; returns the number of deliveries made."""
        delivered = 0
        with self._lock:
            while True:
                before = delivered
                for follower in self._followers:
                    delivered += self._drain(follower)
                if delivered == before:
                    return delivered

    def _drain(self, follower: Follower) -> int:
        delivered = 0
        while True:
            after = follower.positions().get(STREAM)
            batch = self._store.read_envelopes(after, self._batch_size)
            if not batch:
                return delivered
            follower.apply([env for _, env in batch], {STREAM: batch[-1][0]})
            delivered += len(batch)
