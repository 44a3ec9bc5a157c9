"""Bulk stock while reservations land on its items: a batch that keeps losing the race is
halved until its parts are recorded, each row once; a row that never wins is answered, not lost."""

from typing import Any

import pytest
from eventsourcing.domain import Aggregate

from aggregates.errors import DomainError, StockError
from aggregates.stock import StockItem
from hub.services.catalog import CatalogService, StockLevel
from hub.services.conflicts import ConcurrentChangeError
from hub.store import OrderStore
from schemas.sources import SourceDefinition, StockDelta, StockSnapshot
from tests.contracts.factories import NOW, fixed_clock, source_body

LYON = source_body("wh-lyon", name="Lyon DC", daily_capacity=500)


def count(sku: str, on_hand: int) -> StockSnapshot:
    return StockSnapshot(source_id="wh-lyon", sku=sku, on_hand=on_hand)


def change(sku: str, delta: int) -> StockDelta:
    return StockDelta(source_id="wh-lyon", sku=sku, delta=delta, reason="receipt")


class HotItem:
    """Another writer (routing, say) changes item `sku` just before every save of more than
    `alone` stock items that holds it: such a save always conflicts."""

    def __init__(self, store: OrderStore, sku: str, alone: int = 1) -> None:
        self.other = CatalogService(store, fixed_clock(NOW))
        self.sku, self.alone = sku, alone
        self.races = 0
        self._racing = False  # the other writer's own save does not race
        self.saved_sizes: list[int] = []
        save = store.save

        def racing_save(*aggregates: Aggregate, **kwargs: Any) -> Any:
            items = [a for a in aggregates if isinstance(a, StockItem)]
            hot = any(i.sku == self.sku for i in items)
            if hot and len(items) > self.alone and not self._racing:
                self.races += 1
                self._racing = True
                try:
                    self.other.apply_stock(change(self.sku, +100), "system:routing")
                finally:
                    self._racing = False
            result = save(*aggregates, **kwargs)
            self.saved_sizes.append(len(items))
            return result

        store.save = racing_save  # type: ignore[method-assign]


@pytest.fixture
def catalog(store: OrderStore) -> CatalogService:
    catalog = CatalogService(store, fixed_clock(NOW))
    catalog.register_source(SourceDefinition.model_validate(LYON), actor="user:alice")
    catalog.apply_stock_many([count(f"S{n}", 10) for n in range(8)], "user:alice")
    return catalog


def on_hand(catalog: CatalogService, sku: str) -> int:
    item = catalog.find_stock("wh-lyon", sku)
    assert item is not None
    return item.on_hand


def test_a_batch_that_keeps_losing_to_a_hot_item_is_halved_and_every_row_applied_once(
    catalog: CatalogService, store: OrderStore
) -> None:
    hot = HotItem(store, "S5")
    rows = [change(f"S{n}", +1) for n in range(8)]

    results = catalog.apply_stock_many(rows, "system:bulk")

    assert all(isinstance(r, StockLevel) for r in results)
    # S5 alone is recorded at last; every other row too, each receipt once.
    assert [on_hand(catalog, f"S{n}") for n in range(8)] == [11] * 5 + [11 + 100 * hot.races] + [
        11
    ] * 2
    assert hot.races >= 4  # the whole batch lost its tries before it was halved
    assert max(hot.saved_sizes) < 8 and 1 in hot.saved_sizes  # the parts, the hot row alone


def test_rows_of_one_item_apply_in_order_across_the_halves(
    catalog: CatalogService, store: OrderStore
) -> None:
    HotItem(store, "S0")
    rows = [count("S7", 1), change("S1", +2), change("S2", +2), change("S7", +4)]
    rows += [change("S0", +1), change("S3", +1), count("S7", 50), change("S7", -5)]

    results = catalog.apply_stock_many(rows, "system:bulk")

    assert [r.on_hand for r in results if isinstance(r, StockLevel) and r.sku == "S7"] == [
        1,
        5,
        50,
        45,
    ]
    assert on_hand(catalog, "S7") == 45


def test_a_row_that_never_wins_is_answered_try_again_and_the_rest_applied(
    catalog: CatalogService, store: OrderStore
) -> None:
    HotItem(store, "S2", alone=0)  # even alone: the row loses every try

    results = catalog.apply_stock_many([change(f"S{n}", +1) for n in range(4)], "system:bulk")

    assert isinstance(results[2], ConcurrentChangeError) and "try again" in str(results[2])
    assert [on_hand(catalog, f"S{n}") for n in (0, 1, 3)] == [11, 11, 11]


def test_a_feed_row_that_never_wins_is_raised_for_its_redelivery(
    catalog: CatalogService, store: OrderStore
) -> None:
    HotItem(store, "S2", alone=0)
    positions: list[tuple[str, int] | None] = [("stock/0", n) for n in range(4)]

    with pytest.raises(ConcurrentChangeError):
        catalog.apply_stock_many([change(f"S{n}", +1) for n in range(4)], "system:f", positions)

    # Delivered again once the race is over: what was recorded is recognised, the rest applied.
    store.save = type(store).save.__get__(store)  # type: ignore[method-assign]
    again = catalog.apply_stock_many([change(f"S{n}", +1) for n in range(4)], "system:f", positions)
    assert all(isinstance(r, StockLevel) for r in again)
    assert [on_hand(catalog, f"S{n}") for n in (0, 1, 3)] == [11, 11, 11]


def test_refusals_are_kept_with_their_index_in_the_whole_batch(
    catalog: CatalogService, store: OrderStore
) -> None:
    HotItem(store, "S1")
    kept: list[int] = []

    def keep(refusals: list[tuple[int, DomainError]]) -> list[Aggregate]:
        kept.extend(index for index, _ in refusals)
        return []

    rows = [change("S0", +1), change("S1", +1), change("S2", +1), change("S3", -99)]
    results = catalog.apply_stock_many(rows, "system:f", [("stock/0", n) for n in range(4)], keep)

    assert isinstance(results[3], StockError)
    assert set(kept) == {3}
