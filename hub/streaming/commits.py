"""A plain consumer's handled offsets, committed together and off the consumer's loop.

Committing each batch as it was handled cost a commit request (and its answer) per batch, in the
consumer and in the broker: at a steady rate of small batches, 15 % of the intake role's busy
samples (py-spy, benchmarks/README.md). Held back a little, several batches share one.

The consumer's loop no longer waits for a commit's answer: draining a backlog, the intake role
sat 7-8 % of its time in that wait (a few ms to tens of ms per commit on a busy broker), neither
fetching nor preparing the next batch (timed per batch, benchmarks/README.md, intake9). A
commit is sent as a task of its own, one at a time (the offsets only move forward), while the
loop goes on; the next is sent when it is due and the one before has been answered.

At least once holds: an offset is committed only after its batch was handled; a crash before
the commit's answer reads those batches again (the handlers are idempotent).
"""

import asyncio
import logging

from aiokafka import AIOKafkaConsumer, TopicPartition
from aiokafka.errors import KafkaError

log = logging.getLogger(__name__)


class Commits:
    """Offsets of handled batches (the next to read per partition), and the commit in flight."""

    def __init__(self, group: str, every: float) -> None:
        self.group = group
        self.every = every  # at most this long after the first handled batch (0: each batch)
        self._handled: dict[TopicPartition, int] = {}
        self._due = 0.0
        self._sending: asyncio.Task[None] | None = None

    def handled(self, ends: dict[TopicPartition, int], now: float) -> None:
        """A batch handled: its partitions' next offsets to commit."""
        if not self._handled:
            self._due = now + self.every
        self._handled.update(ends)

    @property
    def waiting(self) -> bool:
        return bool(self._handled)

    def wait(self, now: float) -> float:
        """How long a fetch may wait before a commit is due (a second when none is waiting)."""
        if not self._handled:
            return 1.0
        if self._sending is not None and not self._sending.done():
            return max(self._due - now, 0.005)  # due, but the one before is being answered
        return self._due - now

    def send_if_due(self, kafka: AIOKafkaConsumer, now: float) -> None:
        """Send the handled offsets when due and no commit is being answered, without waiting."""
        if not self._handled or now < self._due:
            return
        if self._sending is not None:
            if not self._sending.done():
                return
            # One that failed otherwise than by a rebalance fails the consumer, as it did
            # when awaited (the consumer is made again and reads from the committed offsets).
            self._sending.result()
        self._sending = asyncio.create_task(self.commit(kafka))

    async def flush(self, kafka: AIOKafkaConsumer) -> None:
        """The commit in flight answered, then what is left committed (each batch, a stop)."""
        if self._sending is not None:
            sending, self._sending = self._sending, None
            await asyncio.shield(sending)
        await self.commit(kafka)

    def cancel(self) -> None:
        """A stop given up on: the commit in flight abandoned (its batches are read again)."""
        if self._sending is not None:
            self._sending.cancel()
            self._sending = None

    async def commit(self, kafka: AIOKafkaConsumer) -> None:
        """Commit the handled batches' offsets (those of the partitions still held)."""
        handled, self._handled = self._handled, {}
        held = kafka.assignment()
        ends = {tp: offset for tp, offset in handled.items() if tp in held}
        if not ends:
            return
        try:
            await kafka.commit(ends)
        except KafkaError as error:
            # A rebalance took the partitions meanwhile: their new owner reads the batches
            # again, and applies what this one applied once (the handlers are idempotent).
            log.warning("%s: commit after a batch failed (%r)", self.group, error)
