"""Publishing records to Kafka with the settings events need: acks=all and idempotence."""

import asyncio
from collections.abc import Sequence
from typing import Protocol

from aiokafka import AIOKafkaProducer

from connectors.codec import OutboundRecord


class Publisher(Protocol):
    async def publish(self, records: Sequence[OutboundRecord]) -> None:
        """Return only when every record is acknowledged by the broker (or raise)."""


class KafkaPublisher:
    """aiokafka defaults to acks=1 without idempotence; events need both set explicitly."""

    def __init__(self, bootstrap: str, client_id: str = "orderhub") -> None:
        self._producer = AIOKafkaProducer(
            bootstrap_servers=bootstrap,
            client_id=client_id,
            acks="all",
            enable_idempotence=True,
            linger_ms=5,
            max_batch_size=1_048_576,
            compression_type=None,
            request_timeout_ms=30_000,
        )

    async def start(self) -> None:
        await self._producer.start()

    async def stop(self) -> None:
        await self._producer.stop()

    async def publish(self, records: Sequence[OutboundRecord]) -> None:
        # send() only enqueues; the idempotent producer keeps per-partition order across retries,
        # so sending all before awaiting any keeps order and batches on the wire.
        futures = [
            await self._producer.send(
                r.topic, value=r.value, key=r.key, headers=list(r.headers) or None
            )
            for r in records
        ]
        await asyncio.gather(*futures)


class RecordingPublisher:
    """A fake for tests: keeps what it was asked to publish."""

    def __init__(self) -> None:
        self.records: list[OutboundRecord] = []

    async def publish(self, records: Sequence[OutboundRecord]) -> None:
        self.records.extend(records)
