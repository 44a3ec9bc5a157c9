"""What routing keeps between batches stays bounded: no stock item it loaded whole (each lists
every open reservation of its row), and stock levels made once per figures up to a stated
number."""

import gc
import weakref
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


def busy_item(tmp_path: Path, seed: int) -> tuple[OrderStore, SupplyView, StockItems]:
    store = OrderStore(env=env(tmp_path / "events.sqlite3"))
    busy(store, seed, steps=10)
    view = SupplyView(store)
    view.refresh()
    return store, view, StockItems(store, view)


def test_an_item_loaded_whole_is_not_kept_after_its_batch(tmp_path: Path) -> None:
    # A kept whole item was current only until its next reservation, which the view's totals
    # take; what stayed kept were items no order reserved on again, each listing every open
    # reservation of its row (soak25).
    store, view, items = busy_item(tmp_path, 3)
    touched = reserve(items, "o1:s:1", by_totals=False)
    loaded = weakref.ref(touched[KEY])
    assert loaded() is not None and "o1:s:1" in touched[KEY].reservations
    store.save(*touched.values())
    view.refresh()

    del touched
    gc.collect()

    assert loaded() is None, "the routing side still holds the whole item"
    nexts = reserve(items, "o2:s:1")
    assert not isinstance(nexts[KEY], StockItem), "taken by the view's totals"


def test_a_retry_loads_the_item_as_the_store_holds_it_now(tmp_path: Path) -> None:
    store, view, items = busy_item(tmp_path, 4)
    store.save(*reserve(items, "o1:s:1", by_totals=False).values())
    view.refresh()
    elsewhere = by_totals(view)  # e.g. another worker's reservation, or a shipment's
    elsewhere.reserve("o3:s:1", 1, T1)
    store.save(elsewhere)  # the view not refreshed since: it is behind the store

    touched = reserve(items, "o4:s:1", by_totals=False)

    assert touched[KEY].reservations.keys() >= {"o1:s:1", "o3:s:1", "o4:s:1"}
    store.save(*touched.values())


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
