"""Bulk stock while reservations land on its items: a batch that keeps losing the race is
halved until its parts are recorded, each row once; a row that never wins is answered, not lost."""

from typing import Any

import pytest
from eventsourcing.domain import Aggregate

from aggregates.errors import DomainError, StockError
from aggregates.stock import StockItem
from hub.services.catalog import CatalogService, StockLevel
from hub.services.conflicts import ConcurrentChangeError
from hub.services.stock_halves import NotRecordedError, PartlyRecordedError
from hub.store import OrderStore
from schemas.sources import SourceDefinition, StockSnapshot
from tests.contracts.factories import NOW, fixed_clock, source_body
from tests.unit.hot_items import HotItem, change

LYON = source_body("wh-lyon", name="Lyon DC", daily_capacity=500)


def count(sku: str, on_hand: int) -> StockSnapshot:
    return StockSnapshot(source_id="wh-lyon", sku=sku, on_hand=on_hand)


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
    after = [on_hand(catalog, f"S{n}") for n in range(8)]
    assert after == [11] * 5 + [11 + 100 * hot.races] + [11] * 2
    assert hot.races >= 4  # the whole batch lost its tries before it was halved
    assert max(hot.saved_sizes) < 8 and 1 in hot.saved_sizes  # the parts, the hot row alone


def test_rows_of_one_item_apply_in_order_across_the_halves(
    catalog: CatalogService, store: OrderStore
) -> None:
    HotItem(store, "S0")
    rows = [count("S7", 1), change("S1", +2), change("S2", +2), change("S7", +4)]
    rows += [change("S0", +1), change("S3", +1), count("S7", 50), change("S7", -5)]

    results = catalog.apply_stock_many(rows, "system:bulk")

    s7 = [r.on_hand for r in results if isinstance(r, StockLevel) and r.sku == "S7"]
    assert s7 == [1, 5, 50, 45]
    assert on_hand(catalog, "S7") == 45


def test_a_row_that_never_wins_is_answered_try_again_with_its_items_later_rows(
    catalog: CatalogService, store: OrderStore
) -> None:
    hot = HotItem(store, "S2", alone=0)  # even alone: the row loses every try
    rows = [change(f"S{n}", +1) for n in range(4)] + [count("S2", 50), change("S3", +1)]

    results = catalog.apply_stock_many(rows, "system:bulk")

    # S2's count after the receipt not recorded is not recorded either: resending only the
    # refused rows keeps their order (the count would otherwise be overwritten by the receipt).
    assert isinstance(results[2], ConcurrentChangeError) and "try again" in str(results[2])
    assert isinstance(results[4], ConcurrentChangeError) and "S2" in str(results[4])
    assert [on_hand(catalog, f"S{n}") for n in (0, 1, 3)] == [11, 11, 12]
    assert on_hand(catalog, "S2") == 10 + 100 * hot.races  # only the other writer's changes


def test_a_failure_after_part_of_a_request_was_recorded_answers_the_rows_not_recorded(
    catalog: CatalogService, store: OrderStore
) -> None:
    HotItem(store, "S1")  # the batch is halved: [S0, S1] is recorded first
    save = store.save

    def broken_for_s3(*aggregates: Aggregate, **kwargs: Any) -> Any:
        items = [a for a in aggregates if isinstance(a, StockItem)]
        if len(items) < 4 and any(a.sku == "S3" for a in items):  # S3's half cannot be saved
            raise OSError("disk full")
        return save(*aggregates, **kwargs)

    store.save = broken_for_s3  # type: ignore[method-assign]

    results = catalog.apply_stock_many([change(f"S{n}", +1) for n in range(4)], "system:bulk")

    assert [type(r).__name__ for r in results[:2]] == ["StockLevel", "StockLevel"]
    assert all(isinstance(r, NotRecordedError) for r in results[2:])
    assert "send this row again" in str(results[3])
    assert [on_hand(catalog, f"S{n}") for n in (0, 2, 3)] == [11, 10, 10]


def test_a_feed_row_that_never_wins_is_raised_with_what_was_recorded_before_it(
    catalog: CatalogService, store: OrderStore
) -> None:
    HotItem(store, "S2", alone=0)
    positions: list[tuple[str, int] | None] = [("stock/0", n) for n in range(4)]
    rows = [change(f"S{n}", +1) for n in range(4)]

    with pytest.raises(PartlyRecordedError) as raised:
        catalog.apply_stock_many(rows, "system:f", positions)

    assert len(raised.value.settled) == 2 and isinstance(raised.value.cause, ConcurrentChangeError)
    assert [on_hand(catalog, f"S{n}") for n in (0, 1, 3)] == [11, 11, 10]  # S3 never tried
    # Delivered again once the race is over: what was recorded is recognised, the rest applied.
    store.save = type(store).save.__get__(store)  # type: ignore[method-assign]
    again = catalog.apply_stock_many(rows, "system:f", positions)
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
