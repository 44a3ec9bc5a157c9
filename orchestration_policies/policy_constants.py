"""What decide() derives from a policy alone, worked out once per policy object.

A policy is immutable (frozen models, tuples), so its ranking weights, split penalty, excluded
sources and the units its allocation rules keep for other demand classes are the same at every
call; a what-if run decides with one policy a hundred thousand times. Kept by the policy
object's identity (hashing a policy at every call would cost more than it saves), and dropped
when the policy is.
"""

from __future__ import annotations

import functools
import weakref

from orchestration_policies.eligibility import Reservations
from orchestration_policies.policy import Policy

__all__ = ["PolicyConstants", "constants_of"]


class PolicyConstants:
    __slots__ = ("_reservations", "allocation", "excluded", "penalty", "weights")

    def __init__(self, policy: Policy) -> None:
        self.weights = policy.ranking.weights.as_tuple()
        self.penalty = float(policy.split.split_penalty)
        self.excluded = frozenset(policy.excluded_sources)
        self.allocation = policy.allocation
        self._reservations: dict[str, Reservations] = {}

    def reservations(self, demand_class: str) -> Reservations:
        """Units kept for the classes other than ``demand_class`` (memoised per on-hand)."""
        found = self._reservations.get(demand_class)
        if found is None:
            found = self._reservations[demand_class] = Reservations(self.allocation, demand_class)
        return found


# id(policy) → (a weak reference to it, its constants): the reference proves the id is still
# that policy's (an id is reused once its object is gone).
_KNOWN: dict[int, tuple[weakref.ref[Policy], PolicyConstants]] = {}


def constants_of(policy: Policy) -> PolicyConstants:
    key = id(policy)
    found = _KNOWN.get(key)
    if found is not None and found[0]() is policy:
        return found[1]
    constants = PolicyConstants(policy)
    _KNOWN[key] = (weakref.ref(policy, functools.partial(_forget, key)), constants)
    return constants


def _forget(key: int, _: weakref.ref[Policy]) -> None:
    found = _KNOWN.get(key)
    if found is not None and found[0]() is None:  # not a newer policy's entry under that id
        del _KNOWN[key]
