"""The outbox relay: publishes the event store's notification log to Kafka, in order."""

import asyncio
import logging
from collections import deque
from collections.abc import Awaitable, Callable, Sequence
from typing import Any, Protocol, cast

from connectors.codec import OutboundRecord, envelope_to_record
from connectors.publisher import Publisher
from schemas.envelope import EventEnvelope

log = logging.getLogger(__name__)

STREAM = "notification_log"
# Events after a position, up to a limit: each with its position and what it was read as.
Batch = list[tuple[int, Any]]


class ShortRead(list[tuple[int, Any]]):
    """A batch its reader cut short by bytes, not at the log's end: more follows at once (a
    read of `batch_size` large events held them all in memory at once, decoded, then encoded:
    a backlog of rejected 10 MB files would have taken tens of GB)."""


class EventSource(Protocol):
    def read_envelopes(self, after: int | None, limit: int) -> list[tuple[int, EventEnvelope]]: ...


class Pipelined(Protocol):
    """A publisher that takes the next records before the broker acknowledged the last ones
    (connectors.publisher.KafkaPublisher): `enqueue` returns once they are handed, with a
    future done when they are acknowledged; `reset` gives the next records a new producer."""

    async def enqueue(self, records: Sequence[OutboundRecord]) -> "asyncio.Future[Any]": ...

    async def reset(self) -> None: ...


class Wakeups(Protocol):
    """Tells the relay that events were committed (connectors.store_notices)."""

    woken: asyncio.Event
    listening: bool


class PositionStore(Protocol):
    def get(self, stream: str) -> int | None: ...

    def set(self, stream: str, position: int) -> None: ...


class Relay:
    """At-least-once: the position is saved only after the broker acknowledged the whole batch.

    A crash between the two re-publishes that batch on restart; consumers drop the duplicates by
    aggregate id and version. Run one relay per event store: a second would only add duplicates.

    With `save_every`, the position of the batches acknowledged within that many seconds is
    saved once, at the end of them (and on a stop): a crash then re-publishes up to that much.
    Saved after each batch, a steady flow of small batches cost a transaction (a commit, its
    WAL flush) per batch in the database, and a round trip through a thread in the relay.

    With a `Pipelined` publisher and `ahead` > 0, a backlog's next batches (up to `ahead`) are
    handed to it before the broker acknowledged the one before, so that the broker works on
    one while the relay reads and encodes the next, as a producer fed without pause does;
    waiting for each acknowledgement left the relay idle, and the broker idle while it
    encoded. The position still moves only over acknowledged batches, in order. A failure
    resets the publisher (a new producer) once what it held has settled: the broker appended
    of each partition a prefix of what was handed (the idempotent producer's sequence numbers
    refuse a later batch after a refused one), so publishing again from the saved position
    repeats events in order, never puts a later event of a key before an earlier one.
    """

    def __init__(
        self,
        source: EventSource,
        publisher: Publisher,
        positions: PositionStore,
        routes_for: Callable[[EventEnvelope], list[tuple[str, str]]],
        batch_size: int = 500,
        poll_seconds: float = 0.05,
        wakeups: Wakeups | None = None,
        fallback_seconds: float = 1.0,
        save_every: float = 0.0,
        read: Callable[[int | None, int], Batch] | None = None,
        encode: Callable[[Any], Sequence[OutboundRecord]] | None = None,
        ahead: int = 1,
    ) -> None:
        self._source = source
        self._publisher = publisher
        self._positions = positions
        self._routes_for = routes_for
        # The events after a position (read in a thread) and each one's records (encoded on
        # the loop); by default the source's envelopes, each encoded for every route
        # `routes_for` chooses (the hub's relay reads and encodes the stored events without
        # envelopes: hub.stored_records).
        self._read_events = read or self._source.read_envelopes
        self._encode = encode or self._records_of_envelope
        self._batch_size = batch_size
        self._poll_seconds = poll_seconds
        # Woken by the store, the relay reads on each notice and, without one, every
        # `fallback_seconds` (a lost notice delays, never drops); not listening, it polls.
        self._wakeups = wakeups
        self._fallback_seconds = fallback_seconds
        self._position: int | None = None
        self._loaded = False
        self._save_every = save_every
        self._save_at: float | None = None  # when the acknowledged, unsaved position is due
        # The batch after `position`, being read while the one before it is acknowledged.
        self._read_ahead: tuple[int, asyncio.Future[Batch]] | None = None
        pipelined = hasattr(publisher, "enqueue") and hasattr(publisher, "reset")
        self._pipelined = cast(Pipelined, publisher) if pipelined and ahead > 0 else None
        self._ahead = ahead if self._pipelined is not None else 0
        # Batches handed to the publisher, oldest first: last position, events, acknowledged.
        self._pending: deque[tuple[int, int, asyncio.Future[Any]]] = deque()
        self._handed: int | None = None  # the position of the last event handed
        self._caught_up = False  # the last read came back short: it took all there was
        self.published = 0

    async def publish_next_batch(self) -> int:
        """Publish the next batch after the saved position; returns how many events went out
        (were acknowledged)."""
        if not self._loaded:
            self._drop_read_ahead()
            self._save_at = None  # re-read from the saved position: what came after goes again
            self._position = await asyncio.to_thread(self._positions.get, STREAM)
            self._handed = self._position
            self._loaded = True
        try:
            await self._hand_over()
            if not self._pending:
                return 0
            await self._pending[0][2]
        except BaseException:
            await self._abandon()
            raise
        count = self._acknowledged()
        await self.save_position(due_only=True)
        return count

    def _acknowledged(self) -> int:
        """The oldest handed batch is acknowledged: the position moves over it."""
        last, count, _ = self._pending.popleft()
        self._position = last
        self.published += count
        if self._save_at is None:
            self._save_at = asyncio.get_running_loop().time() + self._save_every
        return count

    async def _hand_over(self) -> None:
        """Hand the publisher the batches after the last one handed, while fewer than
        `ahead` + 1 are unacknowledged and the last one read was full (a backlog)."""
        while len(self._pending) <= self._ahead:
            batch = await self._read(self._handed)
            # Full: the log goes on after it (a read cut by its reader's bytes too).
            full = len(batch) == self._batch_size or isinstance(batch, ShortRead)
            self._caught_up = not full
            if not batch:
                return
            encode = self._encode
            records = [record for _, event in batch for record in encode(event)]
            last = batch[-1][0]
            if full:
                # A backlog: the next batch is read while this one is handed and acknowledged.
                self._read_ahead = (last, asyncio.ensure_future(self._read_thread(last)))
            acknowledged = await self._enqueue(records)
            self._pending.append((last, len(batch), acknowledged))
            self._handed = last
            if not full:
                return

    async def _enqueue(self, records: list[OutboundRecord]) -> "asyncio.Future[Any]":
        if self._pipelined is not None:
            return await self._pipelined.enqueue(records)
        # Acknowledged before anything else is handed: `publish` returns only then.
        done = asyncio.get_running_loop().create_future()
        await self._publisher.publish(records)
        done.set_result(None)
        return done

    async def _abandon(self) -> None:
        """After a failure: what was read ahead or handed is dropped (the relay reads again
        from the saved position), the publisher's new producer waiting for what the old one
        held to settle, delivered or refused."""
        self._drop_read_ahead()
        self._loaded = False
        pending, self._pending = self._pending, deque()
        if self._pipelined is not None:
            await self._pipelined.reset()
        for _, _, acknowledged in pending:
            if acknowledged.done() and not acknowledged.cancelled():
                acknowledged.exception()  # retrieved: the first failure is the one raised
            else:
                acknowledged.cancel()

    async def save_position(self, due_only: bool = False) -> None:
        """Save the position of what the broker acknowledged, if not saved yet (`due_only`:
        only once `save_every` has passed since the first batch it covers)."""
        if self._save_at is None or self._position is None:
            return
        if due_only and asyncio.get_running_loop().time() < self._save_at:
            return
        await asyncio.to_thread(self._positions.set, STREAM, self._position)
        self._save_at = None

    async def _read(self, after: int | None) -> Batch:
        ahead, self._read_ahead = self._read_ahead, None
        if ahead is not None and ahead[0] == after:
            return await ahead[1]
        if ahead is not None:
            ahead[1].cancel()
        return await self._read_thread(after)

    def _read_thread(self, after: int | None) -> Awaitable[Batch]:
        return asyncio.to_thread(self._read_events, after, self._batch_size)

    def _records_of_envelope(self, env: EventEnvelope) -> list[OutboundRecord]:
        return [envelope_to_record(topic, env, key) for topic, key in self._routes_for(env)]

    async def _settle(self, seconds: float = 5.0) -> None:
        """On a stop: the batches handed and not yet acknowledged are waited for (a while),
        so that their position is saved and a restart does not publish them again."""
        deadline = asyncio.get_running_loop().time() + seconds
        while self._pending:
            left = deadline - asyncio.get_running_loop().time()
            try:
                await asyncio.wait_for(asyncio.shield(self._pending[0][2]), max(left, 0.0))
            except Exception:
                await self._abandon()
                return
            self._acknowledged()

    def _drop_read_ahead(self) -> None:
        if self._read_ahead is not None:
            self._read_ahead[1].cancel()
            self._read_ahead = None

    async def run(self, stop: asyncio.Event) -> None:
        """Publish until told to stop; errors are logged and retried with backoff, never skipped."""
        try:
            await self._publish_until(stop)
        finally:
            self._drop_read_ahead()
            try:
                await self._settle()
                await self.save_position()
            except Exception:
                log.exception("relay position %s not saved on stop", self._position)

    async def _publish_until(self, stop: asyncio.Event) -> None:
        backoff = self._poll_seconds
        while not stop.is_set():
            if self._wakeups is not None:
                self._wakeups.woken.clear()  # before the read: a notice during it wakes the next
            try:
                await self.save_position(due_only=True)
                sent = await self.publish_next_batch()
                backoff = self._poll_seconds
                failed = False
            except Exception:
                log.exception("relay batch failed; retrying from position %s", self._position)
                self._loaded = False  # re-read the saved position: it is the truth
                sent = 0
                backoff = min(backoff * 2 if backoff else 0.1, 5.0)
                failed = True
            if sent == 0 or self._quiet():
                await self._idle(stop, backoff, failed)

    def _quiet(self) -> bool:
        """Caught up, all of it acknowledged, and no notice since the read began: a read now
        would come back empty, so the relay waits for the next notice (or its fallback) at
        once. Reading again first cost a query and a trip through a thread per notice, about
        as many as the relay's reads that found something while the hub is not saturated."""
        wakeups = self._wakeups
        return (
            wakeups is not None
            and wakeups.listening
            and not wakeups.woken.is_set()
            and self._caught_up
            and not self._pending
        )

    async def _idle(self, stop: asyncio.Event, backoff: float, failed: bool) -> None:
        waits = [stop.wait()]
        timeout = backoff
        if self._wakeups is not None and self._wakeups.listening and not failed:
            waits.append(self._wakeups.woken.wait())
            timeout = self._fallback_seconds
        if self._save_at is not None:  # back when the unsaved position is due
            timeout = min(timeout, max(0.0, self._save_at - asyncio.get_running_loop().time()))
        tasks = [asyncio.ensure_future(w) for w in waits]
        try:
            await asyncio.wait(tasks, timeout=timeout, return_when=asyncio.FIRST_COMPLETED)
        finally:
            for task in tasks:
                task.cancel()
