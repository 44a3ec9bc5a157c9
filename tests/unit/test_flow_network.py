"""The flow benchmark's generated network and orders have the shape the benchmark claims."""

import statistics
from collections import Counter
from datetime import UTC, datetime, timedelta

import pytest

from benchmarks.flow_load import placed_now
from benchmarks.flow_report import percentile
from benchmarks.network import (
    OrderMaker,
    generate_network,
    with_capacity_scaled,
    with_stock_scaled,
)
from schemas.sources import SourceDefinition
from schemas.submission import OrderSubmission


@pytest.fixture(scope="module")
def network():
    return generate_network(sources=100, skus=2_000, seed=3)


def test_every_sku_is_held_at_two_to_six_sources_one_or_two_of_them_dcs(network) -> None:
    kind = {s["source_id"]: s["kind"] for s in network.sources}
    holders = network.holders()
    assert set(holders) == set(network.skus)
    counts = Counter(len(set(h)) for h in holders.values())
    assert set(counts) == {2, 3, 4, 5, 6}
    for sku, held in holders.items():
        assert len(held) == len(set(held)), sku
        assert 1 <= sum(kind[s] == "warehouse" for s in held) <= 2, sku
    assert 3.5 < statistics.mean(len(h) for h in holders.values()) < 4.5


def test_some_skus_are_scarce_and_the_rest_are_not(network) -> None:
    assert 0 < len(network.scarce) < len(network.skus) / 10
    for row in network.stock:
        if row.sku in network.scarce:
            assert 1 <= row.on_hand <= 3
        else:
            assert row.on_hand >= 20


def test_sources_are_valid_definitions_in_several_countries(network) -> None:
    defined = [SourceDefinition.model_validate(s) for s in network.sources]
    assert len({d.source_id for d in defined}) == 100
    assert len({d.country for d in defined}) >= 5
    kinds = Counter(d.kind.value for d in defined)
    assert kinds["warehouse"] == 5 and kinds["dropship"] == 10 and kinds["store"] == 85
    # Every source holds some of the range; DCs the most.
    rows = network.rows_per_source()
    assert set(rows) == {d.source_id for d in defined}
    dc = min(rows[d.source_id] for d in defined if d.kind.value == "warehouse")
    assert dc > max(rows[d.source_id] for d in defined if d.kind.value == "store")


def test_orders_have_one_to_seven_distinct_lines_mean_about_four(network) -> None:
    maker = OrderMaker(network, seed=5)
    orders = [maker.order("web", f"T-{n}", "2026-11-20T08:00:00Z") for n in range(3_000)]
    lines = [len(o["lines"]) for o in orders]
    assert set(lines) == set(range(1, 8))
    assert 3.8 < statistics.mean(lines) < 4.3
    for order in orders[:200]:
        OrderSubmission.model_validate(order)
        skus = [line["sku"] for line in order["lines"]]
        assert len(skus) == len(set(skus))


def test_the_same_seed_gives_the_same_network_and_orders() -> None:
    a, b = generate_network(20, 300, seed=9), generate_network(20, 300, seed=9)
    assert a.stock == b.stock and a.sources == b.sources
    order = OrderMaker(a, seed=1).order("web", "X", "2026-11-20T08:00:00Z")
    assert order == OrderMaker(b, seed=1).order("web", "X", "2026-11-20T08:00:00Z")


def test_network_size_grows_by_stores_not_by_stock_rows() -> None:
    small, large = generate_network(20, 1_000), generate_network(500, 1_000)
    assert abs(len(small.stock) - len(large.stock)) < 0.1 * len(small.stock)
    assert Counter(s["kind"] for s in large.sources)["warehouse"] == 8


def test_percentile_counts_what_never_arrived_as_slowest() -> None:
    assert percentile([], 0.5) is None
    assert percentile([3.0, 1.0, 2.0], 0.5) == 2.0
    assert percentile([1.0] * 98 + [float("inf")] * 2, 0.99) == float("inf")
    assert percentile([1.0] * 99 + [float("inf")], 0.99) == 1.0


def test_flow_orders_are_placed_now_so_their_promise_is_ahead() -> None:
    placed = datetime.fromisoformat(placed_now())
    assert placed.utcoffset() == timedelta(0)
    assert abs(datetime.now(UTC) - placed) < timedelta(seconds=5)


def test_scaling_the_stock_leaves_the_scarce_rows_alone_unless_asked(network) -> None:
    deep = with_stock_scaled(network, 1000)
    all_deep = with_stock_scaled(network, 1000, scarce_factor=100_000)
    assert network.scarce
    for row, kept, scaled in zip(network.stock, deep.stock, all_deep.stock, strict=True):
        assert (
            (kept.source_id, kept.sku) == (scaled.source_id, scaled.sku) == (row.source_id, row.sku)
        )
        if row.sku in network.scarce:
            assert kept.on_hand == row.on_hand
            assert scaled.on_hand == row.on_hand * 100_000
        else:
            assert kept.on_hand == scaled.on_hand == row.on_hand * 1000
    assert with_stock_scaled(network, 1) is network


def test_scaling_the_capacity_scales_every_source_and_nothing_else(network) -> None:
    wide = with_capacity_scaled(network, 10)
    assert wide.stock == network.stock
    for before, after in zip(network.sources, wide.sources, strict=True):
        assert after["daily_capacity"] == before["daily_capacity"] * 10
        assert {k: v for k, v in after.items() if k != "daily_capacity"} == {
            k: v for k, v in before.items() if k != "daily_capacity"
        }
    assert with_capacity_scaled(network, 1) is network
