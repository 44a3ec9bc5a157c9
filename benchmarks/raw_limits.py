"""The raw limits of the infrastructure a benchmark runs on, measured in the same run.

The broker's own produce rate (acks=all, idempotent, a given record size) and the event store's
raw append rate (the library's recorder, a given batch size, no domain code beyond building the
events), so that a benchmark's figures can be given as a share of what the machine allows.
"""

import asyncio
import json
import time
import uuid
from collections.abc import Callable
from datetime import UTC, datetime
from typing import Any

from aiokafka import AIOKafkaProducer
from eventsourcing.persistence import StoredEvent

from aggregates import Order
from hub.settings import Settings
from hub.store import OrderStore
from schemas.submission import OrderSubmission


async def raw_broker_rate(bootstrap: str, topic: str, count: int, size: int) -> float:
    """Records per second one idempotent, acks=all producer gets acknowledged."""
    producer = AIOKafkaProducer(
        bootstrap_servers=bootstrap,
        acks="all",
        enable_idempotence=True,
        linger_ms=5,
        max_batch_size=1_048_576,
    )
    await producer.start()
    value = b"x" * size
    try:
        started = time.perf_counter()
        futures = [await producer.send(topic, value, key=str(i).encode()) for i in range(count)]
        await asyncio.gather(*futures)
        return count / (time.perf_counter() - started)
    finally:
        await producer.stop()


def accepted_order_events(
    store: OrderStore, body: dict[str, Any], correlation_id: str, now: datetime
) -> list[StoredEvent]:
    """An accepted order's two stored events (placed, accepted), made by the aggregate and the
    mapper: what the intake writes for it."""
    order = Order(
        channel=body["channel"],
        external_id=body["external_id"],
        submission=OrderSubmission.model_validate(body),
        digest="0" * 64,
        raw_payload=json.dumps(body),
        actor=f"channel:{body['channel']}",
        correlation_id=correlation_id,
        received_at=now,
    )
    order.accept(actor="system:intake", now=now)
    return [store.mapper.to_stored_event(e) for e in order.collect_events()]


def raw_store_rate(
    settings: Settings,
    orders: int,
    batch: int,
    submission: Callable[[str, int], dict[str, Any]],
) -> float:
    """Orders per second appended by the recorder alone: 2 stored events per order (placed,
    accepted), `batch` orders per transaction, the same shape the intake writes."""
    store = OrderStore(env=settings.eventsourcing_env())
    run = uuid.uuid4().hex[:8]
    now = datetime.now(UTC)
    batches = []
    for start in range(0, orders, batch):
        stored: list[StoredEvent] = []
        for n in range(start, min(start + batch, orders)):
            stored += accepted_order_events(store, submission(run, n), run, now)
        batches.append(stored)
    started = time.perf_counter()
    for stored in batches:
        store.recorder.insert_events(stored)
    elapsed = time.perf_counter() - started
    store.close()
    return orders / elapsed
