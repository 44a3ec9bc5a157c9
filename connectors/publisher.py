"""Publishing records to Kafka with the settings events need: acks=all and idempotence."""

import asyncio
import functools
from collections.abc import Sequence
from typing import Protocol

from aiokafka import AIOKafkaProducer
from aiokafka.partitioner import DefaultPartitioner, murmur2

from connectors.codec import OutboundRecord


class Publisher(Protocol):
    async def publish(self, records: Sequence[OutboundRecord]) -> None:
        """Return only when every record is acknowledged by the broker (or raise)."""


# aiokafka's murmur2 is pure Python (py-spy: 9 % of the relay's CPU), and an order's ten-odd
# events, like a source's fulfillment requests, share their key: each key is hashed once.
_hash = functools.lru_cache(maxsize=65_536)(murmur2)


def cached_partitioner(key: bytes | None, all_partitions: list[int], available: list[int]) -> int:
    """aiokafka's (and the Java client's) default partitioner, the same partition for a key,
    with each key's hash remembered."""
    if key is None:
        return int(DefaultPartitioner()(key, all_partitions, available))
    return all_partitions[(int(_hash(key)) & 0x7FFFFFFF) % len(all_partitions)]


class KafkaPublisher:
    """aiokafka defaults to acks=1 without idempotence; events need both set explicitly."""

    def __init__(self, bootstrap: str, client_id: str = "orderhub", linger_ms: int = 5) -> None:
        self._bootstrap = bootstrap
        self._client_id = client_id
        self._linger_ms = linger_ms
        self._producer: AIOKafkaProducer | None = None
        self._starting = asyncio.Lock()

    async def start(self) -> None:
        # The producer binds to the running loop, so it is made here, not in __init__.
        async with self._starting:
            if self._producer is not None:
                return
            producer = AIOKafkaProducer(
                bootstrap_servers=self._bootstrap,
                client_id=self._client_id,
                acks="all",
                enable_idempotence=True,
                linger_ms=self._linger_ms,
                partitioner=cached_partitioner,
                max_batch_size=1_048_576,
                request_timeout_ms=30_000,
            )
            await producer.start()
            self._producer = producer

    async def stop(self) -> None:
        if self._producer is not None:
            await self._producer.stop()
            self._producer = None

    async def publish(self, records: Sequence[OutboundRecord]) -> None:
        if self._producer is None:
            await self.start()
        producer = self._producer
        assert producer is not None
        # send() only enqueues; the idempotent producer keeps per-partition order across retries,
        # so sending all before awaiting any keeps order and batches on the wire.
        futures = [
            await producer.send(r.topic, value=r.value, key=r.key, headers=list(r.headers) or None)
            for r in records
        ]
        await asyncio.gather(*futures)


class RecordingPublisher:
    """A fake for tests: keeps what it was asked to publish."""

    def __init__(self) -> None:
        self.records: list[OutboundRecord] = []

    async def publish(self, records: Sequence[OutboundRecord]) -> None:
        self.records.extend(records)
