"""The relay against real Kafka and PostgreSQL: order, keys, headers, and a crash mid-stream."""

import asyncio
import time
from collections import defaultdict
from datetime import UTC, datetime
from pathlib import Path

import pytest

from connectors.codec import record_to_envelope
from connectors.consumed import ConsumedMessage
from connectors.publisher import KafkaPublisher
from connectors.topics import ensure_topics
from hub.bootstrap import bootstrap
from hub.services.intake import SubmitOrder
from hub.settings import Settings
from hub.streaming.relay import build_relay
from projections.order_status import InMemoryOrderStatusView
from schemas.event_types import EventType
from schemas.submission import OrderSubmission
from tests.support.kafka import read_topic
from tests.support.processes import HubProcess

pytestmark = [pytest.mark.kafka, pytest.mark.postgres]


def _commands(count: int, start: int = 0) -> list[SubmitOrder]:
    commands = []
    for n in range(start, start + count):
        submission = OrderSubmission.model_validate(
            {
                "channel": "pos",
                "external_id": f"POS-{n:06d}",
                "placed_at": "2026-11-20T08:00:00Z",
                "customer": {"id": f"C{n % 97}"},
                "ship_to": {
                    "name": "Store pickup",
                    "line1": "3 place Bellecour",
                    "city": "Lyon",
                    "postal_code": "69002",
                    "country": "FR",
                },
                "lines": [{"line_id": "1", "sku": "BLUE-LAMP", "quantity": 1, "unit_price": "25"}],
                "currency": "EUR",
            }
        )
        commands.append(SubmitOrder(submission, submission.model_dump_json(), "channel:pos", "c"))
    return commands


def _settings(database_url: str, bootstrap_addr: str, prefix: str, tmp_path: Path) -> Settings:
    return Settings(
        database_url=database_url,
        kafka_bootstrap=bootstrap_addr,
        topic_prefix=prefix,
        topic_partitions=3,
        data_dir=tmp_path / "data",
        relay_batch_size=100,
    )


def _envelopes(records: list[ConsumedMessage]) -> list[tuple[ConsumedMessage, object]]:
    return [(r, record_to_envelope(r.key, r.value, r.headers)) for r in records]


@pytest.mark.asyncio
async def test_relay_publishes_each_order_in_sequence_keyed_by_order_with_cloudevents_headers(
    database_url: str, kafka_bootstrap: str, kafka_topic_prefix: str, tmp_path: Path
) -> None:
    settings = _settings(database_url, kafka_bootstrap, kafka_topic_prefix, tmp_path)
    topic = settings.topic("order_events")
    await ensure_topics(kafka_bootstrap, {topic: 3})
    hub = bootstrap(settings)
    hub.intake.place_orders(_commands(40))
    publisher = KafkaPublisher(kafka_bootstrap)
    await publisher.start()
    try:
        relay = build_relay(hub, publisher)
        while await relay.publish_next_batch():
            pass
        await relay.save_position()  # saved once for the batches of `relay_save_seconds`
    finally:
        await publisher.stop()

    records = await read_topic(kafka_bootstrap, topic, until=lambda rs: len(rs) >= 80)
    assert len(records) == 80
    by_key: dict[bytes, list[int]] = defaultdict(list)
    partitions: dict[bytes, set[int]] = defaultdict(set)
    for record in sorted(records, key=lambda r: (r.partition, r.offset)):
        envelope = record_to_envelope(record.key, record.value, record.headers)
        assert record.key == envelope.subject.encode()
        by_key[record.key].append(envelope.sequence)
        partitions[record.key].add(record.partition)
        headers = dict(record.headers)
        assert headers["ce_specversion"] == b"1.0"
        assert headers["ce_source"] == b"/orderhub/orders"
        assert headers["content-type"] == b"application/json"
        assert headers["ce_type"] in {b"orderhub.order.placed", b"orderhub.order.accepted"}
        for extension in ("ce_sequence", "ce_correlationid", "ce_causationid", "ce_actor"):
            assert extension in headers
    assert all(seqs == [1, 2] for seqs in by_key.values())
    assert all(len(p) == 1 for p in partitions.values())
    assert len({p for ps in partitions.values() for p in ps}) > 1, "keys spread over partitions"
    assert hub.relay_positions().get("notification_log") == hub.store.max_position()
    hub.close()


def test_relay_killed_mid_stream_resumes_without_losing_or_reordering(
    database_url: str, kafka_bootstrap: str, kafka_topic_prefix: str, tmp_path: Path
) -> None:
    settings = _settings(database_url, kafka_bootstrap, kafka_topic_prefix, tmp_path)
    topic = settings.topic("order_events")
    hub = bootstrap(settings)
    orders = 4000
    for start in range(0, orders, 500):
        hub.intake.place_orders(_commands(500, start))
    total = hub.store.max_position()
    assert total == 2 * orders

    env = {
        "ORDERHUB_KAFKA_BOOTSTRAP": kafka_bootstrap,
        "ORDERHUB_DATABASE_URL": database_url,
        "ORDERHUB_TOPIC_PREFIX": kafka_topic_prefix,
        "ORDERHUB_TOPIC_PARTITIONS": "3",
        "ORDERHUB_RELAY_BATCH_SIZE": "50",
        # The position saved after each batch, so that the kill lands mid-stream by it: saved
        # every 0.2 s, a relay handing batches ahead drained the whole backlog on a quiet
        # machine before its first save (a fresh-clone CI run).
        "ORDERHUB_RELAY_SAVE_SECONDS": "0",
        "ORDERHUB_DATA_DIR": str(tmp_path / "data"),
    }
    first = HubProcess("relay", env, tmp_path)
    positions = hub.relay_positions()
    deadline = time.monotonic() + 60
    while (positions.get("notification_log") or 0) < total // 4:
        assert first.process.poll() is None, first.log_tail()
        assert time.monotonic() < deadline, "relay made no progress"
        time.sleep(0.01)
    first.kill()
    killed_at = positions.get("notification_log") or 0
    assert killed_at < total, "the relay finished before it could be killed; use more orders"

    second = HubProcess("relay", env, tmp_path)
    try:
        records = asyncio.run(
            read_topic(
                kafka_bootstrap,
                topic,
                until=lambda rs: (
                    len({(r.key, dict(r.headers)["ce_sequence"]) for r in rs}) >= total
                ),
                timeout=120,
            )
        )
    finally:
        second.stop()
        first.stop()

    seen: dict[str, list[int]] = defaultdict(list)
    envelopes = []
    for record in sorted(records, key=lambda r: (r.partition, r.offset)):
        envelope = record_to_envelope(record.key, record.value, record.headers)
        envelopes.append(envelope)
        seen[envelope.subject].append(envelope.sequence)
    assert len(seen) == orders, "every order's events arrived"
    for sequences in seen.values():
        first_seen = list(dict.fromkeys(sequences))
        assert first_seen == [1, 2], f"order kept per key, got {sequences}"
    duplicates = len(envelopes) - total
    assert 0 <= duplicates <= 50 * 3, "only the in-flight batch may be re-published"

    # Consumers are idempotent by aggregate id + version, so duplicates change nothing.
    with_duplicates, deduplicated = InMemoryOrderStatusView(), InMemoryOrderStatusView()
    with_duplicates.apply(envelopes, {})
    unique = list({(e.subject, e.sequence): e for e in envelopes}.values())
    deduplicated.apply(unique, {})
    ids = {e.subject for e in envelopes}
    assert all(with_duplicates.get(i) == deduplicated.get(i) for i in ids)
    assert all(with_duplicates.get(i).status == "accepted" for i in ids)  # type: ignore[union-attr]
    hub.close()


def test_event_store_on_postgres_detects_a_duplicate_submission_race(
    database_url: str, tmp_path: Path
) -> None:
    settings = Settings(database_url=database_url, data_dir=tmp_path / "data")
    hubs = [bootstrap(settings) for _ in range(4)]
    command = _commands(1, start=424242)[0]

    async def race() -> list[object]:
        return await asyncio.gather(
            *(asyncio.to_thread(h.intake.place_order, command) for h in hubs)
        )

    results = asyncio.run(race())
    outcomes = sorted(r.outcome.value for r in results)  # type: ignore[attr-defined]
    assert outcomes == ["created", "duplicate", "duplicate", "duplicate"]
    assert {r.order_id for r in results} == {command.order_id}  # type: ignore[attr-defined]
    stored = hubs[0].store.read_envelopes(None, 10)
    assert [e.type for _, e in stored] == [EventType.ORDER_PLACED, EventType.ORDER_ACCEPTED]
    assert stored[0][1].time <= datetime.now(UTC)
    for h in hubs:
        h.close()
