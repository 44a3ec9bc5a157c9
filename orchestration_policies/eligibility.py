"""Which sources may ship an order at all, and which stock an order may use at each.

Built-in rules come first, in a fixed order, so the rule reported for a source is stable:
inactive, excluded_by_policy, does_not_ship_to_country, delivery_method_not_supported,
demand_class_not_served, no_capacity_left, cost_currency_mismatch; then the policy's own
eligibility rules in document order.
"""

from __future__ import annotations

from collections.abc import Iterable
from typing import NamedTuple

from orchestration_policies.inputs import CandidateSource, OrderToRoute
from orchestration_policies.policy import AllocationRule, EligibilityRule

__all__ = ["Exclusion", "Reservations", "builtin_exclusion", "exclusion_for"]


class Exclusion(NamedTuple):
    rule: str
    detail: str
    error: str | None = None  # set when a policy condition failed to evaluate


def builtin_exclusion(
    order: OrderToRoute, source: CandidateSource, excluded_sources: frozenset[str]
) -> Exclusion | None:
    if not source.active:
        return Exclusion("inactive", "source is inactive or paused")
    if source.source_id in excluded_sources:
        return Exclusion("excluded_by_policy", "listed in the policy's excluded_sources")
    if not (source.ships_everywhere or order.country in source.ship_countries):
        return _said("does_not_ship_to_country", "does not ship to", order.country)
    if order.delivery_method not in source.delivery_methods:
        return _said("delivery_method_not_supported", "does not offer", order.delivery_method)
    if source.demand_classes and order.demand_class not in source.demand_classes:
        return _said("demand_class_not_served", "does not serve", order.demand_class)
    if source.used_today >= source.daily_capacity:
        return Exclusion(
            "no_capacity_left",
            f"{source.used_today} of {source.daily_capacity} shipments used today",
        )
    if source.cost.currency != order.currency:
        # Costs in different currencies cannot be ranked against each other without a rate;
        # the caller converts cost models to the order's currency before deciding.
        return Exclusion(
            "cost_currency_mismatch",
            f"cost model in {source.cost.currency}, order in {order.currency}",
        )
    return None


# The exclusions that name only what the order asks (its country, delivery method, demand
# class), made once each: on a network whose SKUs are held in several countries most of an
# order's holders are excluded by one of them, and each was a new text and tuple.
_SAID: dict[tuple[str, str, str], Exclusion] = {}


def _said(rule: str, verb: str, asked: str) -> Exclusion:
    key = (rule, verb, asked)
    found = _SAID.get(key)
    if found is None:
        if len(_SAID) >= 1024:
            _SAID.clear()
        found = _SAID[key] = Exclusion(rule, f"{verb} {asked}")
    return found


def exclusion_for(rule: EligibilityRule, outcome: object) -> Exclusion:
    """The exclusion for a source whose outcome under ``rule`` was not True.

    An outcome that is not a bool is the message of a failed evaluation: the source is
    excluded then too (failing closed: a source we cannot vouch for is not sent the order).
    """
    if outcome is False:
        return Exclusion(rule.name, rule.description or f"fails {rule.condition}")
    return Exclusion(rule.name, "condition could not be evaluated", str(outcome))


# kept_for_others() figures memoised per demand class, at most this many on-hand figures (the
# memo emptied in place when full). One per on-hand figure ever met otherwise: every shipment
# leaves a new one, and a soak of the distributed hub held ~16,000 per demand class after 43,000
# orders, ~4.5 MB in all and still rising (benchmarks/README.md, soak2). A miss is a few integer
# operations.
KEPT_FIGURES = 4_096


class Reservations:
    """Units kept for other demand classes, per SKU at a source (integer arithmetic only)."""

    __slots__ = ("_rules", "kept_by_on_hand")

    def __init__(self, allocation: Iterable[AllocationRule], demand_class: str) -> None:
        # kept_for_others() results already worked out, by on hand (read inline by the hot path)
        self.kept_by_on_hand: dict[int, int] = {}
        rules: list[tuple[int, int, int]] = []
        for rule in allocation:
            if rule.demand_class == demand_class:
                continue
            numerator, denominator = (0, 1) if rule.share is None else rule.share.as_integer_ratio()
            rules.append((rule.units or 0, numerator, denominator))
        self._rules = tuple(rules)

    def __bool__(self) -> bool:
        return bool(self._rules)

    def kept_for_others(self, on_hand: int) -> int:
        kept = self.kept_by_on_hand.get(on_hand)
        if kept is None:
            kept = 0
            for units, numerator, denominator in self._rules:
                kept += max(units, -(-numerator * on_hand // denominator))
            if len(self.kept_by_on_hand) >= KEPT_FIGURES:
                self.kept_by_on_hand.clear()  # in place: the hot path holds this very dict
            self.kept_by_on_hand[on_hand] = kept
        return kept
