"""A plain consumer with its window at the broker (hub.streaming.broker_hold), on the real
broker: idle, it fetches a few times a second, not every window; the first record of an idle
period is handed over about a window later, with what followed it within the window in the same
batch; while records keep coming, one fetch per window."""

import asyncio
import uuid
from collections.abc import Callable, Sequence
from pathlib import Path
from typing import Any

import pytest
from aiokafka import AIOKafkaProducer

from connectors.consumed import ConsumedMessage
from connectors.topics import ensure_topics
from hub.settings import Settings
from hub.streaming.plain_batches import PlainBatchConsumer

pytestmark = [pytest.mark.kafka]
WINDOW = 0.05


class Timed:
    """Keeps every batch's offsets and when it was handed over."""

    def __init__(self) -> None:
        self.batches: list[tuple[float, list[int]]] = []

    async def handle(self, messages: Sequence[ConsumedMessage]) -> None:
        self.batches.append((asyncio.get_running_loop().time(), [m.offset for m in messages]))


def counting_fetches(reader: PlainBatchConsumer) -> list[int]:
    """The fetch requests the consumer's fetcher sends from now on, counted."""
    assert reader.hold is not None and reader.hold.fetcher is not None
    fetcher = reader.hold.fetcher
    sent = [0]
    original = fetcher._proc_fetch_request

    def counted(*args: Any) -> Any:
        sent[0] += 1
        return original(*args)

    fetcher._proc_fetch_request = counted
    return sent


async def until(check: Callable[[], bool], seconds: float = 30.0) -> None:
    async with asyncio.timeout(seconds):
        while not check():
            await asyncio.sleep(0.01)


def idle(reader: PlainBatchConsumer) -> bool:
    return reader.hold is not None and not reader.hold.busy


@pytest.mark.asyncio
async def test_an_idle_consumer_hands_its_first_record_over_at_once_then_holds_the_window(
    tmp_path: Path, kafka_bootstrap: str
) -> None:
    topic = f"t{uuid.uuid4().hex[:8]}.orderhub.orders.events"
    await ensure_topics(kafka_bootstrap, {topic: 1})
    settings = Settings(_env_file=None, data_dir=tmp_path, kafka_bootstrap=kafka_bootstrap)  # type: ignore[call-arg]
    handler = Timed()
    reader = PlainBatchConsumer(settings, [topic], f"{topic}.g", handler, 500, window=WINDOW)
    assert reader.window_at_broker
    producer = AIOKafkaProducer(bootstrap_servers=kafka_bootstrap, acks="all")
    await producer.start()
    task = asyncio.create_task(reader.run())
    loop = asyncio.get_running_loop()
    try:
        await until(lambda: idle(reader))
        await asyncio.sleep(0.1)  # the fetch held for the window before the switch came back
        fetches = counting_fetches(reader)
        await asyncio.sleep(1.0)
        # Idle: answered at the first record or after 500 ms (every 50 ms before, ~20 a second).
        assert fetches[0] <= 3

        # One record: handed over at once, alone (a fetch held for the window would take 50 ms).
        await producer.send_and_wait(topic, b"lone")
        sent = loop.time()
        await until(lambda: len(handler.batches) == 1, 5.0)
        waited = handler.batches[0][0] - sent
        assert handler.batches[0][1] == [0]
        assert waited < WINDOW * 0.7, waited

        # A burst after an idle spell: the first record answers the idle fetch and goes alone,
        # the rest, sent after it, comes in one fetch held for the window.
        await until(lambda: idle(reader))
        await producer.send_and_wait(topic, b"first")
        await asyncio.sleep(0.01)
        for n in range(4):
            await producer.send(topic, b"more %d" % n)
        await producer.flush()
        await until(lambda: sum(len(b) for _, b in handler.batches) == 6, 5.0)
        burst = [b for _, b in handler.batches[1:]]
        assert burst[0][0] == 1 and [o for b in burst for o in b] == [1, 2, 3, 4, 5]
        assert len(burst) <= 2, burst
        assert reader.hold is not None and reader.hold.busy

        # Records every 10 ms for half a second: one fetch per window, not one per record.
        await until(lambda: idle(reader))
        fetches = counting_fetches(reader)
        for n in range(50):
            await producer.send(topic, b"steady %d" % n)
            await asyncio.sleep(0.01)
        await producer.flush()
        await until(lambda: sum(len(b) for _, b in handler.batches) == 56, 5.0)
        steady = handler.batches[1 + len(burst) :]
        assert [o for _, b in steady for o in b] == list(range(6, 56))
        # ~0.5 s at 50 ms a window (scheduling on a loaded machine stretches the sends).
        assert len(steady) <= 16, [len(b) for _, b in steady]
        assert fetches[0] <= len(steady) + 3
    finally:
        task.cancel()
        await asyncio.gather(task, return_exceptions=True)
        await producer.stop()
