"""Loading and validating policy documents: every problem is reported precisely."""

from __future__ import annotations

from decimal import Decimal

import pytest
import yaml
from policies_factories import policy_document

from orchestration_policies import (
    BackorderMode,
    Policy,
    PolicyError,
    default_policy,
    load_policy,
    validate_policy,
)


def _yaml(**overrides: object) -> str:
    return yaml.safe_dump(policy_document(**overrides), sort_keys=False)


def _problems(text: str) -> dict[str, str]:
    with pytest.raises(PolicyError) as caught:
        load_policy(text)
    return {p.path: p.message for p in caught.value.problems}


def test_default_policy_loads_and_is_documented() -> None:
    policy = default_policy()
    assert policy.id == "default"
    assert policy.split.max_shipments == 3
    assert policy.split.allowed and not policy.split.ship_complete
    assert policy.backorder is BackorderMode.ALLOW
    assert [(a.demand_class, a.share) for a in policy.allocation] == [("vip", Decimal("0.1"))]
    assert policy.applies_to.channels == ()


def test_loads_a_minimal_policy_with_defaults() -> None:
    policy = load_policy("id: p\nversion: 2\nname: Minimal\n")
    assert isinstance(policy, Policy)
    assert policy.version == 2
    assert policy.backorder is BackorderMode.ALLOW


@pytest.mark.parametrize(
    ("overrides", "path"),
    [
        ({"colour": "red"}, "colour"),
        ({"split": {"max_shipment": 2}}, "split.max_shipment"),
        ({"ranking": {"weights": {"distance": 1.0}}}, "ranking.weights.distance"),
        ({"holds": [{"name": "h", "condition": "true", "reason": "r", "why": 1}]}, "holds[0].why"),
    ],
)
def test_unknown_fields_are_rejected_with_their_path(
    overrides: dict[str, object], path: str
) -> None:
    problems = _problems(_yaml(**overrides))
    assert path in problems
    assert "Extra inputs are not permitted" in problems[path]


@pytest.mark.parametrize("bad_weight", ["1.5", "heavy", True, None, [1.0], float("nan"), -1.0])
def test_weights_that_are_not_non_negative_numbers_are_rejected_with_the_field_path(
    bad_weight: object,
) -> None:
    problems = _problems(_yaml(ranking={"weights": {"shipping_cost": bad_weight}}))
    assert list(problems) == ["ranking.weights.shipping_cost"]


def test_integer_weights_are_accepted() -> None:
    policy = load_policy(_yaml(ranking={"weights": {"shipping_cost": 2}}))
    assert policy.ranking.weights.shipping_cost == 2.0


def test_cel_syntax_error_is_reported_with_expression_line_and_column() -> None:
    text = _yaml(holds=[{"name": "big", "condition": "order.total >", "reason": "big order"}])
    with pytest.raises(PolicyError) as caught:
        load_policy(text)
    (problem,) = caught.value.problems
    assert problem.path == "holds[0].condition"
    assert problem.expression == "order.total >"
    assert (problem.line, problem.column) == (1, 13)
    assert "CEL syntax error at line 1, column 13" in problem.message
    assert "unexpected end of expression" in problem.message


def test_cel_syntax_error_on_a_later_line_gives_that_line() -> None:
    condition = 'source.kind == "store"\n  && source.priority >> 1'
    text = _yaml(eligibility=[{"name": "stores", "condition": condition}])
    with pytest.raises(PolicyError) as caught:
        load_policy(text)
    (problem,) = caught.value.problems
    assert problem.path == "eligibility[0].condition"
    assert problem.line == 2
    assert problem.column is not None and problem.column > 1


@pytest.mark.parametrize(
    ("section", "condition", "fragment"),
    [
        ("holds", 'order.contry == "FR"', "order has no field 'contry'"),
        ("holds", 'source.kind == "store"', "source is only available in eligibility rules"),
        ("holds", "ordr.total > 1.0", "unknown variable 'ordr'"),
        ("eligibility", "source.stock_level > 1", "source has no field 'stock_level'"),
        ("eligibility", "source.cost.per_mile > 0.0", "source.cost has no field 'per_mile'"),
        (
            "holds",
            "order.line_count > 2.5",
            "no matching overload for '>' applied to '(int, double)'",
        ),
        ("holds", "order.total + 1.0", "condition must be a bool"),
        ("eligibility", 'source.priority == "high"', "CEL type error"),
    ],
)
def test_cel_reference_and_type_errors_are_found_at_load(
    section: str, condition: str, fragment: str
) -> None:
    rule = {"name": "rule", "condition": condition}
    if section == "holds":
        rule["reason"] = "because"
    problems = _problems(_yaml(**{section: [rule]}))
    message = problems[f"{section}[0].condition"]
    assert fragment in message


def test_every_problem_is_listed_not_just_the_first() -> None:
    text = _yaml(
        colour="red",
        version=0,
        ranking={"weights": {"distance_km": "near"}},
        holds=[{"name": "h", "condition": "order.", "reason": "r"}],
    )
    problems = _problems(text)
    assert set(problems) >= {
        "colour",
        "version",
        "ranking.weights.distance_km",
        "holds[0].condition",
    }


@pytest.mark.parametrize(
    ("text", "fragment"),
    [
        ("id: p\nversion: [1\n", "YAML error at line"),
        ("- just\n- a list\n", "a policy must be a YAML mapping"),
        ("id: p\nid: q\nversion: 1\nname: n\n", "duplicate key 'id'"),
    ],
)
def test_malformed_yaml_is_reported(text: str, fragment: str) -> None:
    problems = _problems(text)
    assert any(fragment in message for message in problems.values())


def test_duplicate_rule_names_and_reserved_names_are_rejected() -> None:
    rule = {"name": "same", "condition": "true"}
    problems = _problems(
        _yaml(
            eligibility=[rule, rule, {"name": "inactive", "condition": "true"}],
        )
    )
    (message,) = problems.values()
    assert "duplicate eligibility rule name(s): same" in message
    assert "reserved by decide(): inactive" in message


@pytest.mark.parametrize(
    ("allocation", "path"),
    [
        ({"demand_class": "vip"}, "allocation[0]"),
        ({"demand_class": "vip", "share": 1.5}, "allocation[0].share"),
        ({"demand_class": "vip", "units": -1}, "allocation[0].units"),
    ],
)
def test_allocation_needs_units_or_a_share_between_zero_and_one(
    allocation: dict[str, object], path: str
) -> None:
    problems = _problems(_yaml(allocation=[allocation]))
    assert path in problems


def test_split_needs_at_least_one_shipment() -> None:
    problems = _problems(_yaml(split={"max_shipments": 0}))
    assert "split.max_shipments" in problems


def test_validate_policy_flags_unknown_sources_and_demand_classes() -> None:
    policy = load_policy(
        _yaml(
            excluded_sources=["wh-paris", "wh-atlantis"],
            applies_to={"demand_classes": ["vip", "platinum"]},
            allocation=[{"demand_class": "gold", "units": 2}],
            eligibility=[
                {"name": "not-nowhere", "condition": 'source.source_id != "store-nowhere"'},
                {
                    "name": "b2b-from-warehouses",
                    "condition": 'order.demand_class != "wholesale" || source.kind == "warehouse"',
                },
            ],
        )
    )
    problems = validate_policy(
        policy,
        known_sources={"wh-paris", "store-lyon"},
        known_demand_classes={"standard", "vip", "b2b"},
    )
    assert {(p.path, p.message) for p in problems} == {
        ("excluded_sources[1]", "unknown source 'wh-atlantis'"),
        ("applies_to.demand_classes[1]", "unknown demand class 'platinum'"),
        ("allocation[0].demand_class", "unknown demand class 'gold'"),
        ("eligibility[0].condition", "unknown source 'store-nowhere'"),
        ("eligibility[1].condition", "unknown demand class 'wholesale'"),
    }


def test_validate_policy_checks_nothing_it_is_not_given() -> None:
    policy = load_policy(_yaml(excluded_sources=["wh-atlantis"]))
    assert validate_policy(policy) == ()


def test_policy_objects_are_frozen() -> None:
    policy = default_policy()
    with pytest.raises(ValueError):
        policy.version = 2
