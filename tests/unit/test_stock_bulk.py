"""Bulk stock: many counts and adjustments in one transaction, refused rows listed, none lost."""

from typing import Any

import pytest

from aggregates.errors import StockError
from aggregates.stock import StockItem
from hub.services.catalog import CatalogService, StockLevel, UnknownSourceError
from hub.store import OrderStore
from schemas.sources import SourceDefinition, StockDelta, StockSnapshot
from tests.contracts.factories import NOW, fixed_clock, source_body

LYON = source_body("wh-lyon", name="Lyon DC", daily_capacity=500)


@pytest.fixture
def catalog(store: OrderStore) -> CatalogService:
    catalog = CatalogService(store, fixed_clock(NOW))
    catalog.register_source(SourceDefinition.model_validate(LYON), actor="user:alice")
    return catalog


def count(sku: str, on_hand: int, source_id: str = "wh-lyon") -> StockSnapshot:
    return StockSnapshot(source_id=source_id, sku=sku, on_hand=on_hand)


def change(sku: str, delta: int) -> StockDelta:
    return StockDelta(source_id="wh-lyon", sku=sku, delta=delta, reason="receipt")


def on_hand(catalog: CatalogService, sku: str) -> int | None:
    item = catalog.find_stock("wh-lyon", sku)
    return None if item is None else item.on_hand


def test_rows_apply_in_order_and_refused_ones_change_nothing(catalog: CatalogService) -> None:
    catalog.apply_stock(count("OLD", 5), "user:alice")

    results = catalog.apply_stock_many(
        [
            count("A", 10),
            change("A", +3),  # the same item twice in one batch: applied one after the other
            count("B", 1, source_id="wh-nowhere"),
            change("C", -2),  # no record of C: nothing to take from, and no empty record left
            change("OLD", -9),  # 5 on hand cannot go down by 9
            change("OLD", -2),
        ],
        "system:bulk",
    )

    kinds = [type(r).__name__ for r in results]
    assert kinds == [
        "StockLevel",
        "StockLevel",
        "UnknownSourceError",
        "StockError",
        "StockError",
        "StockLevel",
    ]
    assert isinstance(results[2], UnknownSourceError)
    assert isinstance(results[3], StockError) and isinstance(results[4], StockError)
    assert (on_hand(catalog, "A"), on_hand(catalog, "C"), on_hand(catalog, "OLD")) == (13, None, 3)
    levels = [r for r in results if isinstance(r, StockLevel)]
    assert [(level.sku, level.on_hand) for level in levels] == [("A", 10), ("A", 13), ("OLD", 3)]


def test_a_batch_is_one_transaction(catalog: CatalogService, store: OrderStore) -> None:
    before = store.recorder.max_notification_id() or 0
    catalog.apply_stock_many([count(f"SKU-{n}", n) for n in range(50)], "system:bulk")
    # 50 new items, one event each, written together: the log grows by exactly 50.
    assert (store.recorder.max_notification_id() or 0) - before == 50


class RacingCatalog(CatalogService):
    """Another writer changes an item between the batch's read and its save, once."""

    def __init__(self, store: OrderStore, other: CatalogService) -> None:
        super().__init__(store, fixed_clock(NOW))
        self._other = other
        self.raced = False
        read = store.get_many

        def read_then_race(ids: Any, kind: Any = None) -> Any:
            # The batch reads its items together (get_many); the other writer comes right after.
            found = read(ids, kind)
            if not self.raced and any(getattr(a, "sku", "") == "A" for a in found.values()):
                self.raced = True
                self._other.apply_stock(change("A", +100), "system:other")
            return found

        store.get_many = read_then_race  # type: ignore[method-assign]


def test_a_conflict_applies_the_batch_again_and_no_delta_twice(
    catalog: CatalogService, store: OrderStore
) -> None:
    catalog.apply_stock(count("A", 10), "user:alice")
    racing = RacingCatalog(store, catalog)

    results = racing.apply_stock_many([change("A", +5), change("B", +1)], "system:bulk")

    assert racing.raced
    assert all(isinstance(r, StockLevel) for r in results)
    assert (on_hand(catalog, "A"), on_hand(catalog, "B")) == (115, 1)


def test_a_batch_reads_its_sources_in_one_query_and_their_items_in_another(
    catalog: CatalogService, store: OrderStore
) -> None:
    catalog.apply_stock_many([count(f"S{n}", 1) for n in range(5)], "system:bulk")
    many_reads: list[list[str]] = []
    single_reads: list[Any] = []
    get_many = store.get_many

    def many(ids: Any, kind: Any = None) -> Any:
        found = get_many(ids, kind)
        many_reads.append(sorted(type(a).__name__ for a in found.values()))
        return found

    def spy(repository: Any) -> None:
        get = repository.get

        def one(aggregate_id: Any, **kwargs: Any) -> Any:
            single_reads.append(aggregate_id)
            return get(aggregate_id, **kwargs)

        repository.get = one

    store.get_many = many  # type: ignore[method-assign]
    spy(store.repository)
    spy(store.repository_for(StockItem))  # stock items load through their snapshots
    rows = [count(f"S{n}", 2) for n in range(5)] + [count("NEW", 3), count("X", 1, "wh-nowhere")]

    results = catalog.apply_stock_many(rows, "system:bulk")

    assert [type(r).__name__ for r in results] == ["StockLevel"] * 6 + ["UnknownSourceError"]
    # The source read by the first batch is known; only the unknown one is asked for. The five
    # items the first batch saved are kept (hub.services.kept_stock): only the new one is read.
    assert many_reads == [[], []]
    assert single_reads == []
    assert on_hand(catalog, "S3") == 2 and on_hand(catalog, "NEW") == 3


def test_a_source_registered_after_a_batch_refused_its_rows_is_found_by_the_next(
    catalog: CatalogService,
) -> None:
    (refused,) = catalog.apply_stock_many([count("A", 1, "wh-later")], "system:bulk")
    assert isinstance(refused, UnknownSourceError)
    later = source_body("wh-later", name="Later DC", daily_capacity=10)
    catalog.register_source(SourceDefinition.model_validate(later), actor="user:alice")

    (applied,) = catalog.apply_stock_many([count("A", 1, "wh-later")], "system:bulk")

    assert isinstance(applied, StockLevel) and applied.on_hand == 1
