"""What routing keeps between batches stays bounded: a cached stock item is dropped once
reserved on by the view's totals, and one the item moved past when next wanted (it can never be
current again); one the view has not caught up with is kept; stock levels made once per figures
are kept up to a stated number."""

from pathlib import Path
from typing import Any

import pytest

from aggregates.stock import StockItem
from hub.services.stock_reservations import Reservation, StockItems
from hub.services.supply_view import SupplyView
from hub.store import OrderStore
from orchestration_policies import decision_inputs
from tests.unit.test_stock_by_totals import KEY, T1, busy, by_totals, env


def reserve(items: StockItems, key: str, by_totals: bool = True) -> dict[Any, StockItem]:
    touched: dict[Any, StockItem] = {}
    items.reserve([Reservation(*KEY, key, 1)], touched, T1, by_totals=by_totals)
    return touched


def loaded_once(tmp_path: Path, seed: int) -> tuple[OrderStore, SupplyView, StockItems]:
    """A busy item, reserved on once loaded whole (so kept), and saved; the view not refreshed."""
    store = OrderStore(env=env(tmp_path / "events.sqlite3"))
    busy(store, seed, steps=10)
    view = SupplyView(store)
    view.refresh()
    items = StockItems(store, view)
    store.save(*reserve(items, "o1:s:1", by_totals=False).values())
    return store, view, items


def test_a_cached_item_is_dropped_once_reserved_on_by_the_views_totals(tmp_path: Path) -> None:
    # Kept and preferred, a loaded item went on taking reservations whole and kept all of its
    # open ones in the process (snap13).
    store, view, items = loaded_once(tmp_path, 3)
    view.refresh()
    assert items.cached() == [KEY]

    touched = reserve(items, "o2:s:1")

    assert not isinstance(touched[KEY], StockItem), "taken by the view's totals"
    assert items.cached() == []
    store.save(*touched.values())  # at the item's version: the store takes it
    whole: StockItem = store.repository_for(StockItem).get(StockItem.create_id(*KEY))
    assert whole.reservations.keys() >= {"o1:s:1", "o2:s:1"}


def test_a_cached_item_the_item_moved_past_is_dropped_and_not_used(tmp_path: Path) -> None:
    store, view, items = loaded_once(tmp_path, 3)
    view.refresh()
    elsewhere = by_totals(view)  # e.g. another worker's reservation, or a shipment's
    elsewhere.reserve("o3:s:1", 1, T1)
    store.save(elsewhere)
    view.refresh()

    touched = reserve(items, "o4:s:1", by_totals=False)

    # Loaded again (the copy never saw o3), at the item's version: the store takes it.
    assert touched[KEY].reservations.keys() >= {"o1:s:1", "o3:s:1", "o4:s:1"}
    assert touched[KEY].version == view.holding(*KEY).version + 1  # type: ignore[union-attr]
    store.save(*touched.values())


def test_a_cached_item_ahead_of_the_view_is_kept(tmp_path: Path) -> None:
    _, view, items = loaded_once(tmp_path, 4)

    reserve(items, "o2:s:1")  # by the view's (older) totals: the cached copy is not it

    assert items.cached() == [KEY]
    view.refresh()
    loaded = reserve(items, "o3:s:1", by_totals=False)[KEY]
    assert loaded.reservations.keys() >= {"o1:s:1", "o3:s:1"}


def test_stock_levels_are_kept_up_to_their_bound(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setattr(decision_inputs, "_LEVELS", {})
    monkeypatch.setattr(decision_inputs, "KEPT_LEVELS", 8)
    first = decision_inputs.level_of(5, 1, 0)
    assert decision_inputs.level_of(5, 1, 0) is first
    for on_hand in range(100):
        level = decision_inputs.level_of(on_hand, 0, 0)
        assert (level.on_hand, level.reserved, level.available) == (on_hand, 0, on_hand)
        assert len(decision_inputs._LEVELS) <= 8
    assert decision_inputs.level_of(5, 1, 0) == first
