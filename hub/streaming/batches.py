"""Batches of a Faust stream's events that wait for their first event instead of ticking.

faust-streaming's `Stream.take_events(max_, within)` wakes every `within` seconds whether or not
anything arrived (each wake is a `Service.wait` building futures and tasks): an agent with
nothing to do cost 10-15 ms of CPU a second, and a hub's seven agents, most of them idle at any
moment (dead letters, channel intake, the fulfillment role in a quiet hour), some 0.1 core
(py-spy, benchmarks/README.md). `take_batches` is that method with one change: an empty buffer
waits for its first event, with no timeout; from the first event, the batch is handed over
when it is full or `within` seconds later, as before, or (with `early`) as soon as the stream's
channel holds nothing more: the consumer delivers a whole fetch into the channel before the
stream takes the first of it, so an empty channel means nothing more has arrived. A lone
order then goes at once instead of waiting out the window (up to 50 ms on each hop of its way
to a decision), while a backlog still fills its batches: the channel refills faster than a batch
is handled.

Everything else is Faust's own: the stream is drained passively into the buffer by a processor,
acks are off while buffering, and each batch's events are acked after the handler returned
(at least once: a crash during the handler leaves the batch unacknowledged). It is registered
with the stream's buffering generators so that stopping the stream closes it. It leans on the
same stream internals as `take_events` in the locked faust-streaming version; a test drives it
through Faust's own test context.
"""

import asyncio
from collections.abc import AsyncGenerator, Sequence
from typing import Any

from mode.utils.aiter import aiter
from mode.utils.futures import notify


def take_batches(
    stream: Any, max_: int, within: float, early: bool = False
) -> AsyncGenerator[Sequence[Any], None]:
    """The stream's events in batches, registered with the stream as Faust registers
    `take_events` (so that stopping the stream closes the generator). With `early`, a batch
    also goes when nothing more waits in the stream's channel."""
    batches = _batches(stream, max_, within, early)
    stream._active_agens.add(batches)
    return batches


async def _batches(
    stream: Any, max_: int, within: float, early: bool
) -> AsyncGenerator[Sequence[Any], None]:
    events: list[Any] = []
    started = asyncio.Event()  # the buffer holds an event
    full = asyncio.Event()
    ready = asyncio.Event()  # full, or (early) nothing more waiting in the channel
    # A channel that is not a queue (an iterator) cannot say it is empty: the window alone.
    channel_empty = getattr(stream.channel, "empty", None) if early else None
    consumed = asyncio.Event()
    consuming: asyncio.Future[Any] | None = None

    async def add_to_buffer(value: Any) -> Any:
        nonlocal consuming
        try:
            if consuming is not None:  # a batch is being handed over: wait for the next
                try:
                    await consuming
                finally:
                    consuming = None
            event = stream.current_event
            if event is None:
                raise RuntimeError("take buffer found current_event is None")
            events.append(event)
            started.set()
            if channel_empty is not None and channel_empty():
                ready.set()
            if len(events) >= max_:
                ready.set()
                full.set()
                consumed.clear()
                await stream.wait(consumed)
        except asyncio.CancelledError:
            raise
        except Exception as exc:
            stream.log.exception("Error adding to take buffer: %r", exc)
            await stream.crash(exc)
        return value

    enable_acks = stream.enable_acks
    stream.enable_acks = False  # acked here, after the handler returned
    stream.add_processor(add_to_buffer)
    stream._enable_passive(aiter(stream.channel))  # as take_events does
    try:
        while not stream.should_stop:
            if not events and await stream.wait_for_stopped(started):
                break
            await stream.wait_for_stopped(ready, timeout=within)
            if not events:
                continue
            consuming = stream.loop.create_future()
            try:
                yield list(events)
            finally:
                for event in events:
                    await stream.ack(event)
                events.clear()
                started.clear()
                notify(consuming)
                full.clear()
                ready.clear()
                consumed.set()
    finally:
        stream.enable_acks = enable_acks
        stream._processors.remove(add_to_buffer)
