"""Orchestration policies: policy documents (YAML + CEL) and the pure ``decide()``.

Pure: imports only the standard library, pydantic, PyYAML and cel-python, does no I/O and
never reads the clock (``now`` is passed in). The orchestrator gathers an ``OrderToRoute`` and
its ``CandidateSource`` values, picks a policy with ``select_policy``, and calls ``decide``.
"""

from orchestration_policies.cel import CelError, ConditionError
from orchestration_policies.decide import decide
from orchestration_policies.decision import (
    CandidateExplanation,
    CandidateStatus,
    Decision,
    Explanation,
    Hold,
    PlanExplanation,
    PlanStrategy,
    SearchMode,
    ShipmentDetail,
    ShipmentLine,
    SplitOverflow,
    UnallocatedLine,
    UnallocatedReason,
)
from orchestration_policies.explain import explain_text
from orchestration_policies.geo import haversine_km
from orchestration_policies.inputs import (
    AttributeValue,
    CandidateSource,
    CostModel,
    DeliveryMethod,
    LineToRoute,
    OrderToRoute,
    SourceKind,
    StockLevel,
)
from orchestration_policies.loading import (
    PolicyError,
    Problem,
    default_policy,
    load_policy,
    validate_policy,
)
from orchestration_policies.policy import (
    CRITERIA,
    AllocationRule,
    AppliesTo,
    BackorderMode,
    EligibilityRule,
    HoldRule,
    OverSplitLimit,
    Policy,
    Ranking,
    RankingWeights,
    SplitRules,
)
from orchestration_policies.selection import policy_applies, select_policy

__all__ = [
    "CRITERIA",
    "AllocationRule",
    "AppliesTo",
    "AttributeValue",
    "BackorderMode",
    "CandidateExplanation",
    "CandidateSource",
    "CandidateStatus",
    "CelError",
    "ConditionError",
    "CostModel",
    "Decision",
    "DeliveryMethod",
    "EligibilityRule",
    "Explanation",
    "Hold",
    "HoldRule",
    "LineToRoute",
    "OrderToRoute",
    "OverSplitLimit",
    "PlanExplanation",
    "PlanStrategy",
    "Policy",
    "PolicyError",
    "Problem",
    "Ranking",
    "RankingWeights",
    "SearchMode",
    "ShipmentDetail",
    "ShipmentLine",
    "SourceKind",
    "SplitOverflow",
    "SplitRules",
    "StockLevel",
    "UnallocatedLine",
    "UnallocatedReason",
    "decide",
    "default_policy",
    "explain_text",
    "haversine_km",
    "load_policy",
    "policy_applies",
    "select_policy",
    "validate_policy",
]
