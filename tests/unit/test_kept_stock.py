"""Stock items kept between batches: what a load gives is what the store holds, whoever saved
the item since it was kept; a change not saved never reaches the kept copy."""

import gc
import pickle
import tracemalloc
from datetime import timedelta

from hypothesis import given, settings
from hypothesis import strategies as st

from aggregates.stock import StockItem
from hub.services.kept_stock import ITEM_BYTES, KeptStock
from hub.store import OrderStore
from tests.contracts.factories import NOW, popo_store
from tests.support.examples import examples


def state(item: StockItem) -> dict[str, object]:
    return {k: v for k, v in vars(item).items() if k != "_pending_events"}


def fresh(store: OrderStore, item: StockItem) -> StockItem:
    loaded = store.repository_for(StockItem).get(item.id)
    assert isinstance(loaded, StockItem)
    return loaded


# One step: ("kept" | "other", what): a change saved through the kept items (loaded, changed,
# saved, kept) or by another writer (another process) that the kept items never see.
steps = st.lists(
    st.tuples(
        st.sampled_from(["kept", "other"]),
        st.sampled_from(["reserve", "release", "count", "consume"]),
    ),
    max_size=80,
)


def change(item: StockItem, what: str, n: int) -> None:
    at = NOW + timedelta(minutes=n)
    open_keys = sorted(item.reservations)
    if what == "reserve" and item.available:
        item.reserve(f"order-{n}", 1, at=at)
    elif what == "release" and open_keys:
        item.release(open_keys[0], at=at, reason="cancelled")
    elif what == "consume" and open_keys:
        item.consume(open_keys[-1], item.reservations[open_keys[-1]], at=at)
    elif what == "count":
        item.count(item.on_hand + 5 + n % 3, None, at=at, reason="count")


@settings(max_examples=examples(100), deadline=None)
@given(script=steps)
def test_a_kept_item_loads_as_the_store_holds_it_whoever_saved_it(
    script: list[tuple[str, str]],
) -> None:
    """Snapshots every 50 events and another writer's events between loads included."""
    store = popo_store()
    item = StockItem(source_id="wh-lyon", sku="RED-CHAIR", on_hand=40, safety_stock=0, at=NOW)
    store.save(item)
    kept = KeptStock(store)
    kept.load([item.id])
    for n, (who, what) in enumerate(script):
        if who == "kept":
            loaded = kept.load([item.id])[item.id]
            change(loaded, what, n)
            store.save(loaded)
            kept.keep([loaded])
        else:
            other = fresh(store, item)
            change(other, what, n)
            store.save(other)
        assert state(kept.load([item.id])[item.id]) == state(fresh(store, item))


def test_a_change_not_saved_does_not_reach_the_kept_item() -> None:
    store = popo_store()
    item = StockItem(source_id="wh-lyon", sku="RED-CHAIR", on_hand=4, safety_stock=0, at=NOW)
    store.save(item)
    kept = KeptStock(store)

    loaded = kept.load([item.id])[item.id]
    loaded.reserve("order-1", 3, at=NOW)  # the batch's save then failed: never saved

    again = kept.load([item.id])[item.id]
    assert (again.version, again.reservations, again.available) == (1, {}, 4)
    assert again is not loaded


def test_kept_items_are_bounded_and_the_least_recently_used_goes_first() -> None:
    store = popo_store()
    items = [
        StockItem(source_id="wh-lyon", sku=f"SKU-{n}", on_hand=1, safety_stock=0, at=NOW)
        for n in range(4)
    ]
    store.save(*items)
    kept = KeptStock(store, size=3)

    kept.load([i.id for i in items[:3]])
    kept.load([items[0].id])  # used again: the second is now the oldest
    kept.load([items[3].id])

    assert len(kept) == 3
    reads: list[object] = []
    get_many = store.get_many
    store.get_many = lambda ids, kind=None: reads.append(list(ids)) or get_many(ids, kind)  # type: ignore[method-assign]
    found = kept.load([i.id for i in items])
    assert reads == [[items[1].id]]
    assert sorted(found) == sorted(i.id for i in items)


def test_an_item_not_stored_is_left_out_and_not_kept() -> None:
    store = popo_store()
    kept = KeptStock(store)
    item = StockItem(source_id="wh-lyon", sku="RED-CHAIR", on_hand=1, safety_stock=0, at=NOW)

    assert kept.load([item.id]) == {}
    assert len(kept) == 0


def test_kept_items_are_bounded_by_what_they_weigh() -> None:
    """An item's open reservations are most of what it weighs: a bound in bytes keeps fewer
    of the heavy ones, least recently used dropped first."""
    store = popo_store()
    light = [
        StockItem(source_id="wh-lyon", sku=f"SKU-{n}", on_hand=9, safety_stock=0, at=NOW)
        for n in range(3)
    ]
    heavy = StockItem(source_id="wh-lyon", sku="BUSY", on_hand=90, safety_stock=0, at=NOW)
    for n in range(40):
        heavy.reserve(f"order-{n}", 1, at=NOW)
    store.save(*light, heavy)
    kept = KeptStock(store, max_bytes=3 * ITEM_BYTES)

    kept.load([i.id for i in light])
    assert (len(kept), kept.weight()) == (3, 3 * ITEM_BYTES)
    kept.load([heavy.id])  # heavier than the bound alone: every other item goes, then it

    assert (len(kept), kept.weight()) == (0, 0)
    kept.load([light[0].id])
    assert (len(kept), kept.weight()) == (1, ITEM_BYTES)


def test_an_item_from_an_earlier_releases_snapshot_keeps_its_missing_fields_missing() -> None:
    """Snapshots taken before feeds or the reserved total were tracked carry neither: the item
    handed out is the one the store would give, other fields (a later release's) kept too."""
    store = popo_store()
    item = StockItem(source_id="wh-lyon", sku="RED-CHAIR", on_hand=4, safety_stock=0, at=NOW)
    item.reserve("order-1", 3, at=NOW)
    store.save(item)
    for name in ("fed", "reserved_units"):
        del item.__dict__[name]
    item.__dict__["later"] = {"a": 1}
    kept = KeptStock(store)

    kept.keep([item])
    again = kept.load([item.id])[item.id]

    assert state(again) == state(item)
    assert (again.reserved, again.available, again.already_fed("feed/0", 1)) == (3, 1, False)
    again.__dict__["later"]["a"] = 2  # a change to the item handed out
    assert kept.load([item.id])[item.id].__dict__["later"] == {"a": 1}


def test_what_is_kept_of_an_item_weighs_under_half_of_the_item() -> None:
    rows = [(f"src-{n % 100}", f"SKU-{n // 4}") for n in range(1000)]
    items = [
        # each with strings of its own, as loaded
        pickle.loads(pickle.dumps(StockItem(source, sku, on_hand=300, safety_stock=0, at=NOW)))
        for source, sku in rows
    ]
    store = popo_store()
    kept = KeptStock(store)
    tracemalloc.start()
    try:
        start = tracemalloc.get_traced_memory()[0]
        copies = [pickle.loads(pickle.dumps(item)) for item in items]
        whole = tracemalloc.get_traced_memory()[0] - start
        del copies
        start = tracemalloc.get_traced_memory()[0]
        kept.keep(pickle.loads(pickle.dumps(item)) for item in items)
        gc.collect()
        compact = tracemalloc.get_traced_memory()[0] - start
    finally:
        tracemalloc.stop()
    assert len(kept) == 1000
    assert compact < whole / 2
