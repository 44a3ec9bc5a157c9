"""Reserving on a stock item known by the supply view's totals: the same event the whole item
makes, refused by the store when the item moved on, and never where a snapshot is due (a
snapshot holds the whole item)."""

from datetime import UTC, datetime
from pathlib import Path
from typing import Any, ClassVar

import pytest
from eventsourcing.persistence import IntegrityError

from aggregates.errors import InsufficientStockError
from aggregates.stock import StockItem
from hub.services import stock_reservations
from hub.services.reserved_events import ReservedEvents, TotalsItem
from hub.services.stock_reservations import Reservation, StockItems
from hub.services.supply_view import SupplyView
from hub.store import STOCK_SNAPSHOT_EVERY, OrderStore
from tests.unit.test_stock_reserved_total import churn

T1 = datetime(2026, 12, 5, 9, 0, tzinfo=UTC)
KEY = ("dc", "A")


class ReplayingStore(OrderStore):
    """The same event store read without snapshots: every load replays the whole history."""

    name = OrderStore.name
    snapshotting_intervals: ClassVar[dict[type[Any], int]] = {}


def env(path: Path) -> dict[str, str]:
    return {"PERSISTENCE_MODULE": "eventsourcing.sqlite", "SQLITE_DBNAME": str(path)}


def busy(store: OrderStore, seed: int, steps: int = 120) -> StockItem:
    item = StockItem(source_id=KEY[0], sku=KEY[1], on_hand=300, safety_stock=2, at=T1)
    churn(item, steps, seed)
    store.save(item)
    return item


def by_totals(view: SupplyView) -> StockItem:
    holding = view.holding(*KEY)
    assert holding is not None
    totals = (holding.on_hand, holding.reserved, holding.safety_stock)
    return StockItem.by_totals(*KEY, totals, holding.version, T1)


def written(store: OrderStore, item: StockItem) -> list[tuple[Any, ...]]:
    """The item's pending events as stored, but for their timestamps."""
    stored = []
    for event in item.collect_events():
        state = {k: v for k, v in vars(event).items() if k != "timestamp"}
        record = store.mapper.to_stored_event(event)
        stored.append((record.originator_id, record.originator_version, record.topic, state))
    return stored


@pytest.mark.parametrize("seed", [1, 2, 3, 4])
def test_a_reservation_by_totals_is_the_event_the_whole_item_makes(
    tmp_path: Path, seed: int
) -> None:
    store = OrderStore(env=env(tmp_path / "events.sqlite3"))
    saved = busy(store, seed)
    view = SupplyView(store)
    view.refresh()
    whole, known = store.repository_for(StockItem).get(saved.id), by_totals(view)

    assert (known.id, known.version, known.available) == (whole.id, whole.version, whole.available)
    for item in (whole, known):
        with pytest.raises(InsufficientStockError):
            item.reserve("order-x:s:1", item.available + 1, T1)
        item.reserve("order-x:s:1", item.available, T1)
    assert written(store, known) == written(store, whole)


def test_a_reservation_by_totals_of_a_version_the_item_moved_past_is_refused(
    tmp_path: Path,
) -> None:
    store = OrderStore(env=env(tmp_path / "events.sqlite3"))
    saved = busy(store, 5)
    view = SupplyView(store)
    view.refresh()
    known = by_totals(view)
    saved.reserve("order-a:s:1", 1, T1)  # another worker, after the view's refresh
    store.save(saved)

    known.reserve("order-b:s:1", 1, T1)
    with pytest.raises(IntegrityError):
        store.save(known)


def test_items_are_loaded_only_where_a_snapshot_is_due_and_loads_stay_exact(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    store = OrderStore(env=env(tmp_path / "events.sqlite3"))
    busy(store, 6, steps=30)
    view = SupplyView(store)
    items = StockItems(store, view)
    loads = counted_loads(monkeypatch, view, KEY)
    n, crossed = 0, []
    while len(crossed) < 3:
        view.refresh()
        before = view.holding(*KEY)
        assert before is not None
        batch = [Reservation(*KEY, f"order-{n}-{i}:s:1", 1) for i in range(3)]
        touched: dict[Any, StockItem] = {}
        items.reserve(batch, touched, T1)
        store.save(*touched.values())
        if (before.version + 3) // STOCK_SNAPSHOT_EVERY > before.version // STOCK_SNAPSHOT_EVERY:
            crossed.append(before.version)
        n += 1

    # Loaded for the batches that reached a snapshot's version, and for those alone.
    assert loads == crossed
    snapshotted_as_replayed(store, tmp_path)


def counted_loads(
    monkeypatch: pytest.MonkeyPatch, view: SupplyView, key: tuple[str, str]
) -> list[int]:
    """The versions the view knew of the item at each load of stock items from the store."""
    loads: list[int] = []
    find_many = stock_reservations.find_many

    def counting(*args: Any, **kwargs: Any) -> Any:
        holding = view.holding(*key)
        loads.append(0 if holding is None else holding.version)
        return find_many(*args, **kwargs)

    monkeypatch.setattr(stock_reservations, "find_many", counting)
    return loads


def snapshotted_as_replayed(store: OrderStore, tmp_path: Path) -> list[Any]:
    """The item's snapshots: one at each of the three intervals crossed, taken of the whole
    item as its save left it (a load equal to a full replay). Returns them, newest first."""
    assert store.snapshots is not None
    saved_id = StockItem.create_id(*KEY)
    snapshots = list(store.snapshots.get(saved_id, desc=True))
    assert [s.originator_version // STOCK_SNAPSHOT_EVERY for s in snapshots] == [3, 2, 1]
    loaded = store.repository_for(StockItem).get(saved_id)
    replaying = ReplayingStore(env=env(tmp_path / "events.sqlite3"))
    replayed = replaying.repository.get(saved_id)
    assert {k: v for k, v in vars(loaded).items() if k != "_pending_events"} == {
        k: v for k, v in vars(replayed).items() if k != "_pending_events"
    }
    assert loaded.reserved == sum(loaded.reservations.values())
    return snapshots


def test_after_a_conflict_items_are_loaded_whatever_the_view_knows(tmp_path: Path) -> None:
    store = OrderStore(env=env(tmp_path / "events.sqlite3"))
    busy(store, 7, steps=10)
    view = SupplyView(store)
    view.refresh()
    touched: dict[Any, StockItem] = {}

    StockItems(store, view).reserve([Reservation(*KEY, "o:s:1", 1)], touched, T1, by_totals=False)

    assert touched[KEY].reservations.keys() >= {"o:s:1"}
    assert len(touched[KEY].reservations) > 1, "the whole item, with the reservations it held"


def test_reservations_written_in_stored_form_across_an_interval_take_the_snapshot(
    tmp_path: Path,
) -> None:
    # Written straight to their stored form (TotalsItem), the events reach versions the
    # store snapshots with no aggregate saved: the store reads the item back for it. Without,
    # no snapshot was taken and each load replayed the whole history.
    store = OrderStore(env=env(tmp_path / "events.sqlite3"))
    busy(store, 8, steps=10)
    view = SupplyView(store)
    reserved = ReservedEvents(store)
    assert reserved.usable
    view.refresh()
    n, end = 0, 3 * STOCK_SNAPSHOT_EVERY
    while (holding := view.holding(*KEY)) is not None and holding.version < end:
        totals = (holding.on_hand, holding.reserved, holding.safety_stock)
        item = TotalsItem(*KEY, totals, holding.version, reserved)
        for _ in range(7):
            item.reserve(f"order-{n}:s:1", 1, T1)
            n += 1
        store.save(item)
        view.refresh()

    snapshots = snapshotted_as_replayed(store, tmp_path)
    # A load reads the last snapshot and the events after it, not the whole history.
    newest = snapshots[0].originator_version
    after = store.recorder.select_events(StockItem.create_id(*KEY), gt=newest)
    assert len(after) < STOCK_SNAPSHOT_EVERY
