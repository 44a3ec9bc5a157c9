"""A lane's process, the child's side: the work lane (routing) or the views lane (the read
models) run in a child of the API's process.

The child builds the hub from the same settings (the same store and views database), runs the
lane's followers from their saved positions, and (routing) tells the parent after each batch,
so the views lane reads what routing recorded. It speaks with its parent over one pipe:

- parent → child: ``(WAKE, now)`` something new was recorded; ``(ASK, tokens, now)`` answer
  once everything recorded before it was taken up is delivered; ``(STOP,)``. ``now`` is the
  parent's clock reading when the hub runs on a clock of its own (tests, simulations), else
  None (the child reads the wall clock itself);
- child → parent: ``(READY,)`` once started, ``(RECORDED,)`` after a batch, ``(SERVED,
  tokens, position, error)`` for an ask (``error``: the text of the pass's failure, or None).

It also looks at the log every ``POLL`` seconds without being woken (events other processes
recorded). Its signs of life are in a value shared with the parent (``Beat``: the time of the
last one): written by the lane's thread at each look at the log (each batch, and each idle
look) and by the orchestrator before each chunk of orders, never by a thread of its own, so a
child that is alive but not working (stopped, deadlocked, stuck in a store call) falls silent
and its parent replaces it (``hub.embedded.routing_process``).

Its life is its parent's: it ignores SIGINT and SIGTERM (Ctrl-C, or a service manager
signalling the whole group, reach the parent, which stops it after its shutdown), and a closed
pipe (the parent died) stops it after the batch in hand.
"""

import logging
import signal
import threading
import time
from collections.abc import Callable, Collection
from datetime import UTC, datetime
from multiprocessing.connection import Connection
from typing import Any, Protocol

from hub.collector import collect_for_batches
from hub.embedded.decoded_log import DecodedLog, Log, Read
from hub.embedded.delivery import KEPT_BATCHES, WORK, InProcessDelivery
from hub.embedded.lane import Lane, Served
from hub.services.followers import Follower, OrchestrationFollower
from hub.settings import Settings
from hub.store import OrderStore

log = logging.getLogger(__name__)

WAKE, ASK, STOP = "wake", "ask", "stop"
READY, RECORDED, SERVED = "ready", "recorded", "served"
POLL = 1.0  # seconds between looks at the log when nobody wakes the child


class Routing(Protocol):
    """What the child needs of the hub it builds (hub.bootstrap.Hub)."""

    store: OrderStore
    delivery: InProcessDelivery | None
    orchestrator: OrchestrationFollower

    def start_supply(self) -> Any: ...

    def close(self) -> None: ...


Build = Callable[[Settings, Callable[[], datetime]], Routing]


class Beat(Protocol):
    """The time (time.monotonic(), one clock for every process of the machine) of the child's
    last sign of life: a ``multiprocessing`` shared double."""

    value: float


class Watched:
    """The lane's log, each look at it a sign of life (before it: a look that hangs is silence)."""

    def __init__(self, log: Log, beat: Callable[[], None]) -> None:
        self._log = log
        self._beat = beat

    def read(self, after: int | None, limit: int, types: Collection[str] | None = None) -> Read:
        self._beat()
        return self._log.read(after, limit, types)

    def max_position(self) -> int:
        self._beat()
        return self._log.max_position()


class RelayedClock:
    """The parent's clock, as of its last message (a hub run on a clock of its own)."""

    def __init__(self, at: datetime) -> None:
        self.at = at

    def __call__(self) -> datetime:
        return self.at


def wall_clock() -> datetime:
    return datetime.now(UTC)


def run(
    build: Build,
    settings: Settings,
    conn: Connection,
    now: datetime | None,
    beat: Beat,
    lane_name: str = WORK,
) -> None:
    """The child's main: run its lane (WORK: routing; VIEWS: the read models) until told to
    stop, or the parent is gone."""
    role = "routing" if lane_name == WORK else lane_name
    logging.basicConfig(
        level=settings.log_level.upper(),
        format=f"%(asctime)s {role}[%(process)d] %(levelname)s %(name)s: %(message)s",
    )
    _name_process(f"hub-{role}")
    for ignored in (signal.SIGINT, signal.SIGTERM):  # the parent stops it (STOP)
        signal.signal(ignored, signal.SIG_IGN)
    stopping = threading.Event()
    relayed = None if now is None else RelayedClock(now)
    alone = {"routing_process": "off", "views_process": "off"}  # no grandchildren
    hub = build(settings.model_copy(update=alone), relayed or wall_clock)
    sending = threading.Lock()

    def alive() -> None:
        beat.value = time.monotonic()

    def send(*message: Any) -> None:
        with sending:
            try:
                conn.send(message)
            except OSError:  # the parent is gone: the loop below ends at the closed pipe
                stopping.set()

    try:
        followers = _followers(hub, lane_name, alive)
        collect_for_batches()
        decoded = DecodedLog(hub.store, keep=KEPT_BATCHES * settings.projection_batch_size)
        lane = Lane(
            lane_name,
            Watched(decoded, alive),
            followers,
            settings.projection_batch_size,
            hub.delivery.park if hub.delivery is not None else None,
            # Routing's batches wake the views lane; nothing waits for the views' batches.
            after_batch=(lambda: send(RECORDED)) if lane_name == WORK else lambda: None,
        )
        lane.start()
        lane.nudge()  # what a crash (of either process) left undelivered
        alive()  # watched from now on: its start took as long as it took
        send(READY)
        try:
            _serve(conn, lane, relayed, send, stopping)
        finally:
            lane.stop()
    finally:
        hub.close()


def _followers(hub: Routing, lane_name: str, alive: Callable[[], None]) -> list[Follower]:
    """The lane's followers in the hub the child built; routing's supply view started first."""
    delivery = hub.delivery
    assert delivery is not None, "the child runs embedded delivery"
    if lane_name != WORK:
        return delivery.views.followers
    hub.start_supply()
    hub.orchestrator.progress = alive
    return delivery.work.followers


def _name_process(name: str) -> None:
    """The name `ps` and /proc show (the benchmarks tell the children apart by it; Linux keeps
    its first 15 bytes)."""
    try:
        with open("/proc/self/comm", "w") as comm:
            comm.write(name[:15])
    except OSError:
        pass  # not Linux: only the name is missing


def _serve(
    conn: Connection,
    lane: Lane,
    clock: RelayedClock | None,
    send: Callable[..., None],
    stopping: threading.Event,
) -> None:
    while not stopping.is_set():
        try:
            if not conn.poll(POLL):
                lane.nudge()
                continue
            message = conn.recv()
        except (EOFError, OSError):
            log.warning("the API process is gone; routing stops")
            return
        kind = message[0]
        if kind == STOP:
            return
        if clock is not None and message[-1] is not None:
            clock.at = message[-1]
        if kind == WAKE:
            lane.nudge()
        elif kind == ASK:
            lane.request(_answer(send, message[1]))


def _answer(send: Callable[..., None], tokens: list[int]) -> Served:
    """One answer for the asks the parent sent together (one pipe message each way per batch
    of captures, not per capture)."""

    def served(position: int, error: Exception | None) -> None:
        send(SERVED, tokens, position, None if error is None else repr(error))

    return served
