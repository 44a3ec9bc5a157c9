"""The order events read by the roles' plain consumers (hub.streaming.roles), on the real broker:
a poison record in a batch parked while the rest is applied and the batch committed past it,
and the projections role's new group taking over where its Faust group had committed (an
upgrade neither loses nor replays the order events)."""

import asyncio
import dataclasses
import uuid
from collections.abc import Sequence
from pathlib import Path

import faust
import pytest
from aiokafka import AIOKafkaConsumer, AIOKafkaProducer, TopicPartition

from connectors.codec import envelope_to_record
from connectors.consumed import ConsumedMessage
from connectors.publisher import KafkaPublisher, RecordingPublisher
from connectors.topics import ensure_topics
from hub.settings import Settings
from hub.streaming.feeds import Feed, FeedsConsumer
from hub.streaming.plain_batches import PlainBatchConsumer, committed_offsets
from hub.streaming.roles import Role
from hub.streaming.worker import ROLES, Agents
from projections.order_status import InMemoryOrderStatusView
from tests.contracts.factories import order_envelopes
from tests.support.running_hub import embedded_hub

pytestmark = [pytest.mark.kafka]


def settings_for(tmp_path: Path, bootstrap: str) -> Settings:
    prefix = f"t{uuid.uuid4().hex[:8]}."
    return Settings(  # type: ignore[call-arg]
        _env_file=None,
        data_dir=tmp_path,
        kafka_bootstrap=bootstrap,
        topic_prefix=prefix,
        consumer_group=f"{prefix}hub",
    )


async def produce(bootstrap: str, records: Sequence[tuple[str, bytes, bytes, object]]) -> None:
    producer = AIOKafkaProducer(bootstrap_servers=bootstrap, acks="all", enable_idempotence=True)
    await producer.start()
    try:
        for topic, key, value, headers in records:
            await producer.send_and_wait(topic, value, key=key, headers=list(headers))  # type: ignore[call-overload]
    finally:
        await producer.stop()


async def commit_as(bootstrap: str, group: str, offsets: dict[TopicPartition, int]) -> None:
    """What the Faust group of a worker of the previous release had committed."""
    consumer = AIOKafkaConsumer(
        bootstrap_servers=bootstrap, group_id=group, enable_auto_commit=False
    )
    consumer.assign(list(offsets))
    await consumer.start()
    try:
        await consumer.commit(offsets)
    finally:
        await consumer.stop()


async def run_until_committed(reader: PlainBatchConsumer, ends: dict[TopicPartition, int]) -> None:
    """Run the consumer until its group committed `ends`, then stop it as the worker does."""
    task = asyncio.create_task(reader.run())
    try:
        async with asyncio.timeout(60):
            while await committed_offsets(reader.settings, reader.group) != ends:
                await asyncio.sleep(0.1)
    finally:
        task.cancel()
        await asyncio.gather(task, return_exceptions=True)


@pytest.mark.asyncio
async def test_a_poison_record_in_a_batch_is_parked_and_the_batch_committed_past_it(
    tmp_path: Path, kafka_bootstrap: str
) -> None:
    settings = settings_for(tmp_path, kafka_bootstrap)
    events = settings.topic("order_events")
    await ensure_topics(kafka_bootstrap, {events: 1})
    accepted = order_envelopes("WEB-1001", "accepted")
    rejected = order_envelopes("WEB-1002", "rejected")
    good = [envelope_to_record(events, env) for env in (*accepted, *rejected)]
    poison = (events, b"junk-key", b"\x00not a cloud event", [("x", b"1")])
    records = [(events, r.key, r.value, r.headers) for r in good]
    await produce(kafka_bootstrap, [*records[:1], poison, *records[1:]])
    view, publisher = InMemoryOrderStatusView(), RecordingPublisher()
    feeds = [Feed("order_status", view, frozenset({events}))]
    handler = FeedsConsumer("projections", feeds, publisher, settings)
    group = f"{events}.plain"
    reader = PlainBatchConsumer(settings, [events], group, handler, batch_size=500, window=0.05)
    end = len(records) + 1

    await run_until_committed(reader, {TopicPartition(events, 0): end})

    (parked,) = publisher.records
    assert parked.topic == settings.topic("dlq")
    assert (parked.key, parked.value) == (b"junk-key", b"\x00not a cloud event")
    assert dict(parked.headers)["dlq-consumer"] == b"projections"
    assert dict(parked.headers)["dlq-original-offset"] == b"1"
    for env, status in ((accepted[0], "accepted"), (rejected[0], "rejected")):
        row = view.get(env.subject)
        assert row is not None and row.status == status
    assert view.positions() == {f"{events}:0": end - 1}


class ByTopic:
    """Keeps the offsets it is handed, per topic."""

    def __init__(self) -> None:
        self.offsets: dict[str, list[int]] = {}

    async def handle(self, messages: Sequence[ConsumedMessage]) -> None:
        for m in messages:
            self.offsets.setdefault(m.topic, []).append(m.offset)


@pytest.mark.asyncio
async def test_the_projections_role_takes_its_order_events_up_where_its_faust_group_was(
    tmp_path: Path, kafka_bootstrap: str
) -> None:
    settings = settings_for(tmp_path, kafka_bootstrap)
    events, rejected = settings.topic("order_events"), settings.topic("rejected")
    await ensure_topics(kafka_bootstrap, {events: 1, rejected: 1})
    await produce(
        kafka_bootstrap,
        [(events, b"o", b"e%d" % i, ()) for i in range(5)]
        + [(rejected, b"r", b"r%d" % i, ()) for i in range(2)],
    )
    faust_group = settings.group_for(Role.PROJECTIONS.value)
    # The previous release's worker had read three order events and one rejection.
    await commit_as(
        kafka_bootstrap, faust_group, {TopicPartition(events, 0): 3, TopicPartition(rejected, 0): 1}
    )
    hub = embedded_hub(tmp_path / "hub", topic_prefix=settings.topic_prefix)
    try:
        hub = dataclasses.replace(hub, settings=settings)
        app = faust.App(faust_group, broker=f"kafka://{kafka_bootstrap}")
        agents = Agents(app, hub, KafkaPublisher(kafka_bootstrap))
        ROLES[Role.PROJECTIONS](agents)
        (reader,) = [r for r in agents.readers if events in r.topics]
        assert reader.group == settings.group_for("projections-order-events")
        assert sorted(reader.topics) == [events, rejected]
        assert reader.resume_from == faust_group
        seen = ByTopic()
        reader.handler = seen

        await run_until_committed(
            reader, {TopicPartition(events, 0): 5, TopicPartition(rejected, 0): 2}
        )

        # Neither lost nor read again: the records after the Faust group's offsets, in order.
        assert seen.offsets == {events: [3, 4], rejected: [1]}
        # Started again, the group resumes from its own offsets (not the Faust group's again).
        await produce(kafka_bootstrap, [(events, b"o", b"e5", ())])
        again = ByTopic()
        reader.handler = again
        await run_until_committed(
            reader, {TopicPartition(events, 0): 6, TopicPartition(rejected, 0): 2}
        )
        assert again.offsets == {events: [5]}
    finally:
        hub.close()
