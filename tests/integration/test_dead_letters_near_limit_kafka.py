"""A poison record near its topic's record limit, on the real broker: the intake parks it on
the DLQ, whose topic has the same limit (made before the hub, below its setting), and commits
past it. Copied whole with its parking
headers, the DLQ record was over the limit: the broker refused it on every try and the
submissions behind it waited."""

import dataclasses
import json
from pathlib import Path

import pytest
from aiokafka import AIOKafkaConsumer, TopicPartition

from aggregates import OrderStatus, order_id_for
from connectors.consumed import RAW_KEPT
from connectors.publisher import KafkaPublisher
from connectors.topics import ensure_topics
from hub.streaming.kafka_parts import KafkaParts
from tests.contracts.factories import submission_dict
from tests.integration.test_plain_intake_kafka import _intake_reader
from tests.integration.test_plain_roles_kafka import produce, run_until_committed, settings_for
from tests.support.running_hub import embedded_hub

pytestmark = [pytest.mark.kafka, pytest.mark.postgres]
LIMIT = 1_048_576


async def _dead_letters(bootstrap: str, topic: str) -> list[tuple[bytes, dict[str, bytes]]]:
    consumer = AIOKafkaConsumer(
        bootstrap_servers=bootstrap,
        auto_offset_reset="earliest",
        enable_auto_commit=False,
        fetch_max_bytes=4 * LIMIT,
        max_partition_fetch_bytes=4 * LIMIT,
    )
    consumer.assign([TopicPartition(topic, 0)])
    await consumer.start()
    try:
        batches = await consumer.getmany(timeout_ms=5_000)
        return [(r.value, dict(r.headers)) for rs in batches.values() for r in rs]
    finally:
        await consumer.stop()


@pytest.mark.asyncio
async def test_a_poison_record_near_the_limit_is_parked_and_the_intake_goes_on(
    tmp_path: Path, kafka_bootstrap: str, database_url: str
) -> None:
    # The setting is 16 MiB, as by default; the topics were made before with 1 MiB, which the
    # hub does not alter: a worker role takes the limit they have (as run_worker does).
    base = settings_for(tmp_path, kafka_bootstrap)
    settings = base.model_copy(update={"database_url": database_url})
    submitted, dlq = settings.topic("submitted"), settings.topic("dlq")
    configs = {"max.message.bytes": str(LIMIT)}
    await ensure_topics(kafka_bootstrap, {submitted: 1, dlq: 1}, configs=configs)
    assert settings.kafka_max_record_bytes > LIMIT
    settings = await KafkaParts(settings).bounded_settings()
    assert settings.kafka_max_record_bytes == LIMIT
    # The record batch's framing and the key take ~80 bytes: this one fits its topic, not
    # with the ~300 bytes of parking headers beside it.
    poison = b"{not json " + b"x" * (LIMIT - 220)
    good = json.dumps(submission_dict(channel="web-shop", external_id="WEB-9")).encode()
    await produce(kafka_bootstrap, [(submitted, b"k", poison, ()), (submitted, b"k", good, ())])
    hub = embedded_hub(tmp_path / "hub", database_url=database_url)
    hub = dataclasses.replace(hub, settings=settings)
    publisher = KafkaPublisher(kafka_bootstrap, "dlq-test", max_record_bytes=LIMIT)
    try:
        reader = _intake_reader(hub, publisher)  # type: ignore[arg-type]
        # Past both submissions, and past the dead letter, which the role lists as an exception.
        ends = {TopicPartition(submitted, 0): 2, TopicPartition(dlq, 0): 1}
        await run_until_committed(reader, ends)

        order = hub.intake.find(order_id_for("web-shop", "WEB-9"))
        assert order is not None and order.status is OrderStatus.ACCEPTED
        ((value, headers),) = await _dead_letters(kafka_bootstrap, dlq)
        assert value == poison[:RAW_KEPT]
        assert headers["dlq-original-bytes"] == str(len(poison)).encode()
        assert headers["dlq-original-offset"] == b"0"
        assert headers["dlq-error"].startswith(b"unparseable")
    finally:
        await publisher.stop()
        hub.close()
