"""The outbox relay: publishes the event store's notification log to Kafka, in order."""

import asyncio
import logging
from collections.abc import Awaitable, Callable, Sequence
from typing import Any, Protocol

from connectors.codec import OutboundRecord, envelope_to_record
from connectors.publisher import Publisher
from schemas.envelope import EventEnvelope

log = logging.getLogger(__name__)

STREAM = "notification_log"
# Events after a position, up to a limit: each with its position and what it was read as.
Batch = list[tuple[int, Any]]


class EventSource(Protocol):
    def read_envelopes(self, after: int | None, limit: int) -> list[tuple[int, EventEnvelope]]: ...


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
        self.published = 0

    async def publish_next_batch(self) -> int:
        """Publish the next batch after the saved position; returns how many events went out."""
        if not self._loaded:
            self._drop_read_ahead()
            self._save_at = None  # re-read from the saved position: what came after goes again
            self._position = await asyncio.to_thread(self._positions.get, STREAM)
            self._loaded = True
        batch = await self._read(self._position)
        if not batch:
            return 0
        encode = self._encode
        records = [record for _, event in batch for record in encode(event)]
        last = batch[-1][0]
        if len(batch) == self._batch_size:
            # A backlog: the next batch is read while the broker acknowledges this one. It is
            # published only after this one was acknowledged and its position saved, so a
            # failure here never lets a later event of a key reach Kafka before an earlier one.
            self._read_ahead = (last, asyncio.ensure_future(self._read_thread(last)))
        try:
            await self._publisher.publish(records)
        except BaseException:
            self._drop_read_ahead()
            raise
        self._position = last
        self.published += len(batch)
        if self._save_at is None:
            self._save_at = asyncio.get_running_loop().time() + self._save_every
        await self.save_position(due_only=True)
        return len(batch)

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
            if sent == 0:
                await self._idle(stop, backoff, failed)

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
