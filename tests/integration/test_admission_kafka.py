"""Admission control on a real broker: a group's partitions as the sampler reads them, end
offsets against committed ones; an order that waits past the limit sheds, a commit opens."""

import asyncio
from collections.abc import Sequence

import pytest
from aiokafka import TopicPartition

from connectors.lag import LagProbe
from connectors.topics import ensure_topics
from hub.api.admission import Admission, Queue
from hub.api.admission_sources import queue_of
from hub.api.problems import ProblemError
from tests.integration.test_lag_probe_kafka import _commit, _produce

pytestmark = pytest.mark.kafka


def test_a_group_behind_for_longer_than_the_limit_sheds_until_it_commits(
    kafka_bootstrap: str, kafka_topic_prefix: str
) -> None:
    topic = f"{kafka_topic_prefix}admission.orders"
    group = f"{kafka_topic_prefix}admission-group"
    p0 = TopicPartition(topic, 0)
    now = {"t": 0.0}

    async def scenario() -> None:
        await ensure_topics(kafka_bootstrap, {topic: 2})
        await _produce(kafka_bootstrap, topic, 10)  # 5 on each partition
        await _commit(kafka_bootstrap, group, {p0: 5})  # p1 never committed: unknown
        probe = LagProbe(kafka_bootstrap)

        async def sample() -> Sequence[Queue]:
            return [queue_of(await probe.group_lag(group, [topic]))]

        admission = Admission(
            sample, max_lag=5.0, interval=0.1, max_retry=30, clock=lambda: now["t"]
        )
        try:
            first = await admission.sample_once()
            assert (first.shed, first.waiting) == (False, 0)  # p1's 5 are not counted
            await _produce(kafka_bootstrap, topic, 2)  # one more on each partition
            now["t"] = 1.0
            assert (await admission.sample_once()).waiting == 1  # p0's new one
            now["t"] = 8.0
            behind = await admission.sample_once()
            assert behind.shed and behind.lag_seconds == pytest.approx(7.0)
            with pytest.raises(ProblemError) as refused:
                admission.check("orders")
            assert refused.value.headers["Retry-After"] == "30"  # nothing drains
            await _commit(kafka_bootstrap, group, {p0: 6})
            now["t"] = 9.0
            assert not (await admission.sample_once()).shed
            admission.check("orders")
        finally:
            await probe.stop()

    asyncio.run(scenario())
