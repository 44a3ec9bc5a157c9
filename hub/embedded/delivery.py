"""Embedded mode's transport: from the store's log to the followers, in-process, in two lanes."""

import asyncio
import threading
import time
from collections.abc import Callable
from typing import Protocol

from hub.collector import collect_young_after
from hub.embedded.decoded_log import DecodedLog
from hub.embedded.lane import STREAM, Lane, Park, Served, Unavailable, types_read_by
from hub.services.followers import Follower
from hub.store import OrderStore

__all__ = ["STREAM", "VIEWS", "WORK", "InProcessDelivery", "Park"]

VIEWS = "views"  # the read models callers read next: captures wait for this lane
WORK = "work"  # the followers that act and record events (routing): nobody queues behind it
KEPT_BATCHES = 4  # decoded events kept for the lane behind, in batches of the lanes' size
VIEWS_YOUNG_COLLECTED_AFTER = 10_000  # net new containers between young collections, serve
# Rounds of (work lane, then views lane) a caller waits for at most. A round ends settled when
# nothing was recorded while the work lane caught up; under a steady stream of captures
# something always is, and callers were held up to the whole wait (30 s). Each round's work
# pass covers everything recorded before it, so after three the command, what routing recorded
# on it and what that woke are delivered; the answer then says "not settled" (what followed may
# still be on its way).
SETTLE_ROUNDS = 3


class WorkLane(Protocol):
    """A lane as delivery drives it: a `Lane` on a thread of this process, or run by a second
    process (hub.embedded.routing_process)."""

    followers: list[Follower]

    @property
    def running(self) -> bool: ...

    def catch_up(self) -> int: ...

    def start(self) -> None: ...

    def stop(self) -> None: ...

    def nudge(self) -> None: ...

    def request(self, on_served: Served) -> None: ...


# A lane run by another process once started: made from the lane it replaces (run here until
# then) and what to call after each of its batches.
Elsewhere = Callable[[Lane, Callable[[], None]], WorkLane]


class InProcessDelivery:
    """Two lanes over the same log, each on its own thread, each follower from its own position.

    - The views lane keeps the read models (order status, exceptions, audit trail, stock
      levels ...). A capture waits for it only, so an acknowledged order is visible to a read
      at once, however far behind routing is.
    - The work lane runs the followers that act on what they see and record more events: the
      orchestrator (with the backorder view it consults, kept in step with it in the same
      lane) and billing. It runs whenever something new is recorded; what it records is handed
      to the views lane after each of its batches.

    Waiting holds no thread on the event loop (`delivered`, `seen_by_views`): requests waiting
    in worker threads once filled asyncio's small default pool under load, so the orders they
    were to record queued behind them. Without started threads, a caller delivers both lanes
    itself (tools, tests, start-up).
    """

    def __init__(
        self,
        store: OrderStore,
        views: list[Follower],
        work: list[Follower],
        batch_size: int,
        park: Park | None = None,
        elsewhere: Elsewhere | None = None,
        views_elsewhere: Elsewhere | None = None,
    ) -> None:
        # Both lanes read the same events a moment apart: decoded once, for both.
        self.log = DecodedLog(store, keep=KEPT_BATCHES * batch_size)
        self.park = park
        views_here = Lane(VIEWS, self.log, views, batch_size, park)
        # `views_elsewhere`: once started, the read models are kept by another process too,
        # and a capture waits for that process's answer (hub.embedded.routing_process).
        self.views: WorkLane = (
            views_here if views_elsewhere is None else views_elsewhere(views_here, _nothing)
        )
        here = Lane(WORK, self.log, work, batch_size, park, after_batch=self.views.nudge)
        # `elsewhere`: once started, the work lane runs in another process, which wakes the
        # views lane after its batches; until then (tools, tests, start-up) it runs here.
        self.work: WorkLane = here if elsewhere is None else elsewhere(here, self.views.nudge)
        # The run kept for both lanes holds the events some lane reads, only those decoded.
        self.log.decodes = types_read_by(views + work)

    @property
    def followers(self) -> list[Follower]:
        return self.views.followers + self.work.followers

    def catch_up(self) -> int:
        """Deliver everything recorded so far to both lanes, and what that led to; returns the
        number of deliveries made."""
        total = 0
        while delivered := self.work.catch_up() + self.views.catch_up():
            total += delivered
        return total

    def start(self) -> None:
        """Run both lanes on background threads from now on (embedded API)."""
        # The views lane works in batches as the routing process does (hub.embedded.
        # hub.collector.collect_for_batches); the API's requests, between them, make objects
        # that die with the request. A smaller setting than routing's: a collection of the
        # youngest generation pauses whichever thread runs it, a request's among them.
        collect_young_after(VIEWS_YOUNG_COLLECTED_AFTER)
        self.views.start()
        self.work.start()

    def stop(self) -> None:
        self.work.stop()
        self.views.stop()

    def deliver(self, wait: float) -> bool:
        """Everything recorded before this call delivered in both lanes (and what it led to):
        True. False when the work lane could not take it up: it is starting again (told at
        once, `Unavailable`; the read models are then brought up to date with what is
        recorded), or `wait` s passed, or `SETTLE_ROUNDS` rounds did not find both lanes at
        rest (other commands kept coming, or routing's own records led to more than two
        further passes). Either way delivery goes on in the background."""
        if not self.work.running:
            self.catch_up()
            return True
        deadline = time.monotonic() + wait
        for _ in range(SETTLE_ROUNDS):
            try:
                work_at = _waited(self.work, deadline)
            except Unavailable:
                _views_waited(self.views, deadline)
                return False
            views_at = None if work_at is None else _views_waited(self.views, deadline)
            if views_at is None or work_at is None:
                return False
            if views_at <= work_at:
                return True  # nothing was recorded while the work lane caught up: all settled
        return False

    async def delivered(self, wait: float) -> bool:
        """`deliver()` for the event loop."""
        if not self.work.running:
            await asyncio.to_thread(self.catch_up)
            return True
        deadline = time.monotonic() + wait
        for _ in range(SETTLE_ROUNDS):
            try:
                work_at = await _awaited(self.work, deadline)
            except Unavailable:
                await _views_awaited(self.views, deadline)
                return False
            views_at = None if work_at is None else await _views_awaited(self.views, deadline)
            if views_at is None or work_at is None:
                return False
            if views_at <= work_at:
                return True
        return False

    async def seen_by_views(self, wait: float) -> None:
        """Everything recorded before this call is in the read models, or `wait` s passed; the
        work lane is woken for it and not waited for."""
        if not self.work.running:
            await asyncio.to_thread(self.catch_up)
            return
        self.work.nudge()
        await _views_awaited(self.views, time.monotonic() + wait)


def _nothing() -> None:
    """Nothing waits for the views lane's batches."""


def _views_waited(views: WorkLane, deadline: float) -> int | None:
    """`_waited()` for the views lane: None (not settled) while its process starts again; the
    read models catch up from their saved positions once it is back."""
    try:
        return _waited(views, deadline)
    except Unavailable:
        return None


async def _views_awaited(views: WorkLane, deadline: float) -> int | None:
    """`_views_waited()` for the event loop."""
    try:
        return await _awaited(views, deadline)
    except Unavailable:
        return None


def _waited(lane: WorkLane, deadline: float) -> int | None:
    """Wait for a lane to deliver what is recorded now: the position it waited for, or None
    when the deadline passed first. Raises the error of the lane's pass."""
    served = threading.Event()
    outcome: list[tuple[int, Exception | None]] = []

    def on_served(position: int, error: Exception | None) -> None:
        outcome.append((position, error))
        served.set()

    lane.request(on_served)
    if not served.wait(max(0.0, deadline - time.monotonic())):
        return None
    position, error = outcome[0]
    if error is not None:
        raise error
    return position


async def _awaited(lane: WorkLane, deadline: float) -> int | None:
    """`_waited()` for the event loop: the wait holds no thread."""
    loop = asyncio.get_running_loop()
    served: asyncio.Future[int] = loop.create_future()

    def on_served(position: int, error: Exception | None) -> None:
        try:
            loop.call_soon_threadsafe(_settle, served, position, error)
        except RuntimeError:  # the loop closed meanwhile: nobody waits any more
            pass

    lane.request(on_served)
    try:
        async with asyncio.timeout(max(0.0, deadline - time.monotonic())):
            return await served
    except TimeoutError:
        return None


def _settle(served: asyncio.Future[int], position: int, error: Exception | None) -> None:
    if served.done():  # its caller stopped waiting
        return
    if error is None:
        served.set_result(position)
    else:
        served.set_exception(error)
