"""Consumer-group lag as the broker sees it: committed offsets against the partitions' ends.

The same figures as Kafka's own `kafka-consumer-groups.sh --describe`, read with aiokafka's
admin client, so a check does not depend on the state of the consumer it checks.
"""

import time
from collections.abc import Iterable
from dataclasses import dataclass

from aiokafka import AIOKafkaConsumer, TopicPartition
from aiokafka.admin import AIOKafkaAdminClient


@dataclass(frozen=True)
class GroupLag:
    group: str
    committed: dict[TopicPartition, int]  # -1: nothing committed yet
    ends: dict[TopicPartition, int]

    @property
    def lag(self) -> int:
        return sum(end - max(self.committed.get(tp, -1), 0) for tp, end in self.ends.items())

    @property
    def committed_total(self) -> int:
        return sum(max(offset, 0) for offset in self.committed.values())


class LagProbe:
    """One admin client and one group-less reader, kept open between probes.

    The topics' partitions are asked again only after `partitions_seconds` (they change when an
    operator adds some): the API's admission probes twice every 0.2 s, and describing the topics
    each time was a third of that, the larger part of an idle API process's CPU."""

    def __init__(
        self, bootstrap: str, request_timeout_ms: int = 5000, partitions_seconds: float = 30.0
    ) -> None:
        self._bootstrap = bootstrap
        self._timeout_ms = request_timeout_ms
        self._clients: tuple[AIOKafkaAdminClient, AIOKafkaConsumer] | None = None
        self._partitions_seconds = partitions_seconds
        self._partitions: dict[tuple[str, ...], tuple[float, list[TopicPartition]]] = {}

    async def start(self) -> tuple[AIOKafkaAdminClient, AIOKafkaConsumer]:
        """Clients are made inside the running loop (aiokafka binds them to it)."""
        if self._clients is None:
            admin = AIOKafkaAdminClient(
                bootstrap_servers=self._bootstrap, request_timeout_ms=self._timeout_ms
            )
            ends = AIOKafkaConsumer(
                bootstrap_servers=self._bootstrap,
                group_id=None,
                enable_auto_commit=False,
                request_timeout_ms=self._timeout_ms,
            )
            try:
                await admin.start()
                await ends.start()
            except BaseException:
                await ends.stop()
                await admin.close()
                raise
            self._clients = (admin, ends)
        return self._clients

    async def stop(self) -> None:
        if self._clients is not None:
            admin, ends = self._clients
            self._clients = None
            await ends.stop()
            await admin.close()

    async def group_lag(self, group: str, topics: Iterable[str]) -> GroupLag:
        """Lag of `group` over every partition of `topics` (a topic not yet created counts 0)."""
        admin, reader = await self.start()
        partitions = await self._partitions_of(admin, tuple(sorted(set(topics))))
        if not partitions:
            return GroupLag(group, {}, {})
        ends = await reader.end_offsets(partitions)
        offsets = await admin.list_consumer_group_offsets(group, partitions=partitions)
        committed = {tp: (meta.offset if meta is not None else -1) for tp, meta in offsets.items()}
        return GroupLag(group, committed, dict(ends))

    async def _partitions_of(
        self, admin: AIOKafkaAdminClient, topics: tuple[str, ...]
    ) -> list[TopicPartition]:
        known = self._partitions.get(topics)
        if known is not None and time.monotonic() - known[0] < self._partitions_seconds:
            return known[1]
        described = await admin.describe_topics(list(topics))
        # A topic not created yet answers an error code and no partitions: it counts 0, and
        # the topics are described again at the next probe.
        partitions = [
            TopicPartition(t["topic"], p["partition"])
            for t in described
            for p in sorted(t["partitions"], key=lambda p: p["partition"])
        ]
        if all(t["partitions"] and not t.get("error_code") for t in described):
            self._partitions[topics] = (time.monotonic(), partitions)
        return partitions
