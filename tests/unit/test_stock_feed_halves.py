"""The stock feed's batch recorded in part before it failed: a refusal in the recorded part is
still parked on the rejected topic, though a redelivery finds its row fed already."""

import json

import pytest

from connectors.consumed import ConsumedMessage
from connectors.publisher import RecordingPublisher
from hub.services.catalog import CatalogService
from hub.settings import Settings
from hub.store import OrderStore
from hub.streaming.edge_handlers import StockFeedConsumer
from schemas.sources import SourceDefinition, StockSnapshot
from tests.contracts.factories import NOW, fixed_clock, source_body
from tests.unit.hot_items import HotItem

SNAPSHOTS = "orderhub.inventory.snapshots"


def feed(sku: str, change: int, offset: int) -> ConsumedMessage:
    body = {"kind": "delta", "source_id": "wh-lyon", "sku": sku, "delta": change, "reason": "r"}
    return ConsumedMessage(
        topic=SNAPSHOTS,
        partition=0,
        offset=offset,
        key=f"wh-lyon/{sku}".encode(),
        value=json.dumps(body).encode(),
        headers=(("source-system", b"wms-lyon"),),
    )


def on_hand(catalog: CatalogService, sku: str) -> int:
    item = catalog.find_stock("wh-lyon", sku)
    assert item is not None
    return item.on_hand


@pytest.mark.asyncio
async def test_a_refusal_recorded_before_the_batch_failed_is_parked_all_the_same(
    store: OrderStore, settings: Settings
) -> None:
    catalog = CatalogService(store, fixed_clock(NOW))
    lyon = source_body("wh-lyon", name="Lyon DC", daily_capacity=500)
    catalog.register_source(SourceDefinition.model_validate(lyon), actor="user:alice")
    counts = [StockSnapshot(source_id="wh-lyon", sku=s, on_hand=2) for s in ("RED", "BLUE")]
    catalog.apply_stock_many(counts, "user:alice")
    HotItem(store, "GREEN", alone=0)  # GREEN never wins a save: the batch fails at its row
    publisher = RecordingPublisher()
    consumer = StockFeedConsumer(catalog, publisher, settings)
    batch = [feed("RED", -99, 10), feed("RED", +1, 11), feed("BLUE", +1, 12)]
    batch.append(feed("GREEN", +5, 13))

    await consumer.handle(batch)

    # RED's refusal was recorded with the first half, and RED +1 moved the item's offset past
    # it: the batch's reruns and the one-by-one pass see RED -99 as fed, yet it is parked.
    parked = [json.loads(r.value) for r in publisher.records]
    refusals = [(p["reason"], json.loads(p["raw_payload"])["sku"]) for p in parked]
    # GREEN, which never won, is refused "try again" on its own as before.
    assert refusals == [("StockError", "RED"), ("ConcurrentChangeError", "GREEN")]
    assert (on_hand(catalog, "RED"), on_hand(catalog, "BLUE")) == (3, 3)
