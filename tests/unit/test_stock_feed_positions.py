"""Stock items remember the feed offsets they applied; events recorded before that still load."""

import json
from datetime import UTC, datetime

from aggregates.stock import StockItem
from hub.multi_get import project_events
from hub.store import STOCK_SNAPSHOT_EVERY, OrderStore

AT = datetime(2026, 12, 1, 9, 0, tzinfo=UTC)
FEED = "orderhub.inventory.snapshots/0"


def test_an_item_knows_the_offsets_it_applied_per_partition() -> None:
    item = StockItem(source_id="wh", sku="A", on_hand=5, safety_stock=0, at=AT, feed=FEED, offset=7)
    item.adjust(2, at=AT, reason="receipt", feed=FEED, offset=9)

    assert item.already_fed(FEED, 9) and item.already_fed(FEED, 3)
    assert not item.already_fed(FEED, 10)
    assert not item.already_fed("orderhub.inventory.snapshots/1", 9)


def test_changes_from_outside_a_feed_leave_the_offsets_alone() -> None:
    item = StockItem(source_id="wh", sku="A", on_hand=5, safety_stock=0, at=AT)
    item.count(9, None, at=AT, reason="user:alice")
    item.adjust(1, at=AT, reason="return")

    assert item.fed == {}
    assert not item.already_fed(FEED, 0)


def test_events_recorded_before_feed_offsets_still_load(store: OrderStore) -> None:
    item = StockItem(source_id="wh", sku="A", on_hand=5, safety_stock=1, at=AT, feed=FEED, offset=1)
    item.count(8, None, at=AT, reason="feed", feed=FEED, offset=2)
    item.adjust(-3, at=AT, reason="damage", feed=FEED, offset=3)
    stored = [store.mapper.to_stored_event(e) for e in item.collect_events()]
    old = []
    for event in stored:  # as an earlier release wrote them: no feed, no offset
        state = json.loads(event.state)
        assert state.pop("feed") == FEED and "offset" in state
        del state["offset"]
        old.append(event.__class__(**{**event.__dict__, "state": json.dumps(state).encode()}))

    loaded = project_events(None, map(store.mapper.to_domain_event, old))

    assert (loaded.on_hand, loaded.safety_stock, loaded.version) == (5, 1, 3)
    assert loaded.fed == {}
    assert not loaded.already_fed(FEED, 1)


def test_a_snapshot_taken_before_feed_offsets_still_answers() -> None:
    item = StockItem(source_id="wh", sku="A", on_hand=5, safety_stock=0, at=AT)
    del item.__dict__["fed"]  # the state a snapshot of an earlier release gives back

    assert not item.already_fed(FEED, 0)
    item.adjust(1, at=AT, reason="receipt", feed=FEED, offset=4)
    assert item.already_fed(FEED, 4)


def test_the_offsets_survive_a_snapshot_of_the_item(store: OrderStore) -> None:
    item = StockItem(source_id="wh", sku="A", on_hand=0, safety_stock=0, at=AT, feed=FEED, offset=0)
    for offset in range(1, STOCK_SNAPSHOT_EVERY + 5):
        item.adjust(1, at=AT, reason="receipt", feed=FEED, offset=offset)
        store.save(item)

    loaded = store.repository_for(StockItem).get(item.id)

    assert store.snapshots is not None
    assert list(store.snapshots.get(item.id))  # loaded from a snapshot and what came after
    assert loaded.on_hand == STOCK_SNAPSHOT_EVERY + 4
    assert loaded.already_fed(FEED, STOCK_SNAPSHOT_EVERY + 4)
    assert not loaded.already_fed(FEED, STOCK_SNAPSHOT_EVERY + 5)
