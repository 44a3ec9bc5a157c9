"""The routing process's side: the work lane run in a child of the API's process.

The child builds the hub from the same settings (the same store and views database), runs the
work lane's followers from their saved positions, and tells the parent after each batch, so
its views lane reads what routing recorded. It speaks with its parent over one pipe:

- parent → child: ``(WAKE, now)`` something new was recorded; ``(ASK, token, now)`` answer
  once everything recorded before it was taken up is delivered; ``(STOP,)``. ``now`` is the
  parent's clock reading when the hub runs on a clock of its own (tests, simulations), else
  None (the child reads the wall clock itself);
- child → parent: ``(READY,)`` once started, ``(RECORDED,)`` after a batch, ``(SERVED,
  token, position, error)`` for an ask (``error``: the text of the pass's failure, or None).

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
from hub.services.followers import OrchestrationFollower
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
    build: Build, settings: Settings, conn: Connection, now: datetime | None, beat: Beat
) -> None:
    """The child's main: route until told to stop, or the parent is gone."""
    logging.basicConfig(
        level=settings.log_level.upper(),
        format="%(asctime)s routing[%(process)d] %(levelname)s %(name)s: %(message)s",
    )
    for ignored in (signal.SIGINT, signal.SIGTERM):  # the parent stops it (STOP)
        signal.signal(ignored, signal.SIG_IGN)
    stopping = threading.Event()
    relayed = None if now is None else RelayedClock(now)
    hub = build(settings.model_copy(update={"routing_process": "off"}), relayed or wall_clock)
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
        hub.start_supply()
        collect_for_batches()
        delivery = hub.delivery
        assert delivery is not None, "the routing process runs embedded delivery"
        hub.orchestrator.progress = alive
        decoded = DecodedLog(hub.store, keep=KEPT_BATCHES * settings.projection_batch_size)
        lane = Lane(
            WORK,
            Watched(decoded, alive),
            delivery.work.followers,
            settings.projection_batch_size,
            delivery.park,
            after_batch=lambda: send(RECORDED),
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


def _answer(send: Callable[..., None], token: int) -> Served:
    def served(position: int, error: Exception | None) -> None:
        send(SERVED, token, position, None if error is None else repr(error))

    return served
