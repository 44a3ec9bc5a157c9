"""A consumed batch prepared while the batch before it is being saved.

Draining a backlog, the intake role parsed a batch (its Python, in the event loop), then waited
for its save (the insert and the commit's fsync, in a thread) before it fetched and parsed the
next: on the quiet machine the wait was about a quarter of the drain's time (benchmarks/README.md,
h-intake3), a core's time the process sat idle with records waiting. A handler that can split
its work (`PreparingHandler`: `prepare` parses and returns what finishes the batch) has its next
batch fetched and prepared while the batch before it finishes.

What the consumer guaranteed holds: a batch starts finishing only once the batch before it has
finished (per-order order: the saves come one after the other, in the order read), its offsets
are marked for commit only once it finished (at least once), and when a batch fails, it and
the batch prepared after it are read again from their first records (the consumer seeks back to
them), never skipped.
"""

import asyncio
import logging
from collections.abc import Awaitable, Callable, Coroutine, Sequence
from typing import Any, Protocol

from aiokafka import AIOKafkaConsumer, TopicPartition
from aiokafka.errors import KafkaError

from connectors.consumed import ConsumedMessage

log = logging.getLogger(__name__)

Fetched = dict[TopicPartition, list[Any]]
Finish = Callable[[], Coroutine[Any, Any, None]]


class PreparingHandler(Protocol):
    async def handle(self, messages: Sequence[ConsumedMessage]) -> None: ...

    async def prepare(self, messages: Sequence[ConsumedMessage]) -> Finish:
        """What `handle` does before its first wait for a store; the rest, to call once."""
        ...


class Overlap:
    """One consumer's batch being finished, and the batch prepared while it is."""

    def __init__(
        self,
        handler: PreparingHandler,
        group: str,
        handled: Callable[[Fetched], Awaitable[None]],
        again: Callable[[], Awaitable[None]],
    ) -> None:
        self._handler = handler
        self._group = group
        self._handled = handled  # marks a finished batch's offsets for commit
        self._again = again  # the pause before a failed batch is read again
        self._pending: tuple[asyncio.Task[None], Fetched] | None = None

    @property
    def finished(self) -> bool:
        """Nothing being finished, or what is has finished (settle at once)."""
        return self._pending is None or self._pending[0].done()

    async def take(
        self, kafka: AIOKafkaConsumer, fetched: Fetched, messages: Sequence[ConsumedMessage]
    ) -> None:
        """Prepare this batch; once the batch before has finished, start finishing this one."""
        try:
            finish = await self._handler.prepare(messages)
        except Exception:
            log.exception("%s: batch of %d failed; reading it again", self._group, len(messages))
            await self.settle_failed(kafka, fetched)
            return
        if await self.settle(kafka, also=fetched):
            self._pending = (asyncio.create_task(finish()), fetched)
            # The task only starts when this loop next waits. A backlog's fetch comes from
            # aiokafka's buffer without waiting and the next batch's preparation does not wait
            # either, so the save was handed to its thread only once that preparation was done:
            # one after the other, not overlapped (timed per batch: benchmarks/README.md,
            # intake9). Yielding once lets it run to its first wait, the save in its thread.
            await asyncio.sleep(0)

    async def settle(self, kafka: AIOKafkaConsumer, also: Fetched | None = None) -> bool:
        """Wait for the batch being finished and mark it handled. If it failed, it is read
        again, and so is `also` (prepared after it, not started): False then, as it is when
        `also` is given on its own (its preparation failed)."""
        pending, self._pending = self._pending, None
        if pending is not None:
            task, before = pending
            try:
                await task
            except Exception:
                log.exception("%s: batch failed; reading it again", self._group)
                await self._again()
                read_again(kafka, [before] + ([also] if also is not None else []))
                return False
            await self._handled(before)
        return True

    async def settle_failed(self, kafka: AIOKafkaConsumer, fetched: Fetched) -> None:
        """`fetched` failed before it was prepared: the batch before settles, it is read again."""
        if await self.settle(kafka, also=fetched):
            await self._again()
            read_again(kafka, [fetched])

    async def stop(self, kafka: AIOKafkaConsumer, seconds: float) -> None:
        """A stop: the batch being finished is given `seconds` to finish and be marked (a clean
        stop then reads nothing twice); past that it is left, not committed, to be read again
        (and recorded once: the handlers are idempotent)."""
        if self._pending is None:
            return
        task = self._pending[0]
        try:
            await asyncio.wait_for(asyncio.shield(task), seconds)
        except (TimeoutError, asyncio.CancelledError, Exception):
            self._pending = None
            task.cancel()
            return
        await self.settle(kafka)


def read_again(kafka: AIOKafkaConsumer, batches: Sequence[Fetched]) -> None:
    """Each partition of `batches` back to its first record among them (what a commit of its
    own would move past; `seek_to_committed` leaves a partition never committed where it is)."""
    first: dict[TopicPartition, int] = {}
    for fetched in batches:
        for tp, records in fetched.items():
            first[tp] = min(first.get(tp, records[0].offset), records[0].offset)
    for tp, offset in first.items():
        try:
            kafka.seek(tp, offset)
        except KafkaError:
            pass  # taken by a rebalance: its new owner reads it from the committed offset
