"""Reading what the hub put on a topic, from the beginning, with a deadline."""

import asyncio
import time
from collections.abc import Callable

from aiokafka import AIOKafkaConsumer

from connectors.consumed import ConsumedMessage
from hub.streaming.plain_batches import consumed as consumed_message


async def read_topic(
    bootstrap: str,
    topic: str,
    until: Callable[[list[ConsumedMessage]], bool],
    timeout: float = 60.0,
) -> list[ConsumedMessage]:
    """Every record of the topic (all partitions) until `until(records)` holds, or fail."""
    consumer = AIOKafkaConsumer(
        topic,
        bootstrap_servers=bootstrap,
        group_id=None,
        auto_offset_reset="earliest",
        enable_auto_commit=False,
    )
    await consumer.start()
    records: list[ConsumedMessage] = []
    deadline = time.monotonic() + timeout
    try:
        while not until(records):
            if time.monotonic() > deadline:
                raise AssertionError(
                    f"{topic}: condition not met within {timeout}s; got {len(records)} records"
                )
            batches = await consumer.getmany(timeout_ms=500)
            for messages in batches.values():
                records += [consumed_message(m) for m in messages]
            await asyncio.sleep(0)
    finally:
        await consumer.stop()
    return records
