"""Records from the broker to Faust's streams without four tasks for each one.

faust-streaming's consumer hands every fetched record to the topic's conductor through
`Service.wait_first(callback(message), suspend_flow.wait())`: four tasks (the delivery, the flow
suspension, the service's stop and crash events), an `asyncio.wait` and three cancellations for
each record, although the delivery almost never waits (it waits only while the flow is
suspended for a rebalance, the producer's buffer is full, or a stream's queue is full). Here the
delivery is first run at once, as far as it goes without waiting: when it finishes so, nothing
else is needed, and what Faust's loop would do next is the same (it ignores `wait_first`'s
result). When it does wait, the rest of it goes through `wait_first` exactly as before, so a
rebalance or a stop interrupts it as it did.
"""

import asyncio
import types
from collections.abc import Awaitable, Coroutine, Generator
from typing import Any, cast

from faust.transport.drivers.aiokafka import Consumer as AIOKafkaConsumer
from mode.services import WaitResults


def step(coro: Coroutine[Any, Any, Any]) -> Coroutine[Any, Any, Any] | None:
    """Run `coro` until it first waits. None when it finished (its exception raised, as an
    `await` would); otherwise an awaitable that runs the rest of it in whichever task awaits
    it (an asyncio task cannot take over a coroutine already started)."""
    try:
        first = coro.send(None)
    except StopIteration:
        return None
    return _finish(_rest(coro, first))


@types.coroutine
def _rest(coro: Coroutine[Any, Any, Any], waiting_on: Any) -> Generator[Any, Any, Any]:
    # What `await coro` does from here: the future it waits on goes up to the task; what the
    # task sends or throws when that future is done (or the task is cancelled) goes back down.
    while True:
        try:
            sent = yield waiting_on
        except GeneratorExit:
            coro.close()
            raise
        except BaseException as error:  # handed to the coroutine, as `await` would
            try:
                waiting_on = coro.throw(error)
            except StopIteration as done:
                return done.value
        else:
            try:
                waiting_on = coro.send(sent)
            except StopIteration as done:
                return done.value


async def _finish(rest: Generator[Any, Any, Any]) -> Any:
    # A native coroutine around the rest: `wait_first` takes coroutines (it makes tasks).
    return await cast(Awaitable[Any], rest)


def _is_delivery(coros: tuple[Any, ...]) -> bool:
    """The consumer's per-record call: `wait_first(callback(message), suspend_flow.wait())`."""
    return (
        len(coros) == 2
        and asyncio.iscoroutine(coros[0])
        and asyncio.iscoroutine(coros[1])
        and getattr(coros[1], "__qualname__", "").endswith("Event.wait")
    )


class FastDeliveryConsumer(AIOKafkaConsumer):
    """Faust's Kafka consumer, its per-record delivery run at once when it need not wait."""

    async def wait_first(self, *coros: Any, timeout: Any = None) -> Any:
        if timeout is not None or not _is_delivery(coros):
            return await super().wait_first(*coros, timeout=timeout)
        delivery, suspended = coros
        suspended.close()  # never started; a fresh one below if the delivery waits
        rest = step(delivery)
        if rest is None:
            return WaitResults([delivery], [None], False)
        return await super().wait_first(rest, self.suspend_flow.wait())
