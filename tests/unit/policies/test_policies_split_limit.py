"""decide(): the split limit over the order's life, and what the policy does with lines over it."""

from __future__ import annotations

import json

import pytest
from policies_factories import (
    LILLE,
    LYON,
    MARSEILLE,
    NOW,
    PARIS,
    make_order,
    make_policy,
    make_source,
)

from orchestration_policies import UnallocatedReason, decide, explain_text

R = UnallocatedReason
SOURCES = [
    make_source("wh-paris", at=PARIS, stock={"RED-CHAIR": 5}),
    make_source("wh-lille", at=LILLE, stock={"BLUE-LAMP": 5}),
    make_source("wh-lyon", at=LYON, stock={"GREEN-RUG": 5}),
    make_source("wh-marseille", at=MARSEILLE, stock={"GREEN-RUG": 5}),
]
LINES = (("RED-CHAIR", 1), ("BLUE-LAMP", 1), ("GREEN-RUG", 1))


def test_lines_over_the_limit_are_held_for_a_person_with_the_sources_that_could_ship_them() -> None:
    decision = decide(make_order(*LINES), SOURCES, make_policy(split={"max_shipments": 2}), NOW)

    assert decision.held is not None and decision.held.rule == "over_split_limit"
    assert decision.shipments == {} and decision.backordered == ()
    overflow = decision.over_split_limit
    assert overflow is not None
    assert (overflow.handling, overflow.limit, overflow.live_before) == ("hold", 2, 0)
    assert [(u.sku, u.reason) for u in overflow.lines] == [("GREEN-RUG", R.MAX_SHIPMENTS_REACHED)]
    assert overflow.alternatives == (("L3", ("wh-lyon", "wh-marseille")),)
    assert "wh-lyon or wh-marseille" in decision.held.reason
    text = explain_text(decision)
    assert "Over the split limit" in text and "'hold'" in text
    assert "Backordered" not in text


def test_ship_rest_from_next_best_ships_beyond_the_limit_and_says_so() -> None:
    policy = make_policy(split={"max_shipments": 2}, over_split_limit="ship_rest_from_next_best")

    decision = decide(make_order(*LINES), SOURCES, policy, NOW)

    assert set(decision.shipments) == {"wh-paris", "wh-lille", "wh-lyon"}
    assert decision.held is None and decision.backordered == () and decision.unallocated == ()
    assert decision.over_split_limit is not None
    assert "next best sources: 1 more shipment(s) from wh-lyon" in (
        decision.explanation.plan.summary
    )
    assert decision.explanation.plan.units_planned == 3


def test_reject_over_the_limit_routes_nothing_and_names_the_limit() -> None:
    policy = make_policy(split={"max_shipments": 2}, over_split_limit="reject")

    decision = decide(make_order(*LINES), SOURCES, policy, NOW)

    assert decision.shipments == {} and decision.held is None
    assert decision.rejected is not None
    assert "more than the 2 shipment(s) the policy allows" in decision.rejected
    assert [u.sku for u in decision.unallocated] == ["GREEN-RUG"]


@pytest.mark.parametrize(
    ("live", "expected"),
    [
        ((), {"wh-paris", "wh-lille", "wh-lyon"}),
        (("wh-nantes",), {"wh-paris", "wh-lille"}),
        (("wh-nantes", "wh-nantes", "wh-rennes"), set()),
    ],
)
def test_live_shipments_count_against_the_limit(live: tuple[str, ...], expected: set[str]) -> None:
    order = make_order(*LINES, live_shipment_sources=live)

    decision = decide(order, SOURCES, make_policy(over_split_limit="reject"), NOW)

    assert set(decision.explanation.plan.proposed_sources) == expected
    assert decision.live_shipments == tuple(sorted(live))
    if live:
        assert f"already has {len(live)} live shipment(s) of the 3" in (
            decision.explanation.plan.summary
        )


def test_a_line_short_of_stock_still_waits_when_the_limit_is_used_up() -> None:
    order = make_order(("PINK-VASE", 1), live_shipment_sources=("a", "b", "c"))

    decision = decide(order, SOURCES, make_policy(), NOW)

    assert decision.held is None and decision.over_split_limit is None
    assert [(u.sku, u.reason) for u in decision.backordered] == [("PINK-VASE", R.NO_STOCK)]


def test_a_decision_without_lines_over_the_limit_keeps_its_recorded_shape() -> None:
    decision = decide(make_order(*LINES), SOURCES, make_policy(), NOW)

    recorded = json.loads(decision.to_json())
    assert "over_split_limit" not in recorded and "live_shipments" not in recorded


def test_the_old_reason_stays_readable() -> None:
    # Decisions recorded before the change backordered such lines under this reason.
    assert R("max_shipments_reached") is R.MAX_SHIPMENTS_REACHED


def test_the_bundled_default_holds_over_the_limit() -> None:
    from orchestration_policies import OverSplitLimit, default_policy

    assert default_policy().over_split_limit is OverSplitLimit.HOLD
