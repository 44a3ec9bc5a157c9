"""A decision's record built part by part (orch11): the same values and key order as the
generic way (`_asdict` of each NamedTuple, every number through `rounded`), for counts below
and beyond a million, unknown bounds, Decimals, enums and None; and the exclusions that name
only what the order asks written as before, whatever the order."""

from decimal import Decimal
from types import MappingProxyType
from typing import Any

import pytest

from orchestration_policies import decide
from orchestration_policies.canonical import rounded
from orchestration_policies.decision import (
    Decision,
    Explanation,
    PlanExplanation,
    PlanStrategy,
    SearchMode,
    ShipmentDetail,
    UnallocatedLine,
    UnallocatedReason,
)
from orchestration_policies.policy import CRITERIA
from orchestration_policies.scoring import HIGHER_IS_BETTER
from tests.unit.policies.policies_factories import NOW, make_order, make_policy, make_source


def _generic(value: Any) -> Any:
    """How the record wrote each value before it was built part by part."""
    if isinstance(value, Decimal):
        return str(value)
    if isinstance(value, float):
        return rounded(float(value))
    if isinstance(value, str):  # a StrEnum member as its plain value
        return str(value)
    return value


def _decision(bounds: tuple[Any, ...], weights: tuple[float, ...]) -> Decision:
    plan = PlanExplanation(
        PlanStrategy.SPLIT, SearchMode.EXACT, "two shipments", 3, 1.23456789, 4, 5, ("a", "b")
    )
    return Decision(
        order_id="order-1",
        policy_id="p",
        policy_version=2,
        decided_at=NOW,
        shipments=MappingProxyType({}),
        shipment_details=(
            ShipmentDetail("a", 3, Decimal("12.50"), "EUR", 12.3456789, 2, 0.1234567),
            ShipmentDetail("b", 1, Decimal("4"), "EUR", None, 1, 1.0),
        ),
        unallocated=(UnallocatedLine("L1", "RED", 2, UnallocatedReason.NO_STOCK),),
        backordered=(),
        held=None,
        rejected=None,
        explanation=Explanation(CRITERIA, weights, bounds, 0.1, (), plan),
    )


@pytest.mark.parametrize(
    "bounds",
    [
        (None,) * len(CRITERIA),
        ((1.23456789, 9.87654321), (0, 999_999), (-999_999, 3), (1_000_000, 2_000_001),
         (-(10**12) - 1, 10**15 + 7), (2.5, 2.5)),
    ],
)  # fmt: skip
def test_each_part_is_what_the_generic_way_wrote(bounds: tuple[Any, ...]) -> None:
    weights = (1.0, 0.3333333333, 0.5, 0.1, 0.2, 0.0)
    decision = _decision(bounds, weights)

    record = decision.to_dict()

    e = decision.explanation
    assert record["shipment_details"] == [
        {k: _generic(v) for k, v in d._asdict().items()} for d in decision.shipment_details
    ]
    assert [list(d) for d in record["shipment_details"]] == [
        list(ShipmentDetail._fields)
    ] * 2  # the fields' order kept: re-routings store the record in its own key order
    assert record["unallocated"] == [
        {**u._asdict(), "reason": "no_stock"} for u in decision.unallocated
    ]
    assert record["backordered"] == []
    plan = record["explanation"]["plan"]
    assert list(plan) == list(PlanExplanation._fields)
    assert plan == {k: _generic(v) for k, v in e.plan._asdict().items()} | {
        "proposed_sources": ["a", "b"]
    }
    assert record["explanation"]["weights"] == {
        n: rounded(w) for n, w in zip(CRITERIA, weights, strict=True)
    }
    assert record["explanation"]["normalisation"] == {
        name: {
            "min": None if b is None else rounded(float(b[0])),
            "max": None if b is None else rounded(float(b[1])),
            "better": "higher" if higher else "lower",
        }
        for name, b, higher in zip(CRITERIA, bounds, HIGHER_IS_BETTER, strict=True)
    }
    assert all(
        type(v) is float for n in record["explanation"]["normalisation"].values()
        for v in (n["min"], n["max"]) if v is not None
    )  # fmt: skip


def test_a_policys_weights_are_the_records_own() -> None:
    decision = _decision((None,) * len(CRITERIA), (1.0,) * len(CRITERIA))
    first = decision.to_dict()
    first["explanation"]["weights"]["distance_km"] = 99.0

    assert decision.to_dict()["explanation"]["weights"]["distance_km"] == 1.0


def test_sources_excluded_by_what_the_order_asks_are_explained_for_each_order() -> None:
    policy = make_policy()
    sources = [
        make_source("nowhere-fr", ships_to=frozenset({"DE"})),
        make_source("no-same-day", delivery_methods=frozenset({"standard"})),
        make_source("vip-only", demand_classes=frozenset({"vip"})),
        make_source("open", stock={"RED-CHAIR": 10}),
    ]
    for country, method in (("FR", "same_day"), ("BE", "same_day"), ("FR", "same_day")):
        order = make_order(("RED-CHAIR", 1), country=country, delivery_method=method)
        rows = {
            c.source_id: (c.rule, c.detail)
            for c in decide(order, sources, policy, NOW).explanation.candidates
        }

        assert rows["nowhere-fr"] == ("does_not_ship_to_country", f"does not ship to {country}")
        assert rows["no-same-day"] == ("delivery_method_not_supported", "does not offer same_day")
        assert rows["vip-only"] == ("demand_class_not_served", "does not serve standard")
