"""CEL conditions: memoised results always equal a fresh evaluation."""

from __future__ import annotations

import random
from datetime import timedelta
from typing import Any

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st
from policies_factories import LYON, NOW, PARIS, make_order, make_policy, make_source

from orchestration_policies import SourceKind, decide
from orchestration_policies.cel import (
    CelError,
    ConditionError,
    OrderFacts,
    Scope,
    compile_condition,
)
from orchestration_policies.cel.values import source_plain, to_cel
from tests.support.examples import examples


def _fresh(
    text: str, facts: OrderFacts, source: Any = None, distance: float | None = None
) -> object:
    """The condition evaluated from scratch, without any memo."""
    condition = compile_condition(text, Scope.SOURCE if source is not None else Scope.ORDER)
    activation = {"order": to_cel(facts.plain), "now": to_cel(facts.now)}
    if source is not None:
        activation["source"] = to_cel(source_plain(source, distance, facts.skus))
    return condition.run(activation)


GIFT_OR_VIP = (
    'has(order.attributes.gift) && order.attributes.gift == true || order.attributes.tier == "vip"'
)
# Compiled here, not inside the property: creating cel-python's environment raises the
# recursion limit, which hypothesis warns about when it happens during a test.
compile_condition(GIFT_OR_VIP, Scope.ORDER)

ATTRIBUTE_VALUES = st.one_of(
    st.booleans(),
    st.integers(-2, 2),
    st.sampled_from([0.0, 1.0, 2.5]),
    st.sampled_from(["1", "vip"]),
)


@settings(max_examples=examples(60), deadline=None)
@given(st.dictionaries(st.sampled_from(["gift", "tier"]), ATTRIBUTE_VALUES, max_size=2))
def test_memoised_results_equal_fresh_evaluation_whatever_the_attribute_types(
    attributes: dict[str, Any],
) -> None:
    # 1, 1.0 and True are equal in Python but not in CEL: the memo must keep them apart.
    text = GIFT_OR_VIP
    facts = OrderFacts(make_order(attributes=attributes), NOW)
    expected = _fresh(text, facts)
    condition = compile_condition(text, Scope.ORDER)
    if isinstance(expected, bool):
        assert condition.evaluate(facts) is expected
    else:
        with pytest.raises(ConditionError):
            condition.evaluate(facts)


@pytest.mark.parametrize("hours", [1, 47, 49, 200])
def test_conditions_on_now_follow_the_decision_time(hours: int) -> None:
    text = 'now - order.placed_at > duration("48h")'
    order = make_order()
    facts = OrderFacts(order, order.placed_at + timedelta(hours=hours))
    assert compile_condition(text, Scope.ORDER).evaluate(facts) is (hours > 48)


@pytest.mark.parametrize(
    "text",
    [
        'source.kind != "store" || order.delivery_method != "same_day"',
        "!has(source.distance_km) || source.distance_km < 300.0",
        'source.stock["RED-CHAIR"].available >= 3 && source.cost.per_km < 0.05',
        "source.capacity_left > 10 && source.priority >= 1",
        '"FR" in source.ships_to && source.lead_time_days <= 2',
        "size(order.lines) >= 1 && source.active",
    ],
)
def test_batch_and_single_evaluation_agree_with_fresh_evaluation(text: str) -> None:
    rnd = random.Random(text)
    sources = [
        make_source(
            f"src-{i}",
            at=rnd.choice([PARIS, LYON]),
            kind=rnd.choice(list(SourceKind)),
            stock={"RED-CHAIR": rnd.randint(0, 6)},
            cost=("5.00", "0.50", rnd.choice(["0.00", "0.10"])),
            used_today=rnd.randint(0, 99),
            priority=rnd.randint(0, 2),
            lead_time_days=rnd.randint(0, 4),
        )
        for i in range(12)
    ]
    distances = [rnd.choice([None, 10.0, 450.0]) for _ in sources]
    facts = OrderFacts(make_order(("RED-CHAIR", 1)), NOW)
    bound = compile_condition(text, Scope.SOURCE).bind(facts)
    batch = bound.outcomes(sources, distances)
    for source, distance, outcome in zip(sources, distances, batch, strict=True):
        expected = _fresh(text, facts, source, distance)
        assert outcome == expected
        if isinstance(expected, bool):
            assert bound(source, distance) is expected


def test_dot_prefixed_references_are_never_memoised() -> None:
    condition = compile_condition('.order.country == "FR"', Scope.ORDER)
    assert not condition.analysis.complete
    assert condition.evaluate(OrderFacts(make_order(), NOW)) is True
    assert condition.evaluate(OrderFacts(make_order(country="BE"), NOW)) is False


def test_empty_condition_is_a_syntax_error() -> None:
    with pytest.raises(CelError) as caught:
        compile_condition("   ", Scope.ORDER)
    assert caught.value.kind == "syntax"


def test_condition_errors_are_recorded_in_the_same_order_whatever_the_candidate_order() -> None:
    policy = make_policy(
        eligibility=[{"name": "lamps", "condition": 'source.stock["BLUE-LAMP"].available > 0'}]
    )
    candidates = [make_source(f"wh-{i}", at=PARIS) for i in range(6)]
    first = decide(make_order(), candidates, policy, NOW)
    again = decide(make_order(), list(reversed(candidates)), policy, NOW)
    assert len(first.explanation.condition_errors) == 6
    assert first.to_json() == again.to_json()
