"""Publishing records to Kafka with the settings events need: acks=all and idempotence."""

import asyncio
import functools
from collections.abc import Sequence
from typing import Any, Protocol

from aiokafka import AIOKafkaProducer
from aiokafka.errors import MessageSizeTooLargeError
from aiokafka.partitioner import DefaultPartitioner
from aiokafka.producer.message_accumulator import BatchBuilder

from connectors.codec import OutboundRecord
from connectors.murmur2 import murmur2


class Publisher(Protocol):
    async def publish(self, records: Sequence[OutboundRecord]) -> None:
        """Return only when every record is acknowledged by the broker (or raise)."""


# aiokafka's murmur2 is pure Python (py-spy: 9 % of the relay's CPU), and an order's ten-odd
# events, like a source's fulfillment requests, share their key: each key is hashed once, by
# the same hash a word at a time (connectors.murmur2: every new key, e.g. each captured order's).
# An order's events are published within seconds of each other, so few keys are enough: at
# 65,536 the cache (its keys held, ~240 B each) was ~15 MB of the relay's and the API's RSS,
# filled over their first ~40,000 orders (an order id is never wanted again once its events
# are out); at 16,384 it holds an order's events a good minute at 150 orders/s.
KEPT_HASHES = 16_384
_hash = functools.lru_cache(maxsize=KEPT_HASHES)(murmur2)


def cached_partitioner(key: bytes | None, all_partitions: list[int], available: list[int]) -> int:
    """aiokafka's (and the Java client's) default partitioner, the same partition for a key,
    with each key's hash remembered."""
    if key is None:
        return int(DefaultPartitioner()(key, all_partitions, available))
    return all_partitions[(int(_hash(key)) & 0x7FFFFFFF) % len(all_partitions)]


class KafkaPublisher:
    """aiokafka defaults to acks=1 without idempotence; events need both set explicitly.

    `whole_batches`: `publish` hands its records to the producer as closed record batches (see
    `_hand_batches`), for a caller that publishes many records at a time and waits for them,
    one call after the other (the API's submissions), or hands the next ones before that with
    `enqueue` (the relay). Otherwise record by record, lingering `linger_ms`, so that the
    single records of concurrent callers (the API's requests) share a batch."""

    def __init__(
        self,
        bootstrap: str,
        client_id: str = "orderhub",
        linger_ms: int = 5,
        *,
        whole_batches: bool = False,
        max_record_bytes: int = 1_048_576,
    ) -> None:
        self._bootstrap = bootstrap
        self._client_id = client_id
        self._linger_ms = linger_ms
        self._whole_batches = whole_batches
        self._max_record_bytes = max_record_bytes
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
                # A topic's limit holds for each record batch (a topic made with less than
                # 1 MB: the batches the relay fills held more than it takes).
                max_batch_size=min(1_048_576, self._max_record_bytes),
                max_request_size=self._max_record_bytes,
                request_timeout_ms=30_000,
            )
            await producer.start()
            self._producer = producer

    async def stop(self) -> None:
        if self._producer is not None:
            await self._producer.stop()
            self._producer = None

    async def _started(self) -> AIOKafkaProducer:
        if self._producer is None:
            await self.start()
        assert self._producer is not None
        return self._producer

    async def enqueue(self, records: Sequence[OutboundRecord]) -> "asyncio.Future[Any]":
        """Hand the records to the producer as closed record batches (`_hand_batches`) and
        return once they are handed, with a future done when the broker has acknowledged them
        all (or failed with the first error). A caller may hand the next records before that:
        a partition's batches are sent one request at a time, in the order handed, and the
        idempotent producer numbers them, so the broker appends a partition's records in that
        order, and after a batch it refused appends none of the partition's later ones (each
        is refused as out of sequence) until `reset`."""
        return asyncio.gather(*await _hand_batches(await self._started(), records))

    async def reset(self) -> None:
        """A new producer for the next records: after a refused batch, the old one's sequence
        numbers run ahead of the broker's, which would refuse its every later batch of that
        partition. Stopping it waits for what it holds (delivered, or refused in turn)."""
        await self.stop()

    async def publish(self, records: Sequence[OutboundRecord]) -> None:
        if self._whole_batches:
            await (await self.enqueue(records))
            return
        producer = await self._started()
        if len(records) == 1:  # an API request's one record: its future, without a gather
            r = records[0]
            headers = list(r.headers) or None
            await (await producer.send(r.topic, value=r.value, key=r.key, headers=headers))
            return
        # send() only enqueues; the idempotent producer keeps per-partition order across retries,
        # so sending all before awaiting any keeps order and batches on the wire.
        futures = [
            await producer.send(r.topic, value=r.value, key=r.key, headers=list(r.headers) or None)
            for r in records
        ]
        await asyncio.gather(*futures)


async def _hand_batches(
    producer: AIOKafkaProducer, records: Sequence[OutboundRecord]
) -> list["asyncio.Future[Any]"]:
    """The records in one record batch per partition (more when one is full), handed to the
    producer together: one produce request, one future per batch. `send()` per record made a
    future and went through the accumulator for each (py-spy: a fifth of the relay's CPU).

    Order holds as with `send()`: a partition's records keep their order in its batches, its
    batches are queued in that order, and the idempotent producer keeps a partition's batches
    in order across retries. Each batch is closed, so it goes out at once instead of lingering
    `linger_ms` for records that no one else adds."""
    ready: list[tuple[str, int, BatchBuilder]] = []  # full batches, in the order they filled
    filling: dict[tuple[str, int], BatchBuilder] = {}
    # Per topic: its partitions as `send()` hands them to the partitioner; and per topic and
    # key the batch filling for them: a read's events of one order (ten-odd) share their key,
    # so its partition is worked out once a call (the relay: ~1 µs a record of hashing, tuples
    # and look-ups before, py-spy).
    partitions: dict[str, list[int]] = {}
    where: dict[tuple[str, bytes], tuple[str, int]] = {}
    create = producer.create_batch
    for r in records:
        topic, key = r.topic, r.key
        tp = where.get((topic, key))
        if tp is None:
            tp = where[topic, key] = (topic, await _partition_of(producer, partitions, r))
        batch = filling.get(tp)
        if batch is None:
            batch = filling[tp] = create()
        headers = list(r.headers)  # the record batch builder takes a list only
        if batch.append(key=key, value=r.value, timestamp=None, headers=headers) is None:
            ready.append((*tp, batch))
            batch = filling[tp] = create()
            if batch.append(key=key, value=r.value, timestamp=None, headers=headers) is None:
                raise MessageSizeTooLargeError(f"a record of {len(r.value)} bytes for {topic}")
    ready += [(*tp, batch) for tp, batch in filling.items()]
    futures = []
    for topic, partition, batch in ready:
        batch.close()
        futures.append(await producer.send_batch(batch, topic, partition=partition))
    return futures


async def _partition_of(
    producer: AIOKafkaProducer, partitions: dict[str, list[int]], r: OutboundRecord
) -> int:
    """The record's partition, as `send()` would choose it (`cached_partitioner`: a key goes
    to the partition it went to before); the topic's partitions asked for once per call."""
    everything = partitions.get(r.topic)
    if everything is None:
        everything = partitions[r.topic] = list(await producer.partitions_for(r.topic))
    available = (
        list(producer.client.cluster.available_partitions_for_topic(r.topic))
        if r.key is None
        else everything  # not read for a key
    )
    return cached_partitioner(r.key, everything, available)


class RecordingPublisher:
    """A fake for tests: keeps what it was asked to publish."""

    def __init__(self) -> None:
        self.records: list[OutboundRecord] = []

    async def publish(self, records: Sequence[OutboundRecord]) -> None:
        self.records.extend(records)
