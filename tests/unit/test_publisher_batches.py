"""The publisher's whole batches (`_hand_batches`, what the relay hands the producer): every
record in the partition aiokafka's default partitioner gives its key, each partition's records
in their order across batches that fill, each topic's partitions asked for once a call."""

import asyncio
import random
import uuid
from typing import Any

from aiokafka.partitioner import DefaultPartitioner

from connectors.codec import OutboundRecord
from connectors.publisher import _hand_batches


class _Batch:
    """A record batch that holds `room` records (the builder answers None when full)."""

    def __init__(self, room: int) -> None:
        self.room = room
        self.keys: list[tuple[bytes, bytes]] = []  # (key, value) as appended
        self.closed = False

    def append(self, *, key: bytes, value: bytes, timestamp: Any, headers: list[Any]) -> Any:
        assert not self.closed and isinstance(headers, list) and timestamp is None
        if len(self.keys) == self.room:
            return None
        self.keys.append((key, value))
        return object()

    def close(self) -> None:
        self.closed = True


class _Producer:
    def __init__(self, partitions: dict[str, int], room: int) -> None:
        self._partitions = partitions
        self._room = room
        self.asked: list[str] = []
        self.sent: list[tuple[str, int, _Batch]] = []

    def create_batch(self) -> _Batch:
        return _Batch(self._room)

    async def partitions_for(self, topic: str) -> set[int]:
        self.asked.append(topic)
        return set(range(self._partitions[topic]))

    async def send_batch(self, batch: _Batch, topic: str, *, partition: int) -> Any:
        assert batch.closed
        self.sent.append((topic, partition, batch))
        done: asyncio.Future[None] = asyncio.get_running_loop().create_future()
        done.set_result(None)
        return done


def test_each_record_in_its_keys_default_partition_in_order_across_full_batches() -> None:
    rng = random.Random(11)
    partitions = {"orders": 6, "requests": 7, "one": 1}
    keys = [str(uuid.UUID(int=rng.getrandbits(128))).encode() for _ in range(300)]
    keys += [b"", b"a", b"source-17"]
    records = [
        OutboundRecord(
            topic=rng.choice(list(partitions)),
            key=rng.choice(keys),
            value=str(n).encode(),
            headers=(("n", str(n).encode()),),
        )
        for n in range(3_000)
    ]
    producer = _Producer(partitions, room=40)

    futures = asyncio.run(_hand_batches(producer, records))

    assert len(futures) == len(producer.sent)
    assert sorted(producer.asked) == sorted(partitions), "each topic's partitions asked once"
    default = DefaultPartitioner()
    per_partition: dict[tuple[str, int], list[bytes]] = {}
    for topic, partition, batch in producer.sent:
        for key, value in batch.keys:
            every = list(range(partitions[topic]))
            assert partition == default(key, every, every), "the default partitioner's"
            per_partition.setdefault((topic, partition), []).append(value)
    assert sum(len(v) for v in per_partition.values()) == len(records), "each record once"
    for (topic, partition), values in per_partition.items():
        every = list(range(partitions[topic]))
        expected = [
            r.value
            for r in records
            if r.topic == topic and default(r.key, every, every) == partition
        ]
        assert values == expected, "a partition's records in their order, batch after batch"
    assert any(len(b.keys) == 40 for _, _, b in producer.sent), "some batches filled"
