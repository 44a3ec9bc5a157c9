"""CEL conditions for policies: the values they see, their analysis, compiled conditions.

Never Python ``eval``: expressions are parsed and interpreted by cel-python. See
:mod:`orchestration_policies.cel.values` for the fields a condition can use.
"""

from orchestration_policies.cel.condition import BoundCondition, Condition, compile_condition
from orchestration_policies.cel.errors import CelError, ConditionError, Scope
from orchestration_policies.cel.values import OrderFacts

__all__ = [
    "BoundCondition",
    "CelError",
    "Condition",
    "ConditionError",
    "OrderFacts",
    "Scope",
    "compile_condition",
]
