"""The stock feed's handler: snapshots and deltas applied; refused ones kept with the reason."""

import hashlib
import json
from typing import Any

import pytest

from aggregates.errors import DomainError
from aggregates.stock import StockItem
from connectors.codec import OutboundRecord
from connectors.consumed import RAW_KEPT, ConsumedMessage
from connectors.publisher import RecordingPublisher
from hub.services.catalog import CatalogService, FeedPosition, StockLevel
from hub.settings import Settings
from hub.store import OrderStore
from hub.streaming.edge_handlers import StockFeedConsumer
from schemas.sources import SourceDefinition, StockDelta, StockSnapshot
from tests.contracts.factories import NOW, fixed_clock

SNAPSHOTS = "orderhub.inventory.snapshots"
REJECTED = "orderhub.inventory.rejected"
DLQ = "orderhub.dlq"
FEED_HEADERS = (("source-system", b"wms-lyon"),)


@pytest.fixture
def catalog(store: OrderStore) -> CatalogService:
    catalog = CatalogService(store, fixed_clock(NOW))
    catalog.register_source(
        SourceDefinition.model_validate(
            {
                "source_id": "wh-lyon",
                "name": "Lyon DC",
                "kind": "warehouse",
                "lat": 45.75,
                "lon": 4.85,
                "country": "FR",
                "ships_to": ["FR", "BE"],
                "delivery_methods": ["standard"],
                "daily_capacity": 500,
                "lead_time_days": 1,
                "cost": {"base": "4.50", "per_unit": "0.40", "per_km": "0.01", "currency": "EUR"},
            }
        ),
        actor="user:alice",
    )
    return catalog


@pytest.fixture
def publisher() -> RecordingPublisher:
    return RecordingPublisher()


@pytest.fixture
def consumer(
    catalog: CatalogService, publisher: RecordingPublisher, settings: Settings
) -> StockFeedConsumer:
    return StockFeedConsumer(catalog, publisher, settings)


def feed(value: bytes | dict[str, Any], offset: int = 0, partition: int = 1) -> ConsumedMessage:
    raw = value if isinstance(value, bytes) else json.dumps(value).encode()
    return ConsumedMessage(
        topic=SNAPSHOTS,
        partition=partition,
        offset=offset,
        key=b"wh-lyon:RED-CHAIR",
        value=raw,
        headers=FEED_HEADERS,
    )


def snapshot(on_hand: Any = 12, **overrides: Any) -> dict[str, Any]:
    return {
        "kind": "snapshot",
        "source_id": "wh-lyon",
        "sku": "RED-CHAIR",
        "on_hand": on_hand,
        **overrides,
    }


def delta(change: Any, **overrides: Any) -> dict[str, Any]:
    return {
        "kind": "delta",
        "source_id": "wh-lyon",
        "sku": "RED-CHAIR",
        "delta": change,
        "reason": "receipt",
        **overrides,
    }


def level(catalog: CatalogService, sku: str = "RED-CHAIR") -> StockLevel | None:
    levels = catalog.stock_levels("wh-lyon", [sku])
    return levels[0] if levels else None


def body(record: OutboundRecord) -> dict[str, Any]:
    return json.loads(record.value)  # type: ignore[no-any-return]


def header(record: OutboundRecord, name: str) -> bytes:
    return dict(record.headers)[name]


@pytest.mark.asyncio
async def test_a_snapshot_then_a_delta_set_and_then_move_on_hand(
    consumer: StockFeedConsumer, catalog: CatalogService, publisher: RecordingPublisher
) -> None:
    await consumer.handle([feed(snapshot(on_hand=12, safety_stock=2), offset=0)])
    counted = level(catalog)
    await consumer.handle([feed(delta(+3), offset=1)])

    assert counted is not None
    assert (counted.on_hand, counted.safety_stock, counted.available) == (12, 2, 10)
    after = level(catalog)
    assert after is not None
    assert (after.on_hand, after.safety_stock, after.available) == (15, 2, 13)
    assert publisher.records == []


@pytest.mark.asyncio
async def test_a_later_snapshot_replaces_on_hand_and_keeps_safety_stock_when_not_given(
    consumer: StockFeedConsumer, catalog: CatalogService
) -> None:
    await consumer.handle(
        [feed(snapshot(on_hand=12, safety_stock=2), 0), feed(snapshot(on_hand=7), 1)]
    )

    after = level(catalog)
    assert after is not None
    assert (after.on_hand, after.safety_stock) == (7, 2)


@pytest.mark.asyncio
async def test_a_delta_for_a_sku_never_counted_starts_from_zero(
    consumer: StockFeedConsumer, catalog: CatalogService, publisher: RecordingPublisher
) -> None:
    await consumer.handle([feed(delta(+4, sku="BLUE-LAMP"))])

    after = level(catalog, "BLUE-LAMP")
    assert after is not None
    assert (after.on_hand, after.reserved) == (4, 0)
    assert publisher.records == []


@pytest.mark.asyncio
async def test_stock_for_an_unknown_source_is_rejected_with_the_reason_and_raw_payload(
    consumer: StockFeedConsumer, catalog: CatalogService, publisher: RecordingPublisher
) -> None:
    message = feed(snapshot(source_id="wh-nowhere"), offset=41)

    await consumer.handle([message])

    (record,) = publisher.records
    assert record.topic == REJECTED
    assert record.key == b"wh-lyon:RED-CHAIR"
    kept = body(record)
    assert kept["reason"] == "UnknownSourceError"
    assert any("wh-nowhere" in str(e) for e in kept["errors"])
    assert kept["raw_payload"] == message.value.decode()
    assert kept["source"] == {"topic": SNAPSHOTS, "partition": 1, "offset": 41}
    assert catalog.find_stock("wh-nowhere", "RED-CHAIR") is None


@pytest.mark.asyncio
async def test_a_large_refused_message_is_kept_as_its_first_bytes_its_size_and_digest(
    consumer: StockFeedConsumer, publisher: RecordingPublisher
) -> None:
    """A 4 MB message, its SKU 2,000,000 "é": whole and escaped (`\\u00e9`, 6 bytes each)
    its rejection was 12 MB, over what a rejected topic made with the broker's default takes;
    the record repeats the first RAW_KEPT bytes."""
    raw = json.dumps(snapshot(sku="é" * 2_000_000), ensure_ascii=False).encode()
    message = feed(raw, offset=7)

    await consumer.handle([message])

    (record,) = publisher.records
    kept = body(record)
    assert record.topic == REJECTED and len(record.value) < 6 * RAW_KEPT + 10_000
    assert kept["raw_payload"] == raw[:RAW_KEPT].decode(errors="replace")
    assert kept["raw_payload_bytes"] == len(raw)
    assert kept["raw_payload_sha256"] == hashlib.sha256(raw).hexdigest()
    assert kept["source"] == {"topic": SNAPSHOTS, "partition": 1, "offset": 7}


@pytest.mark.asyncio
async def test_a_negative_on_hand_is_rejected_with_field_level_errors_and_changes_nothing(
    consumer: StockFeedConsumer, catalog: CatalogService, publisher: RecordingPublisher
) -> None:
    await consumer.handle([feed(snapshot(on_hand=12), 0)])
    message = feed(snapshot(on_hand=-3), offset=1)

    await consumer.handle([message])

    (record,) = publisher.records
    assert record.topic == REJECTED
    kept = body(record)
    assert kept["reason"] == "invalid_stock_message"
    (error,) = kept["errors"]
    assert error["field"].endswith("on_hand")
    assert error["code"] == "greater_than_equal"
    assert kept["raw_payload"] == message.value.decode()
    after = level(catalog)
    assert after is not None and after.on_hand == 12


@pytest.mark.asyncio
async def test_the_rejected_field_is_named_by_its_path_in_the_message(
    consumer: StockFeedConsumer, publisher: RecordingPublisher
) -> None:
    await consumer.handle([feed(snapshot(on_hand=-3)), feed(delta("3", reason=""), 1)])

    fields = [[e["field"] for e in body(r)["errors"]] for r in publisher.records]
    assert fields == [["on_hand"], ["delta", "reason"]]


@pytest.mark.asyncio
async def test_a_delta_taking_on_hand_below_zero_is_rejected_as_a_stock_error(
    consumer: StockFeedConsumer, catalog: CatalogService, publisher: RecordingPublisher
) -> None:
    await consumer.handle([feed(snapshot(on_hand=2), 0), feed(delta(-5, reason="damaged"), 1)])

    (record,) = publisher.records
    kept = body(record)
    assert (record.topic, kept["reason"]) == (REJECTED, "StockError")
    assert "cannot go down by 5" in kept["errors"][0]
    after = level(catalog)
    assert after is not None and after.on_hand == 2


@pytest.mark.parametrize(
    "raw",
    [b"{not json", b"\xff\xfe\x00", b"[" * 5000 + b"]" * 5000],
    ids=["broken JSON", "not UTF-8", "nested 5000 deep"],
)
@pytest.mark.asyncio
async def test_unparseable_bytes_go_to_the_dlq_as_they_came(
    consumer: StockFeedConsumer, publisher: RecordingPublisher, raw: bytes
) -> None:
    await consumer.handle([feed(raw, offset=7)])

    (record,) = publisher.records
    assert record.topic == DLQ
    assert record.value == raw
    assert record.key == b"wh-lyon:RED-CHAIR"
    assert header(record, "dlq-error").startswith(b"unparseable:")
    assert header(record, "dlq-consumer") == b"stock_feed"
    assert header(record, "dlq-original-topic") == SNAPSHOTS.encode()
    assert header(record, "dlq-original-offset") == b"7"
    assert header(record, "source-system") == b"wms-lyon"  # the original headers are kept


@pytest.mark.asyncio
async def test_the_batch_goes_on_after_each_bad_message(
    consumer: StockFeedConsumer, catalog: CatalogService, publisher: RecordingPublisher
) -> None:
    batch = [
        feed(snapshot(on_hand=10), 0),
        feed(b"{oops", 1),
        feed(delta(+2), 2),
        feed(snapshot(source_id="wh-nowhere"), 3),
        feed(delta(+1), 4),
        feed(snapshot(on_hand=-1, sku="BLUE-LAMP"), 5),
        feed(snapshot(on_hand=6, sku="BLUE-LAMP"), 6),
    ]

    await consumer.handle(batch)

    red, blue = level(catalog), level(catalog, "BLUE-LAMP")
    assert red is not None and red.on_hand == 13
    assert blue is not None and blue.on_hand == 6
    parked = [
        (r.topic, r.value if r.topic == DLQ else body(r)["reason"]) for r in publisher.records
    ]
    assert parked == [
        (DLQ, b"{oops"),
        (REJECTED, "UnknownSourceError"),
        (REJECTED, "invalid_stock_message"),
    ]


class FailingCatalog:
    """The real catalog, except that the store is unavailable for one SKU."""

    def __init__(self, real: CatalogService, failing_sku: str) -> None:
        self._real = real
        self._failing_sku = failing_sku

    def apply_stock(
        self, message: StockSnapshot | StockDelta, actor: str, position: FeedPosition | None
    ) -> StockLevel:
        if message.sku == self._failing_sku:
            raise OSError("disk full")
        return self._real.apply_stock(message, actor, position)

    def apply_stock_many(
        self,
        messages: list[StockSnapshot | StockDelta],
        actor: str,
        positions: list[FeedPosition | None],
    ) -> list[StockLevel | DomainError]:
        if any(message.sku == self._failing_sku for message in messages):
            raise OSError("disk full")
        return self._real.apply_stock_many(messages, actor, positions)

    def find_stock(self, source_id: str, sku: str) -> StockItem | None:
        return self._real.find_stock(source_id, sku)


@pytest.mark.asyncio
async def test_a_message_the_store_cannot_take_is_parked_in_the_dlq_and_the_batch_goes_on(
    catalog: CatalogService, publisher: RecordingPublisher, settings: Settings
) -> None:
    failing = FailingCatalog(catalog, failing_sku="BLUE-LAMP")
    consumer = StockFeedConsumer(failing, publisher, settings)  # type: ignore[arg-type]

    await consumer.handle(
        [feed(snapshot(on_hand=3, sku="BLUE-LAMP"), 0), feed(snapshot(on_hand=9), 1)]
    )

    (record,) = publisher.records
    assert record.topic == DLQ
    assert header(record, "dlq-error") == b"OSError('disk full')"
    after = level(catalog)
    assert after is not None and after.on_hand == 9


@pytest.mark.asyncio
async def test_the_actor_of_a_feed_update_is_the_stock_feed(
    consumer: StockFeedConsumer, catalog: CatalogService, store: OrderStore
) -> None:
    await consumer.handle([feed(snapshot(on_hand=12), 0), feed(snapshot(on_hand=8), 1)])

    item = catalog.find_stock("wh-lyon", "RED-CHAIR")
    assert item is not None
    counted: Any = list(store.events.get(item.id))[-1]
    assert (type(counted).__name__, counted.reason) == ("Counted", "system:stock_feed")


@pytest.mark.asyncio
async def test_a_batch_delivered_again_changes_nothing_twice(
    consumer: StockFeedConsumer, catalog: CatalogService, store: OrderStore
) -> None:
    batch = [feed(snapshot(on_hand=10), 4), feed(delta(5), 5), feed(delta(-2), 6)]
    await consumer.handle(batch)
    events = store.max_position()

    await consumer.handle(batch)  # at-least-once: the offsets were not committed

    after = level(catalog)
    assert after is not None and after.on_hand == 13
    assert store.max_position() == events  # nothing recorded the second time


@pytest.mark.asyncio
async def test_a_redelivered_tail_is_skipped_and_the_new_messages_after_it_apply(
    consumer: StockFeedConsumer, catalog: CatalogService
) -> None:
    await consumer.handle([feed(snapshot(on_hand=10), 4), feed(delta(5), 5)])

    # A new owner of the partition starts again from 5: 5 is known, 6 is new.
    await consumer.handle([feed(delta(5), 5), feed(delta(1), 6)])

    after = level(catalog)
    assert after is not None and after.on_hand == 16


@pytest.mark.asyncio
async def test_the_same_offset_of_another_partition_is_another_message(
    consumer: StockFeedConsumer, catalog: CatalogService
) -> None:
    await consumer.handle([feed(snapshot(on_hand=10), 4)])
    other = feed(delta(3), 4, partition=2)

    await consumer.handle([other])

    after = level(catalog)
    assert after is not None and after.on_hand == 13


@pytest.mark.asyncio
async def test_one_by_one_after_a_failed_batch_skips_what_was_applied(
    catalog: CatalogService, publisher: RecordingPublisher, settings: Settings
) -> None:
    consumer = StockFeedConsumer(catalog, publisher, settings)
    await consumer.handle([feed(snapshot(on_hand=10), 4), feed(delta(5), 5)])
    failing = FailingCatalog(catalog, failing_sku="BLUE-LAMP")
    retrying = StockFeedConsumer(failing, publisher, settings)  # type: ignore[arg-type]

    # The batch fails on BLUE-LAMP, so each message goes on its own: 5 again changes nothing.
    await retrying.handle([feed(delta(5), 5), feed(snapshot(on_hand=1, sku="BLUE-LAMP"), 6)])

    after = level(catalog)
    assert after is not None and after.on_hand == 15
