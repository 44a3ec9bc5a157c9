"""decide(): holds, eligibility and ranking, one rule or criterion per row."""

from __future__ import annotations

from datetime import UTC, datetime
from decimal import Decimal
from typing import Any

import pytest
from policies_factories import (
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
    CRITERIA,
    CandidateStatus,
    DeliveryMethod,
    SourceKind,
    StockLevel,
    decide,
)

# --- holds -----------------------------------------------------------------------------------

HOLDS = [
    {
        "name": "payment-pending",
        "condition": 'order.payment_state != "authorized"',
        "reason": "payment not authorised",
    },
    {"name": "big-order", "condition": "order.total > 1000.0", "reason": "needs approval"},
    {
        "name": "fraud-review",
        "condition": "has(order.attributes.fraud) && order.attributes.fraud == true",
        "reason": "fraud review",
    },
    {
        "name": "stale",
        "condition": 'now - order.placed_at > duration("72h")',
        "reason": "placed more than three days ago",
    },
]


@pytest.mark.parametrize(
    ("order_fields", "expected_rule"),
    [
        ({}, None),
        ({"payment_state": "pending"}, "payment-pending"),
        ({"total": Decimal("1500.00")}, "big-order"),
        ({"attributes": {"fraud": True}}, "fraud-review"),
        ({"attributes": {"fraud": False}}, None),
        ({"placed_at": datetime(2024, 4, 20, tzinfo=UTC)}, "stale"),
        ({"payment_state": "pending", "total": Decimal("5000.00")}, "payment-pending"),
    ],
    ids=["none", "payment", "big", "fraud", "no-fraud", "stale", "first-match-wins"],
)
def test_first_matching_hold_holds_the_order_without_shipments(
    order_fields: dict[str, Any], expected_rule: str | None
) -> None:
    decision = decide(
        make_order(("RED-CHAIR", 1), **order_fields),
        [make_source("wh-paris")],
        make_policy(holds=HOLDS),
        NOW,
    )
    if expected_rule is None:
        assert decision.held is None
        assert shipped(decision) == {"wh-paris": [("RED-CHAIR", 1)]}
    else:
        assert decision.held is not None
        assert decision.held.rule == expected_rule
        assert decision.held.reason == next(
            h["reason"] for h in HOLDS if h["name"] == expected_rule
        )
        assert decision.shipments == {}
        assert decision.explanation.candidates == ()


def test_a_hold_rule_that_cannot_be_evaluated_holds_the_order() -> None:
    policy = make_policy(
        holds=[{"name": "gift", "condition": "order.attributes.gift == true", "reason": "gift"}]
    )
    decision = decide(make_order(), [make_source("wh-paris")], policy, NOW)
    assert decision.held is not None
    assert decision.held.rule == "gift"
    assert "could not be evaluated" in decision.held.reason
    assert "gift" in decision.held.reason


# --- eligibility -----------------------------------------------------------------------------

STORE_RULE = {"name": "no-stores", "condition": 'source.kind != "store"'}
NEARBY_RULE = {
    "name": "within-300-km",
    "condition": "!has(source.distance_km) || source.distance_km < 300.0",
}
DEEP_STOCK_RULE = {
    "name": "deep-stock-only",
    "condition": 'source.stock["RED-CHAIR"].available >= 5',
}


@pytest.mark.parametrize(
    ("source_fields", "order_fields", "policy_fields", "rule"),
    [
        ({"active": False}, {}, {}, "inactive"),
        ({}, {}, {"excluded_sources": ["store-paris"]}, "excluded_by_policy"),
        ({"ships_to": frozenset({"DE"})}, {}, {}, "does_not_ship_to_country"),
        (
            {"delivery_methods": frozenset({DeliveryMethod.STANDARD})},
            {"delivery_method": DeliveryMethod.SAME_DAY},
            {},
            "delivery_method_not_supported",
        ),
        ({"demand_classes": frozenset({"b2b"})}, {}, {}, "demand_class_not_served"),
        ({"daily_capacity": 20, "used_today": 20}, {}, {}, "no_capacity_left"),
        ({"cost": None}, {}, {}, "cost_currency_mismatch"),
        ({"kind": SourceKind.STORE}, {}, {"eligibility": [STORE_RULE]}, "no-stores"),
        ({"at": MARSEILLE}, {}, {"eligibility": [NEARBY_RULE]}, "within-300-km"),
        ({"stock": {"RED-CHAIR": 3}}, {}, {"eligibility": [DEEP_STOCK_RULE]}, "deep-stock-only"),
    ],
)
def test_source_failing_a_rule_is_excluded_under_that_rule_name(
    source_fields: dict[str, Any],
    order_fields: dict[str, Any],
    policy_fields: dict[str, Any],
    rule: str,
) -> None:
    fields = dict(source_fields)
    if fields.get("cost", 0) is None:
        del fields["cost"]
        fields["currency"] = "USD"
    subject = make_source("store-paris", **{"at": VERSAILLES, **fields})
    fallback = make_source("wh-lille", at=LILLE)
    policy = make_policy(**policy_fields)
    decision = decide(
        make_order(("RED-CHAIR", 1), **order_fields), [subject, fallback], policy, NOW
    )

    explained = {c.source_id: c for c in decision.explanation.candidates}
    assert explained["store-paris"].status is CandidateStatus.EXCLUDED
    assert explained["store-paris"].rule == rule
    assert shipped(decision) == {"wh-lille": [("RED-CHAIR", 1)]}


def test_the_same_source_passes_every_rule_when_nothing_is_wrong() -> None:
    policy = make_policy(eligibility=[STORE_RULE, NEARBY_RULE, DEEP_STOCK_RULE])
    decision = decide(
        make_order(),
        [make_source("wh-versailles", at=VERSAILLES), make_source("wh-lille", at=LILLE)],
        policy,
        NOW,
    )
    assert list(decision.shipments) == ["wh-versailles"]


def test_an_eligibility_rule_that_cannot_be_evaluated_excludes_the_source_and_says_so() -> None:
    policy = make_policy(
        eligibility=[
            {"name": "blue-lamp-stock", "condition": 'source.stock["BLUE-LAMP"].available > 0'}
        ]
    )
    decision = decide(make_order(), [make_source("wh-paris")], policy, NOW)
    (candidate,) = decision.explanation.candidates
    assert candidate.rule == "blue-lamp-stock"
    assert decision.explanation.condition_errors
    assert "wh-paris" in decision.explanation.condition_errors[0]


def test_eligible_source_without_the_ordered_stock_is_listed_as_no_stock() -> None:
    decision = decide(
        make_order(("RED-CHAIR", 1)),
        [make_source("wh-paris"), make_source("store-lyon", at=LYON, stock={"BLUE-LAMP": 4})],
        make_policy(),
        NOW,
    )
    explained = {c.source_id: c.status for c in decision.explanation.candidates}
    assert explained == {"wh-paris": CandidateStatus.SCORED, "store-lyon": CandidateStatus.NO_STOCK}


# --- ranking ---------------------------------------------------------------------------------

# Each row: the criterion under test, what makes "better" better on it, what makes "closer"
# win by default. With the criterion's weight at zero, "closer" wins; at 10, "better" wins.
RANKING_CASES = [
    ("shipping_cost", {"cost": ("2.00", "0.10", "0.00")}, {"cost": ("9.00", "0.90", "0.00")}),
    ("lead_time_days", {"lead_time_days": 1}, {"lead_time_days": 5}),
    ("capacity_left", {"used_today": 5}, {"used_today": 95}),
    ("source_priority", {"priority": 10}, {"priority": 1}),
    ("stock_depth", {"stock": {"RED-CHAIR": 500}}, {"stock": {"RED-CHAIR": 3}}),
]


@pytest.mark.parametrize(("criterion", "better", "worse"), RANKING_CASES)
def test_each_ranking_criterion_can_change_the_winner(
    criterion: str, better: dict[str, Any], worse: dict[str, Any]
) -> None:
    candidates = [
        make_source("wh-better", at=LYON, **better),
        make_source("wh-closer", at=VERSAILLES, **worse),
    ]
    order = make_order(("RED-CHAIR", 2))
    without = decide(order, candidates, make_policy(), NOW)
    with_weight = decide(
        order, candidates, make_policy(ranking={"weights": {criterion: 10.0}}), NOW
    )
    assert list(without.shipments) == ["wh-closer"]
    assert list(with_weight.shipments) == ["wh-better"]


def test_distance_criterion_can_change_the_winner() -> None:
    cheap_far = make_source("wh-cheap", at=MARSEILLE, cost=("1.00", "0.10", "0.00"))
    dear_near = make_source("wh-near", at=VERSAILLES, cost=("9.00", "0.90", "0.00"))
    order = make_order(("RED-CHAIR", 2))
    cost_only = make_policy(ranking={"weights": {"distance_km": 0.0, "shipping_cost": 1.0}})
    with_distance = make_policy(ranking={"weights": {"distance_km": 10.0, "shipping_cost": 1.0}})
    assert list(decide(order, [cheap_far, dear_near], cost_only, NOW).shipments) == ["wh-cheap"]
    assert list(decide(order, [cheap_far, dear_near], with_distance, NOW).shipments) == ["wh-near"]


def test_shipping_cost_includes_distance_through_per_km() -> None:
    near = make_source("wh-near", at=VERSAILLES, cost=("5.00", "0.50", "0.10"))
    far = make_source("wh-far", at=MARSEILLE, cost=("5.00", "0.50", "0.10"))
    policy = make_policy(ranking={"weights": {"distance_km": 0.0, "shipping_cost": 1.0}})
    decision = decide(make_order(("RED-CHAIR", 2)), [far, near], policy, NOW)
    assert list(decision.shipments) == ["wh-near"]
    (detail,) = decision.shipment_details
    assert detail.distance_km is not None
    expected = Decimal("6.00") + Decimal("0.10") * Decimal(repr(round(detail.distance_km, 3)))
    assert detail.estimated_cost == expected.quantize(Decimal("0.01"))


def test_unknown_ship_to_position_makes_distance_neutral() -> None:
    order = make_order(("RED-CHAIR", 1), at=None)
    candidates = [
        make_source("wh-marseille", at=MARSEILLE, priority=5),
        make_source("wh-paris", at=PARIS),
    ]
    decision = decide(order, candidates, make_policy(), NOW)
    # Distance cannot decide, so the tie-break (priority) does.
    assert list(decision.shipments) == ["wh-marseille"]
    scored = [c for c in decision.explanation.candidates if c.status is CandidateStatus.SCORED]
    assert all(c.raw[CRITERIA.index("distance_km")] is None for c in scored)
    assert decision.shipment_details[0].distance_km is None


def test_explanation_records_every_criterion_for_every_scored_candidate() -> None:
    decision = decide(
        make_order(("RED-CHAIR", 1)),
        [make_source("wh-paris"), make_source("store-lyon", at=LYON, kind=SourceKind.STORE)],
        make_policy(),
        NOW,
    )
    first, second = decision.explanation.candidates
    assert (first.source_id, first.rank, second.source_id, second.rank) == (
        "wh-paris", 1, "store-lyon", 2,
    )  # fmt: skip
    rows = second.breakdown(decision.explanation)
    assert [r.criterion for r in rows] == list(CRITERIA)
    distance = rows[0]
    assert distance.raw is not None and distance.raw > 390  # Paris to Lyon
    assert (distance.normalised, distance.weight, distance.contribution) == (1.0, 1.0, 1.0)
    assert second.total == pytest.approx(sum(r.contribution for r in rows))
    assert first.breakdown(decision.explanation)[0].normalised == 0.0


# --- ties ------------------------------------------------------------------------------------


@pytest.mark.parametrize(
    ("priorities", "winner", "why"),
    [
        ({"wh-a": 0, "wh-b": 0}, "wh-a", "source_id order"),
        ({"wh-a": 0, "wh-b": 3}, "wh-b", "higher priority (3 > 0)"),
    ],
)
def test_ties_are_broken_by_priority_then_source_id_and_recorded(
    priorities: dict[str, int], winner: str, why: str
) -> None:
    candidates = [make_source(sid, at=LYON, priority=p) for sid, p in priorities.items()]
    for ordering in (candidates, list(reversed(candidates))):
        decision = decide(make_order(), ordering, make_policy(), NOW)
        assert list(decision.shipments) == [winner]
        (note,) = decision.explanation.tie_breaks
        assert why in note
        assert f"chose {winner}" in note


def test_stock_level_available_subtracts_reserved_and_safety_stock() -> None:
    assert StockLevel(on_hand=10, reserved=3, safety_stock=2).available == 5
    assert StockLevel(on_hand=2, reserved=3, safety_stock=0).available == 0
