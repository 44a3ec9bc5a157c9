"""One order, many doors, all at once: the same submission through REST (a distributed API
process), the channel's own topic and the canonical submitted topic becomes exactly one order in
the PostgreSQL event store; the same key with other content is kept as a conflict, naming both
digests, and published on the rejected topic."""

import asyncio
import json
import time
from pathlib import Path
from typing import Any

import httpx
import pytest
from aiokafka import AIOKafkaConsumer, AIOKafkaProducer, TopicPartition
from aiokafka.admin import AIOKafkaAdminClient

from aggregates import order_id_for
from connectors.codec import record_to_envelope
from hub.bootstrap import bootstrap
from hub.services.intake import submission_digest
from hub.settings import Settings
from schemas.envelope import EventEnvelope
from schemas.event_types import EventFamily, EventType
from schemas.submission import OrderSubmission
from tests.support.kafka import read_topic
from tests.support.processes import hub_processes, wait_for_http

pytestmark = [pytest.mark.kafka, pytest.mark.postgres]

CHANNEL = "web-shop"
PARTITIONS = 3
ACCEPTED_OR_LATER = {"accepted", "held", "routed", "backordered", "unroutable"}
DEADLINE_SECONDS = 120.0
# How many times the same order goes through each door in the concurrent wave.
REST_COPIES, CHANNEL_TOPIC_COPIES, SUBMITTED_TOPIC_COPIES = 8, 6, 6


def submission(external_id: str, **changes: Any) -> dict[str, Any]:
    order: dict[str, Any] = {
        "channel": CHANNEL,
        "external_id": external_id,
        # With an offset: every door must normalise it the same way, or digests would differ.
        "placed_at": "2026-11-20T09:30:00+01:00",
        "customer": {"id": "CUST-ADA", "name": "Ada Lovelace"},
        "ship_to": {
            "name": "Ada Lovelace",
            "line1": "3 place Bellecour",
            "city": "Lyon",
            "postal_code": "69002",
            "country": "FR",
        },
        "lines": [
            {"line_id": "1", "sku": "RED-CHAIR", "quantity": 2, "unit_price": "19.90"},
            {"line_id": "2", "sku": "BLUE-LAMP", "quantity": 1, "unit_price": "5.00"},
        ],
        "currency": "EUR",
    }
    order.update(changes)
    return order


def digest_of(order: dict[str, Any]) -> str:
    return submission_digest(OrderSubmission.model_validate(order))


@pytest.fixture
def distributed_env(distributed_env: dict[str, str]) -> dict[str, str]:
    """The shared environment (tests/conftest.py), on PARTITIONS partitions."""
    return {**distributed_env, "ORDERHUB_TOPIC_PARTITIONS": str(PARTITIONS)}


def store_envelopes(env: dict[str, str], data_dir: Path) -> list[EventEnvelope]:
    """Everything in the event store, read with the hub's own store (not through Kafka)."""
    hub = bootstrap(
        Settings(
            database_url=env["ORDERHUB_DATABASE_URL"],
            kafka_bootstrap=env["ORDERHUB_KAFKA_BOOTSTRAP"],
            topic_prefix=env["ORDERHUB_TOPIC_PREFIX"],
            data_dir=data_dir,
        )
    )
    try:
        return [envelope for _, envelope in hub.store.read_envelopes(None, 100_000)]
    finally:
        hub.close()


def placed_events(envelopes: list[EventEnvelope], order_id: str) -> list[EventEnvelope]:
    return [e for e in envelopes if e.type == EventType.ORDER_PLACED and e.subject == order_id]


def poll_status(base: str, order_id: str) -> str:
    deadline = time.monotonic() + DEADLINE_SECONDS
    last: object = None
    while time.monotonic() < deadline:
        answer = httpx.get(f"{base}/v1/orders/{order_id}", timeout=5)
        if answer.status_code == 200 and answer.json()["status"] in ACCEPTED_OR_LATER:
            return str(answer.json()["status"])
        last = (answer.status_code, answer.text)
        time.sleep(0.1)
    raise AssertionError(f"order {order_id} not accepted within {DEADLINE_SECONDS}s: {last}")


async def consumed_to_the_end(bootstrap: str, group: str, topics: list[str]) -> None:
    """Wait until the worker's group has committed every record now on these topics (it commits
    only after its handler returned, so whatever they carried is in the store)."""
    partitions = [TopicPartition(t, p) for t in topics for p in range(PARTITIONS)]
    admin = AIOKafkaAdminClient(bootstrap_servers=bootstrap)
    ends_reader = AIOKafkaConsumer(bootstrap_servers=bootstrap, group_id=None)
    await admin.start()
    await ends_reader.start()
    try:
        ends = await ends_reader.end_offsets(partitions)
        deadline = time.monotonic() + DEADLINE_SECONDS
        behind: dict[TopicPartition, tuple[int, int]] = {}
        while time.monotonic() < deadline:
            committed = await admin.list_consumer_group_offsets(group, partitions=partitions)
            behind = {
                tp: (committed[tp].offset if tp in committed else -1, end)
                for tp, end in ends.items()
                if end > 0 and (tp not in committed or committed[tp].offset < end)
            }
            if not behind:
                return
            await asyncio.sleep(0.2)
        raise AssertionError(f"group {group} still behind (committed, end): {behind}")
    finally:
        await ends_reader.stop()
        await admin.close()


async def send_everywhere_at_once(
    base: str, bootstrap: str, topics: dict[str, str], order: dict[str, Any]
) -> list[httpx.Response]:
    """The same order REST_COPIES times by REST and, concurrently, on both topics (spread over
    their partitions); returns the REST answers."""
    body = json.dumps(order).encode()
    key = str(order_id_for(CHANNEL, order["external_id"])).encode()
    producer = AIOKafkaProducer(bootstrap_servers=bootstrap, acks="all")
    await producer.start()
    try:
        async with httpx.AsyncClient(base_url=base, timeout=30) as client:
            rest = [
                client.post(
                    "/v1/orders", content=body, headers={"content-type": "application/json"}
                )
                for _ in range(REST_COPIES)
            ]
            kafka = [
                producer.send_and_wait(topics["channel"], body, key=key, partition=n % PARTITIONS)
                for n in range(CHANNEL_TOPIC_COPIES)
            ] + [
                producer.send_and_wait(topics["submitted"], body, key=key, partition=n % PARTITIONS)
                for n in range(SUBMITTED_TOPIC_COPIES)
            ]
            answers = await asyncio.gather(*rest, *kafka)
    finally:
        await producer.stop()
    return [a for a in answers if isinstance(a, httpx.Response)]


async def produce(bootstrap: str, topic: str, order: dict[str, Any]) -> None:
    producer = AIOKafkaProducer(bootstrap_servers=bootstrap, acks="all")
    await producer.start()
    try:
        key = str(order_id_for(CHANNEL, order["external_id"])).encode()
        await producer.send_and_wait(topic, json.dumps(order).encode(), key=key)
    finally:
        await producer.stop()


def test_one_order_sent_through_every_door_at_once_is_recorded_once_and_a_changed_copy_conflicts(
    distributed_env: dict[str, str], tmp_path: Path
) -> None:
    env = distributed_env
    base = f"http://127.0.0.1:{env['ORDERHUB_API_PORT']}"
    bootstrap = env["ORDERHUB_KAFKA_BOOTSTRAP"]
    prefix = env["ORDERHUB_TOPIC_PREFIX"]
    # The intake role's plain consumer's group (hub.streaming.roles).
    group = f"{env['ORDERHUB_CONSUMER_GROUP']}-intake-submissions"
    topics = {
        "channel": f"{prefix}orderhub.channel.{CHANNEL}.orders",
        "submitted": f"{prefix}orderhub.orders.submitted",
    }
    order = submission("WEB-7001")
    order_id = str(order_id_for(CHANNEL, "WEB-7001"))

    with hub_processes(["serve"], env, tmp_path) as api:
        wait_for_http(f"{base}/healthz", api["serve"])
        channel = {"channel_id": CHANNEL, "name": "Web shop", "kind": "web", "format": "canonical"}
        registered = httpx.put(f"{base}/v1/channels/{CHANNEL}", json=channel, timeout=30)
        assert registered.status_code == 201, registered.text

        with hub_processes(["worker", "relay"], env, tmp_path):
            # Warm up: the worker, relay and projection are all running before the wave.
            warm_up = httpx.post(f"{base}/v1/orders", json=submission("WEB-7000"), timeout=30)
            assert warm_up.status_code == 202, warm_up.text
            poll_status(base, str(order_id_for(CHANNEL, "WEB-7000")))

            answers = asyncio.run(send_everywhere_at_once(base, bootstrap, topics, order))
            asyncio.run(consumed_to_the_end(bootstrap, group, list(topics.values())))

            assert poll_status(base, order_id) in ACCEPTED_OR_LATER
            envelopes = store_envelopes(env, tmp_path / "reader")
            assert len(placed_events(envelopes, order_id)) == 1
            assert placed_events(envelopes, order_id)[0].data["digest"] == digest_of(order)
            # Identical copies are duplicates, never conflicts: nothing was kept as refused.
            assert [
                e for e in envelopes if e.type.startswith(EventFamily.REJECTED_SUBMISSION)
            ] == []
            assert len(answers) == REST_COPIES
            for answer in answers:
                outcome = (answer.status_code, answer.json()["outcome"], answer.json()["order_id"])
                assert outcome in {(202, "submitted", order_id), (200, "duplicate", order_id)}

            # Once recorded, every further copy is answered duplicate, at once.
            again = asyncio.run(send_everywhere_at_once(base, bootstrap, topics, order))
            assert {(a.status_code, a.json()["outcome"]) for a in again} == {(200, "duplicate")}

            # The same key with other content, through each Kafka door: kept as conflicts.
            changed = {
                "channel": submission("WEB-7001", currency="CHF"),
                "submitted": submission("WEB-7001", customer={"id": "CUST-GRACE"}),
            }
            for door, copy in changed.items():
                asyncio.run(produce(bootstrap, topics[door], copy))
            wanted = {digest_of(copy) for copy in changed.values()}

            def both_conflicts_published(records: list[Any]) -> bool:
                return wanted <= {c.data["details"].get("submitted_digest") for c in _kept(records)}

            published = asyncio.run(
                read_topic(bootstrap, f"{prefix}orderhub.orders.rejected", both_conflicts_published)
            )
            asyncio.run(consumed_to_the_end(bootstrap, group, list(topics.values())))
            after = store_envelopes(env, tmp_path / "reader")

    conflicts = _kept(published)
    assert {c.data["details"]["submitted_digest"] for c in conflicts} == wanted
    for conflict in conflicts:
        assert conflict.type == EventType.REJECTED_SUBMISSION_RECORDED
        assert (conflict.data["reason"], conflict.data["channel"]) == ("conflict", CHANNEL)
        assert conflict.data["external_id"] == "WEB-7001"
        assert conflict.data["details"]["order_id"] == order_id
        assert conflict.data["details"]["existing_digest"] == digest_of(order)
        assert json.loads(conflict.data["raw_payload"]) in list(changed.values())
    assert len(placed_events(after, order_id)) == 1
    kept = [e for e in after if e.type.startswith(EventFamily.REJECTED_SUBMISSION)]
    assert sorted(e.data["reason"] for e in kept) == ["conflict", "conflict"]


def _kept(records: list[Any]) -> list[EventEnvelope]:
    return [record_to_envelope(r.key, r.value, r.headers) for r in records]
