"""Recorded decision inputs: plain values, encoded and decoded without I/O, content-addressed."""

import dataclasses
import json
from datetime import UTC, datetime, timedelta, timezone
from decimal import Decimal

import pytest

from orchestration_policies import StockLevel, decide
from orchestration_policies.decision_inputs import (
    DecisionInputs,
    InputsFormatError,
    PolicyRef,
    RoutingOverrides,
    canonical_json,
    decode,
    definition_digest,
    encode,
    from_body,
    to_body,
)
from tests.unit.policies.policies_factories import (
    LILLE,
    LYON,
    NOW,
    make_order,
    make_policy,
    make_source,
)


def _inputs(**changes: object) -> DecisionInputs:
    order = make_order(
        ("RED-CHAIR", 3),
        ("BLUE-LAMP", 1),
        promised_by=NOW + timedelta(days=3),
        attributes={"vip": True, "score": 0.25, "tier": 2, "region": "north"},
        live_shipment_sources=("wh-lyon",),
        total=Decimal("249.50"),
    )
    candidates = (
        make_source("wh-lyon", at=LYON, stock={"RED-CHAIR": StockLevel(5, 2, 1)}),
        make_source(
            "store-lille",
            at=LILLE,
            stock={"RED-CHAIR": 2, "BLUE-LAMP": 4},
            cost=("4.10", "0.35", "0.012"),
            demand_classes=frozenset({"vip"}),
            used_today=7,
            priority=2,
        ),
        make_source("wh-empty", stock={}, active=False),
    )
    fields: dict[str, object] = {
        "order": order,
        "candidates": candidates,
        "policy": PolicyRef("test-policy", 3),
        "now": NOW,
        "overrides": RoutingOverrides(rejected_sources=("wh-old",)),
        "sources_not_given": 17,
    }
    fields.update(changes)
    return DecisionInputs(**fields)  # type: ignore[arg-type]


def test_encoded_inputs_decode_to_equal_values_and_the_same_decision() -> None:
    inputs = _inputs()
    again = decode(encode(inputs))

    assert again == inputs
    assert again.digest == inputs.digest
    policy = make_policy()
    assert again.decide(policy).to_dict() == inputs.decide(policy).to_dict()
    # JSON text: readable by anyone, no Python-specific encoding.
    plain = json.loads(encode(inputs))
    assert plain["body"]["order"]["total"] == "249.50"
    assert plain["body"]["candidates"][0]["stock"] == {"RED-CHAIR": [5, 2, 1]}


def test_the_digest_names_the_content_and_changes_with_any_of_it() -> None:
    inputs = _inputs()
    body, _ = to_body(inputs)
    assert inputs.digest == _inputs().digest
    assert len(inputs.digest) == 64

    changed = [
        _inputs(now=NOW + timedelta(seconds=1)),
        _inputs(policy=PolicyRef("test-policy", 4)),
        _inputs(overrides=RoutingOverrides()),
        _inputs(sources_not_given=16),
        _inputs(candidates=inputs.candidates[:2]),
        _inputs(order=dataclasses.replace(inputs.order, total=Decimal("249.51"))),
        _inputs(
            candidates=(
                dataclasses.replace(inputs.candidates[0], stock={"RED-CHAIR": StockLevel(5, 3, 1)}),
                *inputs.candidates[1:],
            )
        ),
        _inputs(
            candidates=(
                dataclasses.replace(inputs.candidates[0], lead_time_days=2),
                *inputs.candidates[1:],
            )
        ),
    ]
    digests = {c.digest for c in changed}
    assert inputs.digest not in digests and len(digests) == len(changed)
    # Each candidate names its definition by the definition's own digest.
    _, definitions = to_body(inputs)
    for row in body["candidates"]:
        assert definition_digest(definitions[row["definition"]]) == row["definition"]


def test_a_time_in_another_zone_keeps_its_instant() -> None:
    paris = timezone(timedelta(hours=1))
    inputs = _inputs(now=datetime(2024, 5, 1, 13, 0, tzinfo=paris))
    again = decode(encode(inputs))
    assert again.now == NOW and again.now.utcoffset() == timedelta(hours=1)


@pytest.mark.parametrize(
    ("overrides", "expected"),
    [
        (RoutingOverrides(), {"holds": 1, "excluded": (), "over": "hold"}),
        (RoutingOverrides(holds_released=True), {"holds": 0, "excluded": (), "over": "hold"}),
        (
            RoutingOverrides(pinned_source="store-lille"),
            {"holds": 0, "excluded": ("wh-empty", "wh-lyon"), "over": "hold"},
        ),
        (
            RoutingOverrides(split_limit_released=True, rejected_sources=("wh-lyon",)),
            {"holds": 1, "excluded": ("wh-lyon",), "over": "ship_rest_from_next_best"},
        ),
    ],
)
def test_overrides_change_the_policy_as_the_order_history_says(
    overrides: RoutingOverrides, expected: dict[str, object]
) -> None:
    policy = make_policy(
        holds=[
            {
                "name": "unpaid",
                "condition": "order.payment_state == 'pending'",
                "reason": "not paid",
            }
        ]
    )
    inputs = _inputs(overrides=overrides)
    applied = overrides.applied_to(policy, inputs.candidates)
    assert len(applied.holds) == expected["holds"]
    assert applied.excluded_sources == expected["excluded"]
    assert applied.over_split_limit.value == expected["over"]
    assert (
        inputs.decide(policy).to_dict()
        == decide(inputs.order, inputs.candidates, applied, inputs.now).to_dict()
    )


def test_holders_are_the_candidates_with_stock_of_the_order() -> None:
    assert _inputs().holders == {"wh-lyon", "store-lille"}


def test_an_unknown_format_or_a_missing_definition_is_a_clear_error() -> None:
    body, definitions = to_body(_inputs())
    with pytest.raises(InputsFormatError, match="format 2"):
        from_body({**body, "format": 2}, definitions)
    missing = body["candidates"][1]["definition"]
    with pytest.raises(InputsFormatError, match=f"definition {missing} is not recorded"):
        from_body(body, {k: v for k, v in definitions.items() if k != missing})
    with pytest.raises(InputsFormatError):
        from_body({**body, "order": {"order_id": "x"}}, definitions)
    with pytest.raises(InputsFormatError):
        decode(b"not json")


def test_canonical_json_is_sorted_compact_utf8() -> None:
    assert canonical_json({"b": 1, "a": "é"}) == '{"a":"é","b":1}'.encode()
    assert _inputs().now.tzinfo is UTC


def test_a_candidates_stock_in_any_order_is_recorded_alike() -> None:
    """The body keeps a candidate's stock in the order it was given (routing's order lines);
    it is only ever written keys sorted, so its digest and bytes do not depend on that order."""
    levels = {"RED-CHAIR": StockLevel(5, 2, 1), "BLUE-LAMP": StockLevel(4, 0, 0), "A-1": 3}
    one = _inputs(candidates=(make_source("wh-lyon", at=LYON, stock=levels),))
    other = _inputs(
        candidates=(make_source("wh-lyon", at=LYON, stock=dict(reversed(levels.items()))),)
    )

    assert one.digest == other.digest
    assert encode(one) == encode(other)
    assert list(json.loads(encode(one))["body"]["candidates"][0]["stock"]) == [
        "A-1",
        "BLUE-LAMP",
        "RED-CHAIR",
    ]
