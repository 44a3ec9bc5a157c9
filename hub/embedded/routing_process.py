"""Embedded routing in a second process: the work lane, run by a child of the API's process.

On one interpreter the API, the read models and routing shared a core through the GIL: under
overload routing took the core and acknowledgements waited behind it. Run by a child
(``spawn``: a fresh interpreter, none of the parent's threads or connections), routing has a
core of its own, and the API's process keeps the views lane (``hub.embedded.routing_child``
says what the child does and what the two say to each other over their pipe).

- Nothing is lost or done twice: the followers' positions are the store's (saved with what
  they did), so a new child resumes where the last one stopped, and re-delivery is harmless.
- A child that dies (kill -9, a crash) is started again, after a pause that grows while it
  keeps dying (up to ``LONGEST_PAUSE``). The API keeps answering meanwhile: captures wait for
  the views lane only, and callers waiting for routing (`request()`) are answered at once with
  `Unavailable`, then and until the next child is routing (it catches up what they recorded
  from the saved positions), so nobody waits for a restart.
- A child alive but not working (stopped, deadlocked, stuck in a store call) is found by its
  silence: it marks each look at the log and each chunk of orders in a shared value
  (``routing_child.Beat``); once routing, a child silent for ``Settings.routing_stall_seconds``
  is logged, killed (SIGKILL) and replaced the same way. Its start (building the hub, the
  supply view) is not watched: it cannot be told from a long one.
- `stop()` asks the child to finish its batch and end (``STOP_WAIT`` s, then it is killed).
- Until `start()` (tools, tests, the start-up) and after `stop()`, the lane runs here.
- No API thread writes to the pipe: one sender thread does, merging wake-ups, so a child that
  reads slowly (starting, or routing a backlog) never holds up a request.
"""

import itertools
import logging
import multiprocessing
import threading
import time
from collections.abc import Callable
from datetime import datetime
from multiprocessing.connection import Connection
from multiprocessing.process import BaseProcess

from hub.embedded.delivery import WORK
from hub.embedded.lane import Lane, Served, Unavailable
from hub.embedded.routing_child import ASK, READY, RECORDED, SERVED, STOP, WAKE, Beat, Build, run
from hub.settings import Settings

log = logging.getLogger(__name__)

STOP_WAIT = 20.0  # seconds a stopping child has to finish its batch
FIRST_PAUSE, LONGEST_PAUSE = 0.5, 30.0  # before starting a dead child again
STEADY = 60.0  # a child that ran this long died of something new: the pause starts over
LOOKS_PER_STALL = 4  # how often the parent looks for silence within one stall deadline


class RoutingProcess:
    """A lane (`hub.embedded.delivery.WorkLane`) run by a child process once started: the work
    lane (routing) or, `lane_name` VIEWS, the read models."""

    def __init__(
        self,
        here: Lane,
        wake_views: Callable[[], None],
        build: Build,
        settings: Settings,
        clock: Callable[[], datetime] | None,
    ) -> None:
        self.followers = here.followers
        self.lane_name = here.name
        self._what = "routing process" if here.name == WORK else f"{here.name} process"
        self._here = here
        self._wake_views = wake_views
        self._build = build
        self._settings = settings
        self._clock = clock  # None: the child reads the wall clock itself
        self._context = multiprocessing.get_context("spawn")
        self._state = threading.Condition()
        self._spawning = threading.Lock()
        self._conn: Connection | None = None
        self._child: BaseProcess | None = None
        self._pending: dict[int, Served] = {}  # asks not answered yet, by token
        self._to_ask: list[int] = []  # tokens the sender has not sent yet
        self._woken = False
        self._stopping = False
        self._down = False  # a child ended and the next one is not routing yet
        self._beat: Beat | None = None  # the current child's last sign of life
        self._stall = settings.routing_stall_seconds
        self._tokens = itertools.count()
        self._threads: list[threading.Thread] = []
        self.restarts = 0  # children started again after one died
        self.hangs = 0  # children killed for their silence
        self.ready = threading.Event()  # the current child is routing

    @property
    def running(self) -> bool:
        return bool(self._threads)

    @property
    def pid(self) -> int | None:
        child = self._child
        return None if child is None else child.pid

    def health(self) -> dict[str, object]:
        """For /healthz: the child's pid, whether it routes now, how often it was restarted
        (and of those, how often it was killed as hung), how long since its last sign of life."""
        beat = self._beat
        silent = None if beat is None else max(0.0, time.monotonic() - beat.value)
        return {
            "pid": self.pid,
            "routing": self.ready.is_set(),
            "restarts": self.restarts,
            "hangs": self.hangs,
            "silent_seconds": None if silent is None else round(silent, 1),
        }

    def catch_up(self) -> int:
        """Here when not started; else wait for the child (nothing is delivered here)."""
        if not self.running:
            return self._here.catch_up()
        answered = threading.Event()
        self.request(lambda *_: answered.set())
        answered.wait(STOP_WAIT)
        return 0

    def start(self) -> None:
        if self.running:
            return
        with self._state:
            self._stopping = self._down = False
        self._spawn()
        for name, target in (("send", self._send), ("watch", self._watch)):
            thread = threading.Thread(
                target=target, name=f"orderhub-{self._what.split()[0]}-{name}", daemon=True
            )
            thread.start()
            self._threads.append(thread)

    def stop(self) -> None:
        if not self.running:
            return
        with self._state:
            self._stopping = True
            self._state.notify_all()
        sender, watcher = self._threads
        sender.join(STOP_WAIT)  # then the pipe is ours alone, unless the child stopped reading
        with self._spawning:  # no child is being started, and none will be
            conn, child = self._conn, self._child
        try:
            if conn is not None and not sender.is_alive():
                conn.send((STOP,))
        except OSError:
            pass  # already gone
        if child is not None:
            # The watcher reaps the child (it joins it, sees `_stopping` and returns). Joining
            # here too would race it for the exit status: multiprocessing reads a child the
            # other thread reaped as still alive, and this one would be "killed" after its end.
            watcher.join(STOP_WAIT)
            if watcher.is_alive():
                log.error("the %s did not stop in %.0f s; killing it", self._what, STOP_WAIT)
                child.kill()
            watcher.join()
            child.join(STOP_WAIT)  # only if the watcher ended before its child (it raised)
            if child.is_alive():
                log.error("the %s outlived its watcher; killing it", self._what)
                child.kill()
                child.join()
            log.info("%s %s stopped (exit code %s)", self._what, child.pid, child.exitcode)
        watcher.join()
        self._threads = []
        with self._state:
            let_go, self._pending, self._to_ask = list(self._pending.values()), {}, []
            if self._conn is not None:
                self._conn.close()
            self._conn, self._child = None, None
        for served in let_go:  # no answer will come: nobody waits for it
            served(0, None)
        self._here.forget_positions()  # the child moved them

    def nudge(self) -> None:
        with self._state:
            self._woken = True
            self._state.notify_all()

    def request(self, on_served: Served) -> None:
        with self._state:
            now = not self._threads or self._stopping
            down = not now and self._down
            if not (now or down):
                token = next(self._tokens)
                self._pending[token] = on_served
                self._to_ask.append(token)
                self._state.notify_all()
        if down:
            on_served(0, Unavailable(f"the {self._what} is starting again"))
        elif now:
            on_served(0, None)

    def _now(self) -> datetime | None:
        return None if self._clock is None else self._clock()

    def _spawn(self) -> None:
        with self._spawning:
            if not self._stopping:
                self._spawn_one()

    def _spawn_one(self) -> None:
        ours, theirs = self._context.Pipe()
        beat = self._context.RawValue("d", time.monotonic())
        child = self._context.Process(
            target=run,
            args=(self._build, self._settings, theirs, self._now(), beat, self.lane_name),
            name=f"orderhub-{self.lane_name}",
            daemon=True,  # ends with the API's process, whatever happens to it
        )
        child.start()
        theirs.close()  # the child's end is the child's alone: its death closes the pipe
        log.info("the %s lane runs in process %s", self.lane_name, child.pid)
        with self._state:
            old, self._conn, self._child, self._beat = self._conn, ours, child, beat
            self._to_ask = list(self._pending)  # none: they were answered when it went down
            self._woken = True
            self._state.notify_all()
        if old is not None:
            old.close()

    def _send(self) -> None:
        while True:
            with self._state:
                self._state.wait_for(lambda: self._woken or self._to_ask or self._stopping)
                if self._stopping:
                    return
                conn, asks, woken = self._conn, self._to_ask, self._woken
                self._to_ask, self._woken = [], False
            now = self._now()
            try:
                assert conn is not None
                if asks:  # the captures of a moment asked together: one message
                    conn.send((ASK, asks, now))
                if woken:
                    conn.send((WAKE, now))
            except OSError:
                pass  # the child died: the watcher answers the asks and starts another

    def _watch(self) -> None:
        pause = FIRST_PAUSE
        while True:
            with self._state:
                conn, child = self._conn, self._child
            assert conn is not None and child is not None
            started = time.monotonic()
            self._listen(conn, child)
            self._went_down()
            child.join()
            with self._state:
                if self._stopping:
                    return
            if time.monotonic() - started > STEADY:
                pause = FIRST_PAUSE
            log.error(
                "the %s %s ended (exit code %s); starting another in %.1f s",
                self._what,
                child.pid,
                child.exitcode,
                pause,
            )
            with self._state:
                if self._state.wait_for(lambda: self._stopping, pause):
                    return
            pause = min(pause * 2, LONGEST_PAUSE)
            self.restarts += 1
            try:
                self._spawn()
            except Exception:  # the next round pauses longer and tries again
                log.exception("the %s could not be started", self._what)

    def _went_down(self) -> None:
        """The child ended, or is to: whoever waits for it is told at once (`Unavailable`), and
        so is whoever asks until the next one is routing."""
        with self._state:
            self.ready.clear()
            self._down = True
            let_go, self._pending, self._to_ask = list(self._pending.values()), {}, []
        for served in let_go:
            served(0, Unavailable(f"the {self._what} ended; another is being started"))

    def _listen(self, conn: Connection, child: BaseProcess) -> None:
        """Hear the child until its end of the pipe closes; kill it if it falls silent."""
        while True:
            self._look_for_silence(child)
            try:
                if not conn.poll(self._stall / LOOKS_PER_STALL):
                    continue
                message = conn.recv()
            except (EOFError, OSError):
                return
            kind = message[0]
            if kind == RECORDED:
                self._wake_views()
            elif kind == SERVED:
                self._served(*message[1:])
            elif kind == READY:
                with self._state:
                    self._down = False
                    self.ready.set()

    def _served(self, tokens: list[int], position: int, error: str | None) -> None:
        with self._state:
            answered = [self._pending.pop(token, None) for token in tokens]
        failed = None if error is None else RoutingError(error)
        for served in answered:
            if served is not None:
                served(position, failed)

    def _look_for_silence(self, child: BaseProcess) -> None:
        """A routing child silent past the deadline is hung: kill it (its pipe then closes)."""
        beat = self._beat
        if beat is None or not self.ready.is_set():
            return  # starting: not watched
        silent = time.monotonic() - beat.value
        if silent <= self._stall:
            return
        log.error(
            "the %s %s has shown no sign of life for %.1f s (more than "
            "ORDERHUB_ROUTING_STALL_SECONDS=%.0f): taking it for hung, killing it",
            self._what,
            child.pid,
            silent,
            self._stall,
        )
        self.hangs += 1
        self._went_down()
        child.kill()


class RoutingError(RuntimeError):
    """A pass of the routing process failed (its text, as the child reported it)."""
