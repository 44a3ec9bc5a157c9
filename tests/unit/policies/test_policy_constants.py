"""A policy's constants are worked out once per policy object, and follow every other policy."""

from __future__ import annotations

import gc
from decimal import Decimal

import pytest
from policies_factories import make_policy

from orchestration_policies import eligibility
from orchestration_policies.eligibility import Reservations
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


def test_figures_kept_for_other_classes_are_bounded_in_place_and_stay_right(
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    """One memo entry per on-hand figure met, no more than KEPT_FIGURES: emptied in the very
    dict the hot path reads (candidates keep a reference to it), the answers unchanged."""
    monkeypatch.setattr(eligibility, "KEPT_FIGURES", 50)
    rule = AllocationRule(demand_class="vip", units=2, share=Decimal("0.25"))
    reservations = Reservations([rule], "standard")
    memo = reservations.kept_by_on_hand
    fresh = Reservations([rule], "standard")
    for on_hand in range(1, 500):  # every shipment leaves a new on-hand figure
        assert reservations.kept_for_others(on_hand) == max(2, -(-on_hand // 4))
        assert len(memo) <= 50
    assert reservations.kept_by_on_hand is memo and memo
    for on_hand, kept in memo.items():
        assert fresh.kept_for_others(on_hand) == kept
