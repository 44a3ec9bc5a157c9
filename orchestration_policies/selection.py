"""Which policy applies to an order (the orchestrator then calls ``decide`` with it)."""

from __future__ import annotations

from collections.abc import Iterable
from datetime import datetime

from orchestration_policies.cel import ConditionError, OrderFacts
from orchestration_policies.inputs import OrderToRoute
from orchestration_policies.policy import Policy

__all__ = ["policy_applies", "select_policy"]


def policy_applies(policy: Policy, order: OrderToRoute, now: datetime) -> bool:
    """True when every ``applies_to`` filter matches (an empty list matches anything).

    A condition that cannot be evaluated for this order does not match: a policy written for
    some orders must not capture others by accident.
    """
    scope = policy.applies_to
    if scope.channels and order.channel not in scope.channels:
        return False
    if scope.countries and order.country not in scope.countries:
        return False
    if scope.demand_classes and order.demand_class not in scope.demand_classes:
        return False
    if scope.delivery_methods and order.delivery_method not in scope.delivery_methods:
        return False
    condition = scope.compiled
    if condition is None:
        return True
    try:
        return condition.evaluate(OrderFacts(order, now))
    except ConditionError:
        return False


def select_policy(order: OrderToRoute, policies: Iterable[Policy], now: datetime) -> Policy | None:
    """The applicable policy with the highest ``applies_to.priority`` (then id, then version)."""
    applicable = [p for p in policies if policy_applies(p, order, now)]
    if not applicable:
        return None
    return min(applicable, key=lambda p: (-p.applies_to.priority, p.id, -p.version))
