"""The stock feed's batches on PostgreSQL and the real broker: poison rows, redelivery, a
reservation racing a batch, and a crash in the middle of a batched save.

Each hub here is its own bootstrap (its own pool and repository) on one database, as the
fulfillment role and an orchestration worker are, so what keeps them apart is the event
store's optimistic concurrency, as in production. Delivery is Kafka's: a consumer group that
commits only after the handler returned (hub.streaming.batches), so what a crashed or aborted
handler did not finish is read again by the next consumer of the group.
"""

import asyncio
import json
import uuid
from collections.abc import Callable, Iterator
from pathlib import Path
from typing import Any

import pytest
from aiokafka import AIOKafkaConsumer, AIOKafkaProducer
from aiokafka.structs import TopicPartition

from aggregates.submission import RejectedSubmission, rejected_submission_id
from connectors.consumed import ConsumedMessage
from connectors.publisher import RecordingPublisher
from connectors.topics import ensure_topics
from hub.bootstrap import Hub
from hub.services.catalog import CatalogService
from hub.services.lookup import find
from hub.streaming.edge_handlers import StockFeedConsumer
from schemas.sources import SourceDefinition, StockDelta, StockSnapshot
from tests.contracts.factories import NOW, fixed_clock, source_body
from tests.support.kafka import consumed_message
from tests.support.running_hub import embedded_hub

pytestmark = [pytest.mark.postgres, pytest.mark.kafka]

SOURCE = "wh-lyon"


@pytest.fixture
def hubs(tmp_path: Path, database_url: str) -> Iterator[Callable[[], Hub]]:
    """Hubs on the test's database, each its own process as far as the store can tell."""
    made: list[Hub] = []

    def make() -> Hub:
        hub = embedded_hub(
            tmp_path / f"hub{len(made)}",
            clock=fixed_clock(NOW),
            database_url=database_url,
            max_handler_attempts=1,
        )
        made.append(hub)
        return hub

    first = make()
    first.catalog.register_source(
        SourceDefinition.model_validate(source_body(SOURCE)), actor="user:alice"
    )
    yield make
    for hub in made:
        hub.close()


def row(sku: str, **fields: Any) -> bytes:
    body = {"source_id": SOURCE, "sku": sku, **fields}
    return json.dumps(body).encode()


def snap(sku: str, on_hand: int) -> bytes:
    return row(sku, kind="snapshot", on_hand=on_hand)


def delta(sku: str, change: int) -> bytes:
    return row(sku, kind="delta", delta=change, reason="receipt")


def on_hand(catalog: CatalogService, sku: str) -> int | None:
    item = catalog.find_stock(SOURCE, sku)
    return None if item is None else item.on_hand


class Feed:
    """A stock-feed topic of its own on the real broker, read by a consumer group that commits
    only what a handler finished, as the worker's batches do."""

    def __init__(self, bootstrap: str) -> None:
        self.bootstrap = bootstrap
        self.topic = f"t{uuid.uuid4().hex[:8]}.orderhub.inventory.snapshots"
        self.group = f"{self.topic}.group"

    async def send(self, values: list[bytes]) -> None:
        await ensure_topics(self.bootstrap, {self.topic: 1})
        producer = AIOKafkaProducer(
            bootstrap_servers=self.bootstrap, acks="all", enable_idempotence=True
        )
        await producer.start()
        try:
            for value in values:
                await producer.send_and_wait(self.topic, value, key=b"wh-lyon")
        finally:
            await producer.stop()

    async def deliver(self, consumer: StockFeedConsumer, count: int) -> list[ConsumedMessage]:
        """The next `count` records of the group as one batch to the handler; the offsets are
        committed only if it returned."""
        kafka = AIOKafkaConsumer(
            self.topic,
            bootstrap_servers=self.bootstrap,
            group_id=self.group,
            auto_offset_reset="earliest",
            enable_auto_commit=False,
        )
        await kafka.start()
        try:
            batch: list[ConsumedMessage] = []
            async with asyncio.timeout(60):
                while len(batch) < count:
                    for records in (await kafka.getmany(timeout_ms=500)).values():
                        batch += [consumed_message(r) for r in records]
            await consumer.handle(batch)
            partition = TopicPartition(self.topic, 0)
            await kafka.commit({partition: batch[-1].offset + 1})
            return batch
        finally:
            await kafka.stop()


def stock_feed(hub: Hub, publisher: RecordingPublisher) -> StockFeedConsumer:
    return StockFeedConsumer(hub.catalog, publisher, hub.settings, hub.intake)


@pytest.mark.asyncio
async def test_a_poison_row_is_rejected_and_kept_and_the_rest_of_the_batch_applies(
    hubs: Callable[[], Hub], kafka_bootstrap: str
) -> None:
    hub, publisher, feed = hubs(), RecordingPublisher(), Feed(kafka_bootstrap)
    values = [
        snap("RED-CHAIR", 4),
        b"{not json",
        snap("BLUE-LAMP", -1),  # invalid: a negative count
        row("GREEN-RUG", kind="snapshot", on_hand=2, source_id="wh-nowhere"),
        delta("RED-CHAIR", 3),
        delta("BLUE-LAMP", -5),  # refused by the item: on-hand 0 cannot go down
    ]
    await feed.send(values)

    batch = await feed.deliver(stock_feed(hub, publisher), len(values))

    assert on_hand(hub.catalog, "RED-CHAIR") == 7
    assert on_hand(hub.catalog, "BLUE-LAMP") is None
    rejected = [r for r in publisher.records if r.topic.endswith("inventory.rejected")]
    assert [json.loads(r.value)["reason"] for r in rejected] == [
        "invalid_stock_message",
        "UnknownSourceError",
        "StockError",
    ]
    assert [r.topic for r in publisher.records].count(hub.settings.topic("dlq")) == 1
    for index in (2, 3, 5):  # each refused row kept as a rejected submission, with its bytes
        message = batch[index]
        raw = f"{message.topic}/0@{message.offset}\n" + message.value.decode()
        kept = find(
            hub.store, rejected_submission_id(f"topic:{feed.topic}", raw), RejectedSubmission
        )
        assert kept is not None and kept.problems, index
    # The consumer is not stuck: the group moved past the batch, and the next row applies.
    await feed.send([snap("RED-CHAIR", 1)])
    await feed.deliver(stock_feed(hub, publisher), 1)
    assert on_hand(hub.catalog, "RED-CHAIR") == 1


@pytest.mark.asyncio
async def test_a_batch_delivered_again_by_kafka_is_applied_once(
    hubs: Callable[[], Hub], kafka_bootstrap: str
) -> None:
    hub, feed = hubs(), Feed(kafka_bootstrap)
    values = [
        snap("RED-CHAIR", 10),
        delta("RED-CHAIR", 5),
        delta("RED-CHAIR", -2),
        delta("RED-CHAIR", -100),  # refused; its record saved with the batch
    ]
    await feed.send(values)
    publisher = RecordingPublisher()
    consumer = stock_feed(hub, publisher)

    class Lost(Exception):
        pass

    async def handled_then_lost(batch: list[ConsumedMessage]) -> None:
        await StockFeedConsumer.handle(consumer, batch)
        raise Lost  # the worker died after the save, before the offsets were committed

    consumer.handle = handled_then_lost  # type: ignore[method-assign,assignment]
    with pytest.raises(Lost):
        await feed.deliver(consumer, len(values))
    position = hub.store.max_position()

    again = RecordingPublisher()
    await feed.deliver(stock_feed(hubs(), again), len(values))  # the new owner

    assert on_hand(hub.catalog, "RED-CHAIR") == 13
    assert hub.store.max_position() == position  # the refusal's record too was kept once
    # The refused row's record, already there, did not fail the batch into one by one.
    assert [json.loads(r.value)["reason"] for r in again.records] == ["StockError"]


@pytest.mark.asyncio
async def test_a_refused_row_is_kept_with_its_batch_when_a_later_row_of_its_item_moved_past_it(
    hubs: Callable[[], Hub], kafka_bootstrap: str
) -> None:
    hub, feed = hubs(), Feed(kafka_bootstrap)
    values = [snap("RED-CHAIR", 1), delta("RED-CHAIR", -5), delta("RED-CHAIR", 2)]
    await feed.send(values)
    dying = hubs()

    class Crash(BaseException):
        """The process dying after the batch's save, before anything else it would do."""

    def die(*args: Any, **kwargs: Any) -> Any:
        raise Crash

    # Before, the refusals were kept by a second save after the batch's: dying in between
    # lost the refusal for good, since the item's offset had moved past the refused row.
    dying.intake.record_rejections = die  # type: ignore[method-assign]
    dying.catalog._store.save = save_then(dying.catalog._store.save, die)  # type: ignore[method-assign]
    with pytest.raises(Crash):
        await feed.deliver(stock_feed(dying, RecordingPublisher()), len(values))
    assert on_hand(hub.catalog, "RED-CHAIR") == 3  # the batch's save was committed

    publisher = RecordingPublisher()
    batch = await feed.deliver(stock_feed(hubs(), publisher), len(values))  # after a restart

    assert on_hand(hub.catalog, "RED-CHAIR") == 3  # applied once
    message = batch[1]
    raw = f"{message.topic}/0@{message.offset}\n" + message.value.decode()
    kept = find(hub.store, rejected_submission_id(f"topic:{feed.topic}", raw), RejectedSubmission)
    assert kept is not None and kept.reason == "StockError"


def save_then(save: Callable[..., Any], then: Callable[..., Any]) -> Callable[..., Any]:
    def saved(*objs: Any, **kwargs: Any) -> Any:
        save(*objs, **kwargs)
        return then()

    return saved


def test_a_stock_batch_racing_a_reservation_of_the_last_unit_keeps_the_reservation(
    hubs: Callable[[], Hub],
) -> None:
    feed_hub, routing_hub = hubs(), hubs()
    catalog = feed_hub.catalog
    catalog.apply_stock_many([snapshot_of("RED-CHAIR", 1)], "system:stock_feed")
    store = feed_hub.store
    real_save = store.save
    raced: list[int] = []

    def save_after_a_reservation(*objs: Any, **kwargs: Any) -> Any:
        if not raced:  # the batch read the item; routing reserves its last unit meanwhile
            item = routing_hub.catalog.find_stock(SOURCE, "RED-CHAIR")
            assert item is not None and item.available == 1
            item.reserve("order-1", 1, at=NOW)
            routing_hub.store.save(item)
            raced.append(item.version)
        return real_save(*objs, **kwargs)

    store.save = save_after_a_reservation  # type: ignore[method-assign]
    results = catalog.apply_stock_many(
        [delta_of("RED-CHAIR", 4), snapshot_of("BLUE-LAMP", 2)], "system:stock_feed"
    )

    item = routing_hub.catalog.find_stock(SOURCE, "RED-CHAIR")
    assert item is not None
    assert (item.on_hand, item.reserved, item.available) == (5, 1, 4)
    assert item.reservations == {"order-1": 1}
    assert [getattr(r, "available", None) for r in results] == [4, 2]
    assert item.version == raced[0] + 1  # the batch applied on top of the reservation


@pytest.mark.asyncio
async def test_a_crash_in_the_middle_of_a_batched_save_loses_nothing(
    hubs: Callable[[], Hub], kafka_bootstrap: str
) -> None:
    hub, feed = hubs(), Feed(kafka_bootstrap)
    skus = [f"SKU-{n:03d}" for n in range(50)]
    await feed.send([snap(sku, n + 1) for n, sku in enumerate(skus)])
    crashing = hubs()
    recorder: Any = crashing.store.recorder
    # A save is one statement (hub.pg_recorder: atomic on the server, nothing to die between);
    # the pipelined save, kept for a database without the function, has statements to die
    # between: this dies there.
    recorder._insert_by_call = False
    real_insert = recorder._insert_stored_events

    class Crash(BaseException):
        """The process dying: not an error a handler catches and parks."""

    def insert_then_die(curs: Any, stored_events: Any, **kwargs: Any) -> None:
        real_insert(curs, stored_events[: len(stored_events) // 2], **kwargs)
        raise Crash  # half the batch written in the transaction, then the process is gone

    recorder._insert_stored_events = insert_then_die
    with pytest.raises(Crash):
        await feed.deliver(stock_feed(crashing, RecordingPublisher()), len(skus))
    assert all(on_hand(hub.catalog, sku) is None for sku in skus)  # nothing half-saved

    await feed.deliver(stock_feed(hubs(), RecordingPublisher()), len(skus))  # after a restart

    assert [on_hand(hub.catalog, sku) for sku in skus] == list(range(1, 51))


def snapshot_of(sku: str, count: int) -> StockSnapshot:
    return StockSnapshot(source_id=SOURCE, sku=sku, on_hand=count)


def delta_of(sku: str, change: int) -> StockDelta:
    return StockDelta(source_id=SOURCE, sku=sku, delta=change, reason="receipt")
