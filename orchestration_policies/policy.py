"""The policy document: frozen pydantic models, CEL checked as the document is validated.

A ``Policy`` that exists is a usable policy: every condition has been parsed, its names checked
and its types tried against a sample order (and source), so ``decide()`` never meets a syntax
error. Unknown fields are rejected everywhere (a misspelt ``max_shipment`` must not silently
fall back to a default).
"""

from __future__ import annotations

from decimal import Decimal
from enum import StrEnum
from typing import Annotated

from pydantic import AfterValidator, BaseModel, ConfigDict, Field, StrictBool, model_validator
from pydantic_core import PydanticCustomError

from orchestration_policies.cel import CelError, Condition, Scope, compile_condition
from orchestration_policies.inputs import DeliveryMethod

__all__ = [
    "CRITERIA",
    "RESERVED_RULE_NAMES",
    "AllocationRule",
    "AppliesTo",
    "BackorderMode",
    "EligibilityRule",
    "HoldRule",
    "OverSplitLimit",
    "Policy",
    "Ranking",
    "RankingWeights",
    "SplitRules",
]

# Criteria in the order they are reported; the explanation and the JSON follow it.
CRITERIA: tuple[str, ...] = (
    "distance_km",
    "shipping_cost",
    "lead_time_days",
    "capacity_left",
    "source_priority",
    "stock_depth",
)

# Names decide() uses for its own exclusions; a policy rule may not reuse them, so an
# explanation's rule name always points at exactly one thing.
RESERVED_RULE_NAMES = frozenset(
    {
        "inactive",
        "excluded_by_policy",
        "does_not_ship_to_country",
        "delivery_method_not_supported",
        "demand_class_not_served",
        "no_capacity_left",
        "cost_currency_mismatch",
        "backorder",
        "over_split_limit",
    }
)


def _cel_checked(scope: Scope) -> AfterValidator:
    def check(text: str) -> str:
        try:
            compile_condition(text, scope)
        except CelError as error:
            where = (
                f" at line {error.line}, column {error.column}" if error.line is not None else ""
            )
            raise PydanticCustomError(
                f"cel_{error.kind}",
                "CEL {kind} error{where}: {detail}",
                {
                    "kind": error.kind,
                    "where": where,
                    "detail": error.message,
                    "expression": text,
                    "line": error.line,
                    "column": error.column,
                },
            ) from None
        return text

    return AfterValidator(check)


OrderCondition = Annotated[str, _cel_checked(Scope.ORDER)]
SourceCondition = Annotated[str, _cel_checked(Scope.SOURCE)]
Name = Annotated[str, Field(pattern=r"^[A-Za-z0-9][A-Za-z0-9_.\-]*$", max_length=100)]
CountryCode = Annotated[str, Field(pattern=r"^[A-Z]{2}$")]
# strict: YAML's "1.5" (a string) or yes (a bool) is a mistake, not a weight.
Weight = Annotated[float, Field(ge=0, strict=True, allow_inf_nan=False)]


class _Document(BaseModel):
    model_config = ConfigDict(extra="forbid", frozen=True)


class BackorderMode(StrEnum):
    """What happens to lines no source can ship now."""

    ALLOW = "allow"  # ship what can ship, backorder the rest
    HOLD = "hold"  # hold the whole order for a person to decide
    REJECT = "reject"  # reject the order


class OverSplitLimit(StrEnum):
    """What happens to lines that stock could ship, but only in more shipments than allowed.

    The limit (``split.max_shipments``, or one shipment when splitting is not allowed) counts
    the order's live shipments over its whole life, so lines routed again later (after a
    backorder or a rejection) fit in what is left of it.
    """

    HOLD = "hold"  # hold the order for a person, with the sources that could ship those lines
    SHIP_REST = "ship_rest_from_next_best"  # extra shipments beyond the limit
    REJECT = "reject"  # the order is not routed (unroutable, with the reason)


class AppliesTo(_Document):
    """Which orders the policy is for; an empty list means any."""

    channels: tuple[str, ...] = ()
    countries: tuple[CountryCode, ...] = ()
    demand_classes: tuple[str, ...] = ()
    delivery_methods: tuple[DeliveryMethod, ...] = ()
    condition: OrderCondition | None = None
    priority: int = 0  # the highest applicable priority wins when several policies apply

    @property
    def compiled(self) -> Condition | None:
        return None if self.condition is None else compile_condition(self.condition, Scope.ORDER)


class HoldRule(_Document):
    name: Name
    condition: OrderCondition
    reason: str = Field(min_length=1)

    @property
    def compiled(self) -> Condition:
        return compile_condition(self.condition, Scope.ORDER)


class EligibilityRule(_Document):
    """A source passes when ``condition`` is true; otherwise it is excluded under ``name``."""

    name: Name
    condition: SourceCondition
    description: str = ""

    @property
    def compiled(self) -> Condition:
        return compile_condition(self.condition, Scope.SOURCE)


class RankingWeights(_Document):
    """Weight of each criterion; each criterion is normalised to 0..1 first."""

    distance_km: Weight = 1.0
    shipping_cost: Weight = 1.0
    lead_time_days: Weight = 0.5
    capacity_left: Weight = 0.0
    source_priority: Weight = 0.0
    stock_depth: Weight = 0.0

    def as_tuple(self) -> tuple[float, ...]:
        return tuple(float(getattr(self, name)) for name in CRITERIA)


class Ranking(_Document):
    weights: RankingWeights = RankingWeights()


class SplitRules(_Document):
    allowed: StrictBool = True
    max_shipments: int = Field(default=3, ge=1, le=20)
    ship_complete: StrictBool = False
    split_penalty: Weight = 0.5
    lines: StrictBool = False  # may one line's quantity come from several sources?

    @property
    def effective_max_shipments(self) -> int:
        return 1 if (not self.allowed or self.ship_complete) else self.max_shipments


class AllocationRule(_Document):
    """Stock kept for a demand class at every source: max(units, ceil(share x on_hand))."""

    demand_class: str = Field(min_length=1)
    units: int | None = Field(default=None, ge=0)
    share: Decimal | None = Field(default=None, ge=0, le=1)

    @model_validator(mode="after")
    def _needs_units_or_share(self) -> AllocationRule:
        if self.units is None and self.share is None:
            raise ValueError("give units, share or both")
        return self

    def reserved_units(self, on_hand: int) -> int:
        units = self.units or 0
        if self.share is None:
            return units
        numerator, denominator = self.share.as_integer_ratio()
        return max(units, -(-numerator * on_hand // denominator))


class Policy(_Document):
    id: Name
    version: int = Field(ge=1)
    name: str = Field(min_length=1)
    description: str = ""
    applies_to: AppliesTo = AppliesTo()
    holds: tuple[HoldRule, ...] = ()
    eligibility: tuple[EligibilityRule, ...] = ()
    excluded_sources: tuple[str, ...] = ()
    ranking: Ranking = Ranking()
    split: SplitRules = SplitRules()
    backorder: BackorderMode = BackorderMode.ALLOW
    over_split_limit: OverSplitLimit = OverSplitLimit.HOLD
    allocation: tuple[AllocationRule, ...] = ()

    @model_validator(mode="after")
    def _names_are_unique(self) -> Policy:
        problems: list[str] = []
        for label, names in (
            ("hold", [h.name for h in self.holds]),
            ("eligibility rule", [e.name for e in self.eligibility]),
            ("allocation demand_class", [a.demand_class for a in self.allocation]),
        ):
            duplicates = sorted({n for n in names if names.count(n) > 1})
            if duplicates:
                problems.append(f"duplicate {label} name(s): {', '.join(duplicates)}")
        clashes = sorted(RESERVED_RULE_NAMES & {e.name for e in self.eligibility})
        if clashes:
            problems.append(f"eligibility rule name(s) reserved by decide(): {', '.join(clashes)}")
        if problems:
            raise ValueError("; ".join(problems))
        return self
