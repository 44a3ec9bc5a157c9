"""A policy's constants are worked out once per policy object, and follow every other policy."""

from __future__ import annotations

import gc
from decimal import Decimal

from policies_factories import make_policy

from orchestration_policies.policy import AllocationRule
from orchestration_policies.policy_constants import _KNOWN, constants_of


def test_the_same_policy_gives_the_same_constants_and_a_copy_with_changes_its_own() -> None:
    policy = make_policy(split={"split_penalty": 0.5}, excluded_sources=["a"])
    constants = constants_of(policy)
    assert constants_of(policy) is constants
    assert constants.penalty == 0.5 and constants.excluded == frozenset({"a"})
    # model_copy copies the instance's attributes: constants kept on the policy would follow it
    changed = policy.model_copy(
        update={
            "excluded_sources": ("b",),
            "allocation": (AllocationRule(demand_class="vip", share=Decimal("0.5")),),
        }
    )
    other = constants_of(changed)
    assert other is not constants and other.excluded == frozenset({"b"})
    assert other.reservations("standard").kept_for_others(10) == 5
    assert constants.reservations("standard").kept_for_others(10) == 0
    assert other.reservations("vip").kept_for_others(10) == 0


def test_a_policy_gone_takes_its_constants_with_it() -> None:
    policy = make_policy()
    constants_of(policy)
    key = id(policy)
    assert key in _KNOWN
    del policy
    gc.collect()
    assert key not in _KNOWN
