"""The lag probe asks for the topics' partitions again only after a while, and at once while a
topic is missing (created later, it counts from the next probe)."""

import asyncio
from collections.abc import Sequence
from typing import Any

from aiokafka import TopicPartition

from connectors.lag import LagProbe


class FakeAdmin:
    """Describes the topics it knows (others: an error, no partitions), counting the calls."""

    def __init__(self, partitions: dict[str, int]) -> None:
        self.partitions = partitions
        self.described = 0

    async def describe_topics(self, topics: Sequence[str]) -> list[dict[str, Any]]:
        self.described += 1
        return [
            {"topic": t, "error_code": 0, "partitions": [{"partition": p} for p in range(n)]}
            if (n := self.partitions.get(t))
            else {"topic": t, "error_code": 3, "partitions": []}
            for t in topics
        ]

    async def list_consumer_group_offsets(
        self, group: str, partitions: list[TopicPartition]
    ) -> dict[TopicPartition, None]:
        return dict.fromkeys(partitions)


class FakeReader:
    async def end_offsets(self, partitions: list[TopicPartition]) -> dict[TopicPartition, int]:
        return dict.fromkeys(partitions, 4)


def _probe(admin: FakeAdmin, seconds: float) -> LagProbe:
    probe = LagProbe("unused:9092", partitions_seconds=seconds)
    probe._clients = (admin, FakeReader())  # type: ignore[assignment,unused-ignore]
    return probe


def test_partitions_are_described_once_per_interval() -> None:
    admin = FakeAdmin({"a": 2, "b": 1})
    probe = _probe(admin, 30.0)

    async def three() -> list[int]:
        return [(await probe.group_lag("g", ["b", "a", "a"])).lag for _ in range(3)]

    assert asyncio.run(three()) == [12, 12, 12]
    assert admin.described == 1

    expired = _probe(admin, 0.0)
    asyncio.run(expired.group_lag("g", ["a"]))
    asyncio.run(expired.group_lag("g", ["a"]))
    assert admin.described == 3


def test_a_missing_topic_is_described_again_at_each_probe_and_counts_once_created() -> None:
    admin = FakeAdmin({"a": 1})
    probe = _probe(admin, 30.0)

    first = asyncio.run(probe.group_lag("g", ["a", "later"]))
    admin.partitions["later"] = 2
    second = asyncio.run(probe.group_lag("g", ["a", "later"]))

    assert (first.lag, second.lag, admin.described) == (4, 12, 2)
    assert TopicPartition("later", 1) in second.ends
