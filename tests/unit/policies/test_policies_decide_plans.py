"""decide(): single source versus split, ship-complete, backorders and demand-class allocation."""

from __future__ import annotations

from typing import Any

import pytest
from policies_factories import (
    BRUSSELS,
    LILLE,
    LYON,
    MARSEILLE,
    NOW,
    PARIS,
    VERSAILLES,
    make_order,
    make_policy,
    make_source,
    shipped,
)

from orchestration_policies import (
    LineToRoute,
    PlanStrategy,
    SearchMode,
    StockLevel,
    UnallocatedReason,
    decide,
)

R = UnallocatedReason


def _reasons(lines: Any) -> dict[str, tuple[int, R]]:
    return {line.sku: (line.quantity, line.reason) for line in lines}


# --- single source versus split ----------------------------------------------------------------


@pytest.mark.parametrize("split_penalty", [0.0, 0.5, 5.0])
def test_prefers_single_source_over_split_when_both_can_ship(split_penalty: float) -> None:
    candidates = [
        make_source("store-paris", at=PARIS, stock={"RED-CHAIR": 5}),
        make_source("store-versailles", at=VERSAILLES, stock={"BLUE-LAMP": 5}),
        make_source("wh-lyon", at=LYON, stock={"RED-CHAIR": 5, "BLUE-LAMP": 5}),
    ]
    policy = make_policy(split={"split_penalty": split_penalty})
    decision = decide(make_order(("RED-CHAIR", 1), ("BLUE-LAMP", 1)), candidates, policy, NOW)
    assert shipped(decision) == {"wh-lyon": [("RED-CHAIR", 1), ("BLUE-LAMP", 1)]}
    assert decision.explanation.plan.strategy is PlanStrategy.SINGLE_SOURCE


def test_splits_across_the_best_sources_when_no_single_source_can_ship() -> None:
    candidates = [
        make_source("store-paris", at=PARIS, stock={"RED-CHAIR": 5}),
        make_source("store-versailles", at=VERSAILLES, stock={"BLUE-LAMP": 5}),
        make_source("wh-lyon", at=LYON, stock={"BLUE-LAMP": 5}),
    ]
    decision = decide(
        make_order(("RED-CHAIR", 1), ("BLUE-LAMP", 2)), candidates, make_policy(), NOW
    )
    assert shipped(decision) == {
        "store-paris": [("RED-CHAIR", 1)],
        "store-versailles": [("BLUE-LAMP", 2)],
    }
    plan = decision.explanation.plan
    assert plan.strategy is PlanStrategy.SPLIT
    assert plan.search is SearchMode.EXACT
    # at most every set of up to 3 of 3 sources; provably worse branches are cut
    assert 1 <= plan.alternatives_considered <= 3 + 3 + 1


THREE_WAY = [
    make_source("wh-paris", at=PARIS, stock={"RED-CHAIR": 5}),
    make_source("wh-lille", at=LILLE, stock={"BLUE-LAMP": 5}),
    make_source("wh-lyon", at=LYON, stock={"GREEN-RUG": 5}),
]
THREE_LINES = (("RED-CHAIR", 1), ("BLUE-LAMP", 1), ("GREEN-RUG", 1))


@pytest.mark.parametrize(
    ("max_shipments", "expected_sources", "over_limit"),
    [
        (3, {"wh-paris", "wh-lille", "wh-lyon"}, {}),
        (2, {"wh-paris", "wh-lille"}, {"GREEN-RUG": (1, R.MAX_SHIPMENTS_REACHED)}),
        (
            1,
            {"wh-paris"},
            {"BLUE-LAMP": (1, R.SPLIT_NOT_ALLOWED), "GREEN-RUG": (1, R.SPLIT_NOT_ALLOWED)},
        ),
    ],
)
def test_split_stays_within_max_shipments(
    max_shipments: int, expected_sources: set[str], over_limit: dict[str, tuple[int, R]]
) -> None:
    # Lines over the limit are not backordered (stock is there); see test_policies_split_limit.
    policy = make_policy(split={"max_shipments": max_shipments}, over_split_limit="reject")
    decision = decide(make_order(*THREE_LINES), THREE_WAY, policy, NOW)
    assert set(decision.explanation.plan.proposed_sources) == expected_sources
    overflow = decision.over_split_limit
    assert _reasons(overflow.lines if overflow else ()) == over_limit
    assert decision.backordered == ()


def test_split_not_allowed_plans_the_best_partial_single_source() -> None:
    policy = make_policy(split={"allowed": False})
    decision = decide(make_order(*THREE_LINES), THREE_WAY, policy, NOW)
    assert decision.explanation.plan.proposed_sources == ("wh-paris",)
    assert decision.explanation.plan.strategy is PlanStrategy.PARTIAL_SINGLE_SOURCE


def test_split_penalty_prefers_fewer_shipments_among_plans_that_ship_everything() -> None:
    candidates = [
        make_source("near-red", at=PARIS, stock={"RED-CHAIR": 5}),
        make_source("near-blue", at=PARIS, stock={"BLUE-LAMP": 5}),
        make_source("near-green", at=PARIS, stock={"GREEN-RUG": 5}),
        make_source("far-red-blue", at=LYON, stock={"RED-CHAIR": 5, "BLUE-LAMP": 5}),
        make_source("far-green", at=MARSEILLE, stock={"GREEN-RUG": 5}),
        make_source("reference", at=BRUSSELS, stock={"PINK-VASE": 1}),
    ]
    order = make_order(*THREE_LINES)
    cheap_splits = decide(order, candidates, make_policy(split={"split_penalty": 0.0}), NOW)
    dear_splits = decide(order, candidates, make_policy(split={"split_penalty": 5.0}), NOW)
    assert set(cheap_splits.shipments) == {"near-red", "near-blue", "near-green"}
    assert set(dear_splits.shipments) == {"far-red-blue", "near-green"}


def test_ship_complete_never_splits() -> None:
    policy = make_policy(split={"ship_complete": True})
    decision = decide(make_order(*THREE_LINES), THREE_WAY, policy, NOW)
    assert decision.shipments == {}
    assert _reasons(decision.backordered) == {
        sku: (1, R.SHIP_COMPLETE_NOT_POSSIBLE) for sku, _ in THREE_LINES
    }


def test_ship_complete_ships_from_one_source_when_one_can() -> None:
    candidates = [
        *THREE_WAY,
        make_source(
            "wh-brussels",
            at=BRUSSELS,
            stock=dict.fromkeys(("RED-CHAIR", "BLUE-LAMP", "GREEN-RUG"), 3),
        ),
    ]
    policy = make_policy(split={"ship_complete": True})
    decision = decide(make_order(*THREE_LINES), candidates, policy, NOW)
    assert list(decision.shipments) == ["wh-brussels"]


@pytest.mark.parametrize(
    ("split_lines", "expected", "backordered"),
    [
        (False, {}, {"RED-CHAIR": (10, R.LINE_SPLIT_NOT_ALLOWED)}),
        (True, {"wh-paris": [("RED-CHAIR", 6)], "wh-lille": [("RED-CHAIR", 4)]}, {}),
    ],
)
def test_a_line_quantity_is_divided_between_sources_only_when_the_policy_allows_it(
    split_lines: bool, expected: dict[str, Any], backordered: dict[str, Any]
) -> None:
    candidates = [
        make_source("wh-paris", at=PARIS, stock={"RED-CHAIR": 6}),
        make_source("wh-lille", at=LILLE, stock={"RED-CHAIR": 6}),
    ]
    policy = make_policy(split={"lines": split_lines})
    decision = decide(make_order(("RED-CHAIR", 10)), candidates, policy, NOW)
    assert shipped(decision) == expected
    assert _reasons(decision.backordered) == backordered


def test_lines_sharing_a_sku_share_the_stock() -> None:
    order = make_order(LineToRoute("a", "RED-CHAIR", 3), LineToRoute("b", "RED-CHAIR", 3))
    candidates = [
        make_source("wh-paris", at=PARIS, stock={"RED-CHAIR": 4}),
        make_source("wh-lille", at=LILLE, stock={"RED-CHAIR": 4}),
    ]
    decision = decide(order, candidates, make_policy(), NOW)
    assert {lid: src for src, lines in decision.shipments.items() for lid, _, _ in lines} == {
        "a": "wh-paris",
        "b": "wh-lille",
    }


# --- backorders --------------------------------------------------------------------------------


def test_backorder_allow_ships_what_it_can_and_backorders_the_rest() -> None:
    decision = decide(
        make_order(("RED-CHAIR", 1), ("GOLD-CLOCK", 2)),
        [make_source("wh-paris", stock={"RED-CHAIR": 3})],
        make_policy(backorder="allow"),
        NOW,
    )
    assert shipped(decision) == {"wh-paris": [("RED-CHAIR", 1)]}
    assert _reasons(decision.backordered) == {"GOLD-CLOCK": (2, R.NO_STOCK)}
    assert decision.held is None and decision.rejected is None


def test_backorder_hold_holds_the_order_and_ships_nothing() -> None:
    decision = decide(
        make_order(("RED-CHAIR", 1), ("GOLD-CLOCK", 2)),
        [make_source("wh-paris", stock={"RED-CHAIR": 3})],
        make_policy(backorder="hold"),
        NOW,
    )
    assert decision.shipments == {}
    assert decision.held is not None and decision.held.rule == "backorder"
    assert "no_stock" in decision.held.reason
    assert _reasons(decision.unallocated) == {"GOLD-CLOCK": (2, R.NO_STOCK)}
    assert decision.explanation.plan.proposed_sources == ("wh-paris",)


def test_backorder_reject_rejects_the_order() -> None:
    decision = decide(
        make_order(("GOLD-CLOCK", 2)),
        [make_source("wh-paris", stock={"RED-CHAIR": 3})],
        make_policy(backorder="reject"),
        NOW,
    )
    assert decision.shipments == {}
    assert decision.rejected is not None and "no_stock" in decision.rejected
    assert decision.held is None


def test_lines_with_no_eligible_source_are_unallocated_not_backordered() -> None:
    decision = decide(
        make_order(("RED-CHAIR", 1)),
        [make_source("wh-paris", active=False)],
        make_policy(backorder="allow"),
        NOW,
    )
    assert _reasons(decision.unallocated) == {"RED-CHAIR": (1, R.NO_ELIGIBLE_SOURCE)}
    assert decision.backordered == ()


def test_no_candidates_at_all_means_no_eligible_source() -> None:
    decision = decide(make_order(("RED-CHAIR", 1)), [], make_policy(), NOW)
    assert _reasons(decision.unallocated) == {"RED-CHAIR": (1, R.NO_ELIGIBLE_SOURCE)}


def test_insufficient_stock_is_distinguished_from_none_at_all() -> None:
    decision = decide(
        make_order(("RED-CHAIR", 5)),
        [make_source("wh-paris", stock={"RED-CHAIR": 2})],
        make_policy(),
        NOW,
    )
    assert _reasons(decision.backordered) == {"RED-CHAIR": (5, R.INSUFFICIENT_STOCK)}


# --- demand-class allocation -------------------------------------------------------------------

VIP_UNITS = [{"demand_class": "vip", "units": 4}]


@pytest.mark.parametrize(
    ("demand_class", "quantity", "allocation", "stock", "ships"),
    [
        ("standard", 6, VIP_UNITS, StockLevel(10), True),
        ("standard", 7, VIP_UNITS, StockLevel(10), False),
        ("vip", 10, VIP_UNITS, StockLevel(10), True),
        ("b2b", 7, VIP_UNITS, StockLevel(10), False),
        # share: ceil(0.25 x 10) = 3 kept for vip
        ("standard", 7, [{"demand_class": "vip", "share": "0.25"}], StockLevel(10), True),
        ("standard", 8, [{"demand_class": "vip", "share": "0.25"}], StockLevel(10), False),
        # max(units, ceil(share x on_hand)) = max(5, 1) = 5
        (
            "standard",
            6,
            [{"demand_class": "vip", "units": 5, "share": "0.1"}],
            StockLevel(10),
            False,
        ),
        # kept from what is available: 10 on hand - 3 reserved - 1 safety = 6, minus 4 kept
        ("standard", 2, VIP_UNITS, StockLevel(10, reserved=3, safety_stock=1), True),
        ("standard", 3, VIP_UNITS, StockLevel(10, reserved=3, safety_stock=1), False),
        # two classes keep stock: a standard order sees neither share
        (
            "standard",
            5,
            [{"demand_class": "vip", "units": 3}, {"demand_class": "b2b", "units": 3}],
            StockLevel(10),
            False,
        ),
        (
            "b2b",
            7,
            [{"demand_class": "vip", "units": 3}, {"demand_class": "b2b", "units": 3}],
            StockLevel(10),
            True,
        ),
    ],
)
def test_stock_kept_for_a_demand_class_is_only_used_by_that_class(
    demand_class: str,
    quantity: int,
    allocation: list[dict[str, Any]],
    stock: StockLevel,
    ships: bool,
) -> None:
    decision = decide(
        make_order(("RED-CHAIR", quantity), demand_class=demand_class),
        [make_source("wh-paris", stock={"RED-CHAIR": stock})],
        make_policy(allocation=allocation),
        NOW,
    )
    if ships:
        assert shipped(decision) == {"wh-paris": [("RED-CHAIR", quantity)]}
    else:
        assert decision.shipments == {}
        (line,) = decision.backordered
        assert line.reason in (R.RESERVED_FOR_OTHER_DEMAND_CLASS, R.INSUFFICIENT_STOCK)


def test_standard_order_cannot_take_units_kept_for_vip_and_is_told_why() -> None:
    decision = decide(
        make_order(("RED-CHAIR", 2)),
        [make_source("wh-paris", stock={"RED-CHAIR": 2})],
        make_policy(allocation=[{"demand_class": "vip", "units": 2}]),
        NOW,
    )
    assert _reasons(decision.backordered) == {"RED-CHAIR": (2, R.RESERVED_FOR_OTHER_DEMAND_CLASS)}


def test_vip_order_can_take_units_kept_for_vip() -> None:
    decision = decide(
        make_order(("RED-CHAIR", 2), demand_class="vip"),
        [make_source("wh-paris", stock={"RED-CHAIR": 2})],
        make_policy(allocation=[{"demand_class": "vip", "units": 2}]),
        NOW,
    )
    assert shipped(decision) == {"wh-paris": [("RED-CHAIR", 2)]}
