"""Embedded mode's transport: from the store's log to the followers, in-process."""

import logging
import threading
from collections.abc import Callable, Sequence
from typing import Protocol

from hub.store import OrderStore
from schemas.envelope import EventEnvelope

log = logging.getLogger(__name__)
STREAM = "notification_log"


class Follower(Protocol):
    def apply(self, envelopes: Sequence[EventEnvelope], positions: dict[str, int]) -> None: ...

    def positions(self) -> dict[str, int]: ...


# (follower name, the event it could not handle, the error) → keep it where people look.
Park = Callable[[str, EventEnvelope, Exception], None]


class InProcessDelivery:
    """Follows the notification log like a Kafka consumer would, with the same handlers.

    Each follower keeps its own position in the log, saved with its rows, so a restart resumes
    and a crash between a save and its delivery is caught up by the next call. Followers that
    record new events (the orchestrator) are followed round again until nothing is new. An
    event a follower cannot handle is parked and passed, so it never blocks what follows.
    """

    def __init__(
        self,
        store: OrderStore,
        followers: list[Follower],
        batch_size: int,
        park: Park | None = None,
    ) -> None:
        self._store = store
        self._followers = followers
        self._batch_size = batch_size
        self._park = park
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
            try:
                follower.apply([env for _, env in batch], {STREAM: batch[-1][0]})
            except Exception:
                log.exception("%s failed on a batch; delivering one by one", _name(follower))
                self._one_by_one(follower, batch)
            delivered += len(batch)

    def _one_by_one(self, follower: Follower, batch: list[tuple[int, EventEnvelope]]) -> None:
        for position, env in batch:
            try:
                follower.apply([env], {STREAM: position})
            except Exception as error:
                log.exception("%s cannot handle %s; parking it", _name(follower), env.id)
                if self._park is not None:
                    self._park(_name(follower), env, error)
                follower.apply([], {STREAM: position})  # move past it


def _name(follower: Follower) -> str:
    return str(getattr(follower, "name", type(follower).__name__))
