"""The distributed capture's duplicate check, off the event loop without a pool thread per check.

Each REST capture asks the store whether its order exists (a re-submission is answered from
it). `asyncio.to_thread` per check cost the API more than the store read itself (py-spy: the
executor's work item and futures, the context copy, the wake-up of the loop from the pool
thread: ~7 % of the API's Python CPU against ~3 % for the read). Here one thread of its own
takes the checks queued since its last round and answers them from one read of the store
(`IntakeService.check_existing_many`, which answers each as `check_existing` would), with one
wake-up of the loop per round. What queues during a read goes in the next one.

`gather_seconds`: a round waits that long after its first check for others to join it. When
requests come one at a time (an open loop of a few hundred a second, the flow's), a round held
one check and each order paid a read, a thread's wake-up and the loop's alone. The capture then
hands the round's new orders to the submitted topic together (`SubmissionGateway`, which need
not wait again): the wait is the one the producer's linger made each order pay after its check.

The thread ends after `idle_seconds` without a check and starts again with the next one.
"""

import asyncio
import queue
import threading
import time
from collections.abc import Callable, Sequence

from hub.services.intake import PlaceResult, SubmitOrder

CheckMany = Callable[[Sequence[SubmitOrder]], list[PlaceResult | None]]
_Waiting = tuple[SubmitOrder, asyncio.AbstractEventLoop, "asyncio.Future[PlaceResult | None]"]


class ExistingChecks:
    def __init__(
        self, check_many: CheckMany, idle_seconds: float = 5.0, gather_seconds: float = 0.0
    ) -> None:
        self._check_many = check_many
        self._idle_seconds = idle_seconds
        self._gather_seconds = gather_seconds
        self._queue: queue.SimpleQueue[_Waiting] = queue.SimpleQueue()
        self._lock = threading.Lock()
        self._running = False

    async def check(self, command: SubmitOrder) -> PlaceResult | None:
        """What `check_existing(command)` answers, read in the checks' thread."""
        loop = asyncio.get_running_loop()
        answer: asyncio.Future[PlaceResult | None] = loop.create_future()
        with self._lock:  # the thread cannot end between this put and its next look
            self._queue.put((command, loop, answer))
            if not self._running:
                self._running = True
                threading.Thread(target=self._run, name="existing-checks", daemon=True).start()
        return await answer

    def _run(self) -> None:
        while True:
            try:
                first = self._queue.get(timeout=self._idle_seconds)
            except queue.Empty:
                with self._lock:
                    if self._queue.empty():
                        self._running = False
                        return
                continue
            if self._gather_seconds > 0:
                time.sleep(self._gather_seconds)  # for others to join this round
            waiting = [first]
            while True:
                try:
                    waiting.append(self._queue.get_nowait())
                except queue.Empty:
                    break
            self._answer(waiting)

    def _answer(self, waiting: list[_Waiting]) -> None:
        try:
            results: list[PlaceResult | None] | BaseException = self._check_many(
                [command for command, _, _ in waiting]
            )
        except Exception as error:  # each caller gets it, as from its own read
            results = error
        loops: dict[asyncio.AbstractEventLoop, list[int]] = {}
        for i, (_, loop, _) in enumerate(waiting):
            loops.setdefault(loop, []).append(i)
        for loop, indexes in loops.items():
            futures = [waiting[i][2] for i in indexes]
            answers = (
                results if isinstance(results, BaseException) else [results[i] for i in indexes]
            )
            try:
                loop.call_soon_threadsafe(_settle, futures, answers)
            except RuntimeError:  # that loop has closed: no one waits any more
                continue


def _settle(
    futures: list["asyncio.Future[PlaceResult | None]"],
    answers: list[PlaceResult | None] | BaseException,
) -> None:
    for i, future in enumerate(futures):
        if future.done():  # its request was cancelled (the client went away)
            continue
        if isinstance(answers, BaseException):
            future.set_exception(answers)
        else:
            future.set_result(answers[i])
