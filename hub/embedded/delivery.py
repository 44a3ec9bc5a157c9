"""Embedded mode's transport: from the store's log to the followers, in-process."""

import asyncio
import logging
import threading
from collections.abc import Callable

from hub.services.followers import Follower
from hub.store import OrderStore
from schemas.envelope import EventEnvelope

log = logging.getLogger(__name__)
STREAM = "notification_log"


# (follower name, the event it could not handle, the error) → keep it where people look.
Park = Callable[[str, EventEnvelope, Exception], None]
# Told, from the delivery thread, that the pass a caller waits for is done (and its error).
Served = Callable[[Exception | None], None]


class InProcessDelivery:
    """Follows the notification log like a Kafka consumer would, with the same handlers.

    Each follower keeps its own position in the log, saved with its rows, so a restart resumes
    and a crash between a save and its delivery is caught up by the next call. Each batch of
    the log is read and decoded once and handed to every follower that has not seen it yet.
    Followers that record new events (the orchestrator) are followed round again until
    nothing is new. An event a follower cannot handle is parked and passed, so it never blocks
    what follows.

    Once `start()`ed, one background thread runs the passes; `deliver()` (`delivered()` from
    async code) asks for a pass and waits for it, so that concurrent requests share passes
    instead of queueing for one each.
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
        self._passes = _Passes()
        self._thread: threading.Thread | None = None

    def catch_up(self) -> int:
        """Deliver everything recorded so far; returns the number of deliveries made."""
        with self._lock:
            delivered = 0
            # Read once per pass; only this delivery moves the positions while it runs.
            positions = [follower.positions().get(STREAM) for follower in self._followers]
            while True:
                known = [p for p in positions if p is not None]
                after = min(known) if len(known) == len(positions) else None
                batch = self._store.read_envelopes(after, self._batch_size)
                if not batch:
                    return delivered
                for i, follower in enumerate(self._followers):
                    seen = positions[i]
                    unseen = batch if seen is None else [b for b in batch if b[0] > seen]
                    if unseen:
                        self._apply(follower, unseen)
                        positions[i] = unseen[-1][0]
                        delivered += len(unseen)

    def start(self) -> None:
        """Run delivery passes on a background thread from now on (embedded API)."""
        if self._thread is None:
            self._passes = _Passes()  # a delivery stopped before may be started again
            self._thread = threading.Thread(target=self._run, name="orderhub-delivery", daemon=True)
            self._thread.start()

    def stop(self) -> None:
        thread, self._thread = self._thread, None
        if thread is not None:
            self._passes.stop()
            thread.join()

    def deliver(self, wait: float) -> None:
        """Everything recorded before this call delivered (and what it led to), or `wait` s
        passed: then the pass goes on in the background. Without a thread, delivers here."""
        if self._thread is None:
            self.catch_up()
            return
        served = threading.Event()
        outcome: list[Exception | None] = []

        def on_served(error: Exception | None) -> None:
            outcome.append(error)
            served.set()

        self._passes.request(on_served)
        if served.wait(wait) and outcome[0] is not None:
            raise outcome[0]

    async def delivered(self, wait: float) -> None:
        """`deliver()` for the event loop: the wait holds no thread. Requests waiting in worker
        threads filled asyncio's small default pool under load, so the orders they were to
        record queued behind them and each pass served a handful: throughput collapsed."""
        if self._thread is None:
            await asyncio.to_thread(self.catch_up)
            return
        loop = asyncio.get_running_loop()
        served: asyncio.Future[None] = loop.create_future()

        def on_served(error: Exception | None) -> None:
            try:
                loop.call_soon_threadsafe(_settle, served, error)
            except RuntimeError:  # the loop closed while the pass ran: nobody waits any more
                pass

        self._passes.request(on_served)
        try:
            async with asyncio.timeout(wait):
                await served
        except TimeoutError:
            return

    def _run(self) -> None:
        while self._passes.next_pass():
            error: Exception | None = None
            try:
                self.catch_up()
            except Exception as failed:  # reported to the callers; the next pass retries
                log.exception("in-process delivery failed")
                error = failed
            self._passes.done(error)

    def _apply(self, follower: Follower, batch: list[tuple[int, EventEnvelope]]) -> None:
        try:
            follower.apply([env for _, env in batch], {STREAM: batch[-1][0]})
        except Exception:
            log.exception("%s failed on a batch; delivering one by one", _name(follower))
            self._one_by_one(follower, batch)

    def _one_by_one(self, follower: Follower, batch: list[tuple[int, EventEnvelope]]) -> None:
        for position, env in batch:
            try:
                follower.apply([env], {STREAM: position})
            except Exception as error:
                log.exception("%s cannot handle %s; parking it", _name(follower), env.id)
                if self._park is not None:
                    self._park(_name(follower), env, error)
                follower.apply([], {STREAM: position})  # move past it


class _Passes:
    """Requests for delivery passes, numbered: a pass that starts after a request serves it,
    and every request made while a pass runs is served by the next one. A request is told
    it was served (with the pass's error, if any) by its callback, from the delivery thread."""

    def __init__(self) -> None:
        self._changed = threading.Condition()
        self._requested = 0
        self._started = 0
        self._waiting: list[tuple[int, Served]] = []
        self._stopping = False

    def request(self, on_served: Served) -> None:
        with self._changed:
            if self._stopping:
                serve = True
            else:
                serve = False
                self._requested += 1
                self._waiting.append((self._requested, on_served))
                self._changed.notify_all()
        if serve:
            on_served(None)

    def next_pass(self) -> bool:
        """Wait for a request; False when stopping."""
        with self._changed:
            self._changed.wait_for(lambda: self._requested > self._started or self._stopping)
            if self._stopping:
                return False
            self._started = self._requested
            return True

    def done(self, error: Exception | None) -> None:
        with self._changed:
            finished = self._started
            served = [s for ticket, s in self._waiting if ticket <= finished]
            self._waiting = [(t, s) for t, s in self._waiting if t > finished]
        for on_served in served:
            on_served(error)

    def stop(self) -> None:
        """No pass will come: every waiting request is let go (without an error)."""
        with self._changed:
            self._stopping = True
            served = [s for _, s in self._waiting]
            self._waiting = []
            self._changed.notify_all()
        for on_served in served:
            on_served(None)


def _settle(served: asyncio.Future[None], error: Exception | None) -> None:
    if served.done():  # its caller stopped waiting
        return
    if error is None:
        served.set_result(None)
    else:
        served.set_exception(error)


def _name(follower: Follower) -> str:
    return str(getattr(follower, "name", type(follower).__name__))
