"""Proves the harness: real, isolated PostgreSQL databases and a real Kafka broker.

The polling helpers are tested here too (they need no services) because they belong to the
harness this file is about.
"""

from __future__ import annotations

import asyncio
import itertools
from urllib.parse import urlsplit

import psycopg
import pytest
from aiokafka import AIOKafkaConsumer, AIOKafkaProducer, ConsumerRecord, TopicPartition
from aiokafka.admin import AIOKafkaAdminClient, NewTopic

from tests.harness import async_wait_for, wait_for

# --- PostgreSQL --------------------------------------------------------------------------------


@pytest.mark.postgres
@pytest.mark.parametrize("run", [1, 2])
def test_database_is_fresh_empty_and_writable(
    database_url: str, postgres_server_url: str, run: int
) -> None:
    # Run twice with the same table name: the second run only passes if each test has its own
    # database (a shared one would already have the table and its row).
    name = urlsplit(database_url).path.lstrip("/")
    assert name.startswith("orderhub_t_")
    assert name != urlsplit(postgres_server_url).path.lstrip("/")
    with psycopg.connect(database_url) as conn:
        tables = conn.execute(
            "SELECT count(*) FROM information_schema.tables"
            " WHERE table_schema NOT IN ('pg_catalog', 'information_schema')"
        ).fetchone()
        assert tables == (0,)
        conn.execute("CREATE TABLE probe (id int PRIMARY KEY, note text NOT NULL)")
        conn.execute("INSERT INTO probe VALUES (%s, %s)", (run, "café ✓"))
        conn.commit()
    with psycopg.connect(database_url) as conn:
        assert conn.execute("SELECT id, note FROM probe").fetchall() == [(run, "café ✓")]
        assert conn.execute("SELECT current_database()").fetchone() == (name,)


@pytest.mark.postgres
def test_database_is_dropped_after_the_test(postgres_server_url: str) -> None:
    # Drive the fixture's own helpers, because the fixture's teardown runs after the test ends.
    from tests.harness.services import create_database, drop_database

    url = create_database(postgres_server_url)
    name = urlsplit(url).path.lstrip("/")
    with psycopg.connect(url):
        pass
    drop_database(postgres_server_url, url)
    with psycopg.connect(postgres_server_url) as conn:
        found = conn.execute("SELECT 1 FROM pg_database WHERE datname = %s", (name,)).fetchone()
    assert found is None


# --- Kafka -------------------------------------------------------------------------------------


@pytest.mark.kafka
@pytest.mark.asyncio
async def test_broker_round_trip_with_key_and_headers(
    kafka_bootstrap: str, kafka_topic_prefix: str
) -> None:
    topic = f"{kafka_topic_prefix}harness.roundtrip"
    admin = AIOKafkaAdminClient(bootstrap_servers=kafka_bootstrap)
    await admin.start()
    try:
        await admin.create_topics([NewTopic(name=topic, num_partitions=3, replication_factor=1)])
    finally:
        await admin.close()

    key = b"order-42"
    value = b'{"type": "OrderSubmitted"}'
    headers = [("ce_type", b"orderhub.order.submitted"), ("ce_id", b"e-1")]
    # The settings every event-carrying producer must use (DESIGN.md, known hazards).
    producer = AIOKafkaProducer(
        bootstrap_servers=kafka_bootstrap, acks="all", enable_idempotence=True
    )
    await producer.start()
    try:
        sent = await producer.send_and_wait(topic, value=value, key=key, headers=headers)
    finally:
        await producer.stop()

    consumer = AIOKafkaConsumer(
        bootstrap_servers=kafka_bootstrap,
        group_id=f"{kafka_topic_prefix}harness",
        auto_offset_reset="earliest",
        enable_auto_commit=False,
    )
    await consumer.start()
    try:
        consumer.assign([TopicPartition(topic, sent.partition)])
        received: list[ConsumerRecord[bytes, bytes]] = []

        async def got_record() -> bool:
            batches = await consumer.getmany(timeout_ms=500)
            received.extend(itertools.chain.from_iterable(batches.values()))
            return bool(received)

        await async_wait_for(got_record, timeout=30, message=f"record on {topic}")
    finally:
        await consumer.stop()

    record = received[0]
    assert (record.topic, record.partition, record.offset) == (topic, sent.partition, sent.offset)
    assert record.key == key
    assert record.value == value
    assert list(record.headers) == headers


# --- polling helpers ---------------------------------------------------------------------------


def test_wait_for_returns_the_first_truthy_value() -> None:
    calls = iter([0, None, "", 7])
    assert wait_for(lambda: next(calls), timeout=5, interval=0.001) == 7


def test_wait_for_times_out_with_message_and_last_value() -> None:
    pending = iter(range(3, 0, -1))

    def queue_length() -> bool:
        # Never done: returns False but reports how many items are left, like a real check.
        last_seen.append(next(pending, 0))
        return False

    last_seen: list[int] = []
    with pytest.raises(AssertionError, match=r"queue drained: .* last value: False"):
        wait_for(queue_length, timeout=0.05, interval=0.01, message="queue drained")
    assert len(last_seen) >= 2


def test_wait_for_ignores_only_the_listed_exceptions() -> None:
    failures = iter([KeyError("not yet"), KeyError("not yet")])

    def flaky() -> str:
        failure = next(failures, None)
        if failure is not None:
            raise failure
        return "done"

    assert wait_for(flaky, ignore=(KeyError,), timeout=5, interval=0.001) == "done"
    with pytest.raises(ZeroDivisionError):
        wait_for(lambda: 1 // 0, ignore=(KeyError,), timeout=5)


@pytest.mark.asyncio
async def test_async_wait_for_accepts_sync_and_async_predicates() -> None:
    done = asyncio.Event()
    asyncio.get_running_loop().call_later(0.05, done.set)
    assert await async_wait_for(done.is_set, timeout=5, interval=0.01) is True

    async def later() -> int:
        return 5

    assert await async_wait_for(later, timeout=5) == 5
    with pytest.raises(AssertionError, match=r"never: .* last value: 0"):
        await async_wait_for(lambda: 0, timeout=0.05, interval=0.01, message="never")
