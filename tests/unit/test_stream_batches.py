"""take_batches on a real Faust agent (Faust's test context): batches as take_events gives them,
acked only after the handler returned, and no wake-up while nothing arrives."""

import asyncio
import time
from collections.abc import AsyncIterator, Callable
from typing import Any

import faust
import pytest

from hub.streaming.batches import take_batches

pytestmark = pytest.mark.asyncio


class Run:
    def __init__(self) -> None:
        self.batches: list[list[bytes]] = []
        self.times: list[float] = []
        self.hold: asyncio.Event | None = None
        self.acked_while_handling: list[bool] = []
        self.waits = 0


async def _agent(
    run: Run, size: int, within: float, early: bool = False, never_empty: bool = False
) -> AsyncIterator[Any]:
    app = faust.App(f"t-batches-{time.monotonic_ns()}", broker="kafka://127.0.0.1:1")
    topic = app.topic("x", value_type=bytes, value_serializer="raw")

    async def handle(stream: Any) -> None:
        waits = stream.wait_for_stopped

        async def counted(*args: Any, **kwargs: Any) -> bool:
            run.waits += 1
            return bool(await waits(*args, **kwargs))

        stream.wait_for_stopped = counted
        if never_empty:  # as if more were always arriving
            stream.channel.empty = lambda: False
        async for batch in take_batches(stream, size, within, early):
            run.times.append(time.monotonic())
            run.acked_while_handling.extend(e.message.acked for e in batch)
            if run.hold is not None:
                await run.hold.wait()
            run.batches.append([e.value for e in batch])

    agent = app.agent(topic, name="batches")(handle)
    return agent.test_context()


async def _until(done: Callable[[], bool], limit: float) -> None:
    deadline = time.monotonic() + limit
    while not done() and time.monotonic() < deadline:
        await asyncio.sleep(0.01)
    await asyncio.sleep(0.05)  # anything wrongly sent after it shows in the batches


async def test_full_batches_go_at_once_and_the_rest_after_the_window() -> None:
    run = Run()
    # A window wide against a busy machine's scheduling delays: the full batches must come well
    # inside it, the partial one not before it.
    async with await _agent(run, 3, 0.5) as ctx:
        start = time.monotonic()
        for n in range(7):
            await ctx.put(str(n).encode())
        await _until(lambda: len(run.batches) == 3, 3.0)

    assert run.batches == [[b"0", b"1", b"2"], [b"3", b"4", b"5"], [b"6"]]
    assert run.times[1] - start < 0.25 and run.times[2] - start >= 0.5
    assert not any(run.acked_while_handling)


async def test_events_are_acked_only_after_the_handler_returned() -> None:
    run = Run()
    run.hold = asyncio.Event()
    async with await _agent(run, 10, 0.01) as ctx:
        placed = [await ctx.put(b"a"), await ctx.put(b"b")]
        await asyncio.sleep(0.1)
        assert run.batches == [] and not any(e.message.acked for e in placed)
        run.hold.set()
        await asyncio.sleep(0.05)
        assert run.batches == [[b"a", b"b"]]
        assert all(e.message.acked for e in placed)


async def test_an_idle_agent_does_not_wake() -> None:
    run = Run()
    async with await _agent(run, 10, 0.01) as ctx:
        await asyncio.sleep(0.1)
        idle_waits = run.waits
        await asyncio.sleep(0.5)  # take_events would wake 50 times
        assert run.waits == idle_waits <= 1
        await ctx.put(b"late")
        await asyncio.sleep(0.1)
    assert run.batches == [[b"late"]]


async def test_closing_early_a_lone_event_goes_at_once() -> None:
    run = Run()
    async with await _agent(run, 10, 1.0, early=True) as ctx:
        start = time.monotonic()
        await ctx.put(b"lone")
        await asyncio.sleep(0.2)
        assert run.batches == [[b"lone"]]
        assert run.times[0] - start < 0.5  # not the window's 1 s
        await ctx.put(b"next")
        await asyncio.sleep(0.2)
    assert run.batches == [[b"lone"], [b"next"]]


async def test_closing_early_a_backlog_still_comes_in_full_batches() -> None:
    run = Run()
    run.hold = asyncio.Event()
    async with await _agent(run, 3, 1.0, early=True) as ctx:
        await ctx.put(b"first")
        await asyncio.sleep(0.05)  # handed over alone; the handler holds while a backlog forms
        for n in range(7):  # into the channel; the agent is still handling "first"
            await ctx.put(str(n).encode(), wait=False)
        start = time.monotonic()
        run.hold.set()
        await asyncio.sleep(0.2)

    assert run.batches == [[b"first"], [b"0", b"1", b"2"], [b"3", b"4", b"5"], [b"6"]]
    assert run.times[-1] - start < 0.5  # the last one short, but nothing more: not the window


async def test_closing_early_the_window_still_bounds_the_wait() -> None:
    run = Run()
    async with await _agent(run, 10, 0.4, early=True, never_empty=True) as ctx:
        start = time.monotonic()
        await ctx.put(b"a")
        await asyncio.sleep(0.03)
        await ctx.put(b"b")
        await _until(lambda: len(run.batches) == 1, 3.0)

    assert run.batches == [[b"a", b"b"]]
    assert 0.39 <= run.times[0] - start < 1.0
