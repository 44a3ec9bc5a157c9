"""Conditions evaluated directly in Python answer as cel-python does, for any values; the
others are left to cel-python."""

from __future__ import annotations

from typing import Any

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st
from policies_factories import LYON, NOW, PARIS, make_order, make_source

from orchestration_policies import DeliveryMethod, SourceKind
from orchestration_policies.cel import OrderFacts
from orchestration_policies.cel.condition import _compile
from orchestration_policies.cel.values import source_plain, to_cel
from tests.support.examples import examples

DIRECT = [
    'source.kind != "store" || order.delivery_method != "same_day"'
    " || source.country == order.country",
    "source.country == order.country && !(source.kind == 'dropship')",
    'order.attributes.tier == "vip" || order.attributes.gift == true',
    "order.attributes.rank == 2 && source.active == true",
    "!(order.attributes.gift == false) && source.priority != 1",
    'order.channel == "web" && (order.payment_state == "captured" || source.kind == "store")',
    "source.active",  # a bool field alone
]
NOT_DIRECT = [
    'source.country in ["FR", "BE"]',
    "source.priority > 1",
    "has(order.attributes.gift) && order.attributes.gift",
    'order.delivery_method == "same_day" ? source.kind == "store" : true',
    'source.kind == "st\\x6fre"',
    "order.attributes.rank == 2.0",
]
# Compiled here (see test_policies_cel), without the load-time checks: what matters is
# what each answers for any values, which includes those a loaded policy would refuse.
for _text in DIRECT + NOT_DIRECT:
    _compile(_text)

ATTRIBUTE = st.one_of(
    st.booleans(),
    st.integers(-2, 3),
    st.sampled_from([0.0, 2.0, 2.5]),
    st.sampled_from(["vip", "2", "", "true"]),
)


def _celpy(text: str, facts: OrderFacts, source: Any, distance: float | None) -> object:
    """What cel-python answers, over the whole source: True, False or the error's message."""
    condition = _compile(text)
    activation = {
        "order": to_cel(facts.plain),
        "now": to_cel(facts.now),
        "source": to_cel(source_plain(source, distance, facts.skus)),
    }
    return condition.run(activation)


def test_the_simple_conditions_are_direct_and_the_others_are_not() -> None:
    assert all(_compile(t)._direct is not None for t in DIRECT)
    assert all(_compile(t)._direct is None for t in NOT_DIRECT)


@settings(max_examples=examples(150), deadline=None)
@given(
    text=st.sampled_from(DIRECT + NOT_DIRECT),
    attributes=st.dictionaries(st.sampled_from(["tier", "gift", "rank"]), ATTRIBUTE, max_size=3),
    kind=st.sampled_from(list(SourceKind)),
    country=st.sampled_from(["FR", "BE"]),
    order_country=st.sampled_from(["FR", "BE"]),
    method=st.sampled_from(list(DeliveryMethod)),
    channel=st.sampled_from(["web", "b2b"]),
    payment=st.sampled_from(["authorized", "captured"]),
    priority=st.integers(0, 2),
    active=st.booleans(),
)
def test_a_condition_answers_as_cel_python_whatever_the_values(
    text: str,
    attributes: dict[str, Any],
    kind: SourceKind,
    country: str,
    order_country: str,
    method: DeliveryMethod,
    channel: str,
    payment: str,
    priority: int,
    active: bool,
) -> None:
    order = make_order(
        attributes=attributes,
        country=order_country,
        delivery_method=method,
        channel=channel,
        payment_state=payment,
    )
    source = make_source(
        "src-1",
        at=LYON if country == "FR" else PARIS,
        kind=kind,
        country=country,
        priority=priority,
        active=active,
    )
    facts = OrderFacts(order, NOW)
    condition = _compile(text)
    assert condition._evaluate_now(facts, source, 12.5) == _celpy(text, facts, source, 12.5)


@pytest.mark.parametrize("text", DIRECT)
def test_an_order_condition_naming_no_source_is_left_to_cel_python(text: str) -> None:
    facts = OrderFacts(make_order(attributes={"tier": "vip"}), NOW)
    condition = _compile(text)
    # No source at all (an order-scope evaluation): a source field is missing for CEL.
    activation = {"order": to_cel(facts.plain), "now": to_cel(facts.now)}
    assert condition._evaluate_now(facts, None, None) == condition.run(activation)
