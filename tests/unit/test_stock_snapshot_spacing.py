"""A stock item holding many open reservations is snapshotted further apart: its snapshot lists
them all, and taken every 50 events its bytes per reservation grew with the open ones."""

import itertools
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

import pytest

from aggregates.stock import StockItem
from hub import store as store_module
from hub.services.reserved_events import ReservedEvents, TotalsItem
from hub.services.stock_reservations import Reservation, StockItems
from hub.services.supply_view import SupplyView
from hub.store import STOCK_SNAPSHOT_EVERY, UNITS_PER_SNAPSHOT_EVENT, OrderStore
from hub.store import stock_snapshot_every as every
from tests.unit.test_stock_by_totals import ReplayingStore, counted_loads

T1 = datetime(2026, 12, 6, 9, 0, tzinfo=UTC)
KEY = ("dc", "HOT")


def env(path: Path) -> dict[str, str]:
    return {"PERSISTENCE_MODULE": "eventsourcing.sqlite", "SQLITE_DBNAME": str(path)}


def test_the_interval_doubles_with_the_units_reserved_and_stays_a_multiple_of_the_base() -> None:
    threshold = STOCK_SNAPSHOT_EVERY * UNITS_PER_SNAPSHOT_EVENT
    assert every(STOCK_SNAPSHOT_EVERY, 0) == STOCK_SNAPSHOT_EVERY
    assert every(STOCK_SNAPSHOT_EVERY, threshold) == STOCK_SNAPSHOT_EVERY
    assert every(STOCK_SNAPSHOT_EVERY, threshold + 1) == 2 * STOCK_SNAPSHOT_EVERY
    assert every(STOCK_SNAPSHOT_EVERY, 2 * threshold + 1) == 4 * STOCK_SNAPSHOT_EVERY
    for reserved in (1, 799, 5_000, 123_456, 10**7):
        interval = every(STOCK_SNAPSHOT_EVERY, reserved)
        assert interval % STOCK_SNAPSHOT_EVERY == 0
        assert interval * UNITS_PER_SNAPSHOT_EVENT >= reserved
        assert (
            interval == STOCK_SNAPSHOT_EVERY or interval * UNITS_PER_SNAPSHOT_EVENT < 2 * reserved
        )


SAVED_TOGETHER = 20


def open_orders(store: OrderStore, orders: int) -> StockItem:
    """An item reserved by `orders` orders of one unit that never ship, saved a few at a time."""
    item = StockItem(source_id=KEY[0], sku=KEY[1], on_hand=10**6, safety_stock=0, at=T1)
    for n in range(orders):
        item.reserve(f"order-{n}:s:1", 1, T1)
        if n % SAVED_TOGETHER == SAVED_TOGETHER - 1:
            store.save(item)
    store.save(item)
    return item


def snapshot_bytes(store: OrderStore, item: StockItem) -> list[tuple[int, int]]:
    assert store.snapshots is not None
    stored = store.snapshots.recorder.select_events(item.id)  # as written: `state` is bytes
    return [(s.originator_version, len(s.state)) for s in stored]


def test_an_item_with_thousands_open_writes_a_bounded_share_of_snapshot_bytes_per_event(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    spaced = OrderStore(env=env(tmp_path / "spaced.sqlite3"))
    item = open_orders(spaced, 4_000)
    snapshots = snapshot_bytes(spaced, item)
    # As before: every 50 events, whatever the item holds.
    monkeypatch.setattr(store_module, "UNITS_PER_SNAPSHOT_EVENT", 10**9)
    fixed = OrderStore(env=env(tmp_path / "fixed.sqlite3"))
    fixed_snapshots = snapshot_bytes(fixed, open_orders(fixed, 4_000))

    assert len(fixed_snapshots) == item.version // STOCK_SNAPSHOT_EVERY
    # Taken at the end of the save that reached a multiple of the interval of the units held
    # (one unit an order: the version less one): 50 apart up to 800 units reserved (16), then
    # 100 (900-1,600: 8), 200 (1,800-3,200: 8) and 400 apart (3,600 and 4,000).
    assert len(snapshots) == 34
    for (earlier, _), (later, _) in itertools.pairwise(snapshots):
        assert later - earlier > every(STOCK_SNAPSHOT_EVERY, earlier - 1) - SAVED_TOGETHER
    spaced_bytes = sum(size for _, size in snapshots)
    fixed_bytes = sum(size for _, size in fixed_snapshots)
    assert spaced_bytes * 2 < fixed_bytes
    # Snapshot bytes per event stay within 2 x 16 open reservations' worth (the interval is a
    # power of two times 50 of at least a sixteenth of the units); every 50 events, 80 here.
    last, before = snapshots[-1], snapshots[-2]
    per_reservation = last[1] / len(item.reservations)
    assert last[1] / (last[0] - before[0]) <= 2 * UNITS_PER_SNAPSHOT_EVENT * per_reservation


def test_a_load_after_spaced_snapshots_equals_a_full_replay(tmp_path: Path) -> None:
    store = OrderStore(env=env(tmp_path / "events.sqlite3"))
    item = open_orders(store, 2_500)
    assert store.snapshots is not None
    newest = next(iter(store.snapshots.get(item.id, desc=True, limit=1)))

    loaded: StockItem = store.repository_for(StockItem).get(item.id)
    replaying = ReplayingStore(env=env(tmp_path / "events.sqlite3"))
    replayed: StockItem = replaying.repository.get(item.id)

    assert item.version - newest.originator_version < every(STOCK_SNAPSHOT_EVERY, item.reserved)
    assert loaded.reserved == replayed.reserved == item.reserved == 2_500
    assert loaded.reservations == replayed.reservations == item.reservations
    assert loaded.version == replayed.version == item.version


def test_routing_on_the_views_totals_loads_the_item_only_where_the_spaced_interval_is_due(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    # An item already holding 2,000 units for one order: snapshotted every 200 events from
    # then on. Routing writes reservations by the view's totals (in stored form), loads the
    # whole item only for a save that reaches a multiple of 200, and the store snapshots it
    # then and at no other save.
    store = OrderStore(env=env(tmp_path / "events.sqlite3"))
    item = StockItem(source_id=KEY[0], sku=KEY[1], on_hand=10**6, safety_stock=0, at=T1)
    item.reserve("big-order:s:1", 2_000, T1)
    store.save(item)
    interval = every(STOCK_SNAPSHOT_EVERY, 2_000)
    assert interval == 4 * STOCK_SNAPSHOT_EVERY
    view = SupplyView(store)
    assert ReservedEvents(store).usable
    items = StockItems(store, view)
    loads = counted_loads(monkeypatch, view, KEY)
    crossed, n = [], 0
    while (holding := view.holding(*KEY)) is None or holding.version < 3 * interval:
        view.refresh()
        before = view.holding(*KEY)
        assert before is not None
        batch = [Reservation(*KEY, f"order-{n}-{i}:s:1", 1) for i in range(7)]
        touched: dict[Any, StockItem | TotalsItem] = {}
        items.reserve(batch, touched, T1)
        store.save(*touched.values())
        if (before.version + 7) // interval > before.version // interval:
            crossed.append(before.version)
        n += 1
        view.refresh()

    assert loads == crossed and len(crossed) == 3
    assert store.snapshots is not None
    versions = [s.originator_version for s in store.snapshots.get(item.id)]
    # Each at the end of the save that reached the multiple (the item as that save left it).
    assert versions == [version + 7 for version in crossed]
    assert [version // interval for version in versions] == [1, 2, 3]
