"""The consumer's per-record delivery run at once (hub.streaming.drain): finished without a task
when it need not wait; when it waits, the rest runs in the awaiting task, results, errors and
cancellation passed through as `await` passes them; a stop or a suspension still cuts it short."""

import asyncio
from typing import Any

import pytest

from hub.streaming.drain import FastDeliveryConsumer, step

pytestmark = pytest.mark.asyncio


async def test_a_delivery_that_need_not_wait_is_done_at_once() -> None:
    seen: list[int] = []

    async def deliver() -> None:
        async with asyncio.Lock():  # an uncontended lock does not wait
            seen.append(1)

    assert step(deliver()) is None
    assert seen == [1]


async def test_an_error_of_a_delivery_that_did_not_wait_is_raised() -> None:
    async def deliver() -> None:
        raise ValueError("bad record")

    with pytest.raises(ValueError, match="bad record"):
        step(deliver())


async def test_a_waiting_delivery_finishes_in_the_task_that_awaits_the_rest() -> None:
    gate: asyncio.Future[str] = asyncio.get_running_loop().create_future()
    seen: list[str] = []

    async def deliver() -> str:
        seen.append("before")
        got = await gate
        await asyncio.sleep(0)  # a bare yield to the loop, too
        seen.append(got)
        return "done"

    rest = step(deliver())
    assert rest is not None and seen == ["before"]

    async def finish() -> Any:
        return await rest

    task = asyncio.ensure_future(finish())
    await asyncio.sleep(0.01)
    assert not task.done()
    gate.set_result("after")
    assert await task == "done"
    assert seen == ["before", "after"]


async def test_errors_and_cancellation_reach_the_waiting_delivery() -> None:
    loop = asyncio.get_running_loop()
    failing: asyncio.Future[None] = loop.create_future()

    async def deliver(gate: asyncio.Future[None]) -> None:
        await gate

    async def finish(rest: Any) -> Any:
        return await rest

    task = asyncio.ensure_future(finish(step(deliver(failing))))
    await asyncio.sleep(0)
    failing.set_exception(KeyError("k"))
    with pytest.raises(KeyError):
        await task

    cleaned: list[bool] = []

    async def holding() -> None:
        try:
            await loop.create_future()
        finally:
            cleaned.append(True)

    task = asyncio.ensure_future(finish(step(holding())))
    await asyncio.sleep(0)
    task.cancel()
    with pytest.raises(asyncio.CancelledError):
        await task
    assert cleaned == [True]


class _Consumer(FastDeliveryConsumer):  # type: ignore[misc]
    """Only what `Service.wait_first` and the fast path read, without a broker."""

    def __init__(self) -> None:
        self._stopped = asyncio.Event()
        self._crashed = asyncio.Event()
        self.suspend_flow = asyncio.Event()
        self._loop = asyncio.get_running_loop()

    @property
    def loop(self) -> Any:
        return self._loop


async def test_the_consumer_delivers_at_once_or_as_before_when_it_must_wait() -> None:
    consumer = _Consumer()
    seen: list[str] = []

    async def quick() -> None:
        seen.append("quick")

    result = await consumer.wait_first(quick(), consumer.suspend_flow.wait())
    assert seen == ["quick"] and not result.stopped

    # A delivery that waits (a full stream queue) is cut short by a suspension, as before.
    blocked = asyncio.get_running_loop().create_future()

    async def stuck() -> None:
        await blocked
        seen.append("never")

    waiting = asyncio.ensure_future(consumer.wait_first(stuck(), consumer.suspend_flow.wait()))
    await asyncio.sleep(0.01)
    assert not waiting.done()
    consumer.suspend_flow.set()
    await asyncio.wait_for(waiting, 1)
    assert seen == ["quick"]

    # Other calls of wait_first are Faust's own.
    consumer.suspend_flow.clear()
    other = await consumer.wait_first(asyncio.sleep(0, "x"), timeout=1)
    assert other.results == ["x"]
