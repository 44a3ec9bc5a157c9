"""What ``decide()`` returns: an immutable decision with its full explanation.

The canonical JSON (:meth:`Decision.to_json`) is what gets recorded with ``OrderRouted``: keys
sorted, no insignificant whitespace, Decimals as strings, scores rounded to 6 decimals. Same
inputs give byte-identical JSON, so :meth:`Decision.digest` can prove a replay matches.
"""

from __future__ import annotations

import hashlib
from collections.abc import Mapping
from dataclasses import dataclass
from datetime import datetime
from decimal import Decimal
from enum import StrEnum
from typing import Any, NamedTuple, cast

from orchestration_policies.canonical import canonical_json, rounded, rounded_all
from orchestration_policies.decision_figures import Figures
from orchestration_policies.scoring import HIGHER_IS_BETTER, Bounds, normalised_value

__all__ = [
    "CandidateExplanation",
    "CandidateStatus",
    "CriterionScore",
    "Decision",
    "Explanation",
    "Hold",
    "PlanExplanation",
    "PlanStrategy",
    "SearchMode",
    "ShipmentDetail",
    "ShipmentLine",
    "SplitOverflow",
    "UnallocatedLine",
    "UnallocatedReason",
]


class UnallocatedReason(StrEnum):
    NO_ELIGIBLE_SOURCE = "no_eligible_source"
    NO_STOCK = "no_stock"
    RESERVED_FOR_OTHER_DEMAND_CLASS = "reserved_for_other_demand_class"
    INSUFFICIENT_STOCK = "insufficient_stock"
    SHIP_COMPLETE_NOT_POSSIBLE = "ship_complete_not_possible"
    SPLIT_NOT_ALLOWED = "split_not_allowed"
    LINE_SPLIT_NOT_ALLOWED = "line_split_not_allowed"
    MAX_SHIPMENTS_REACHED = "max_shipments_reached"


class CandidateStatus(StrEnum):
    EXCLUDED = "excluded"  # failed an eligibility rule
    NO_STOCK = "no_stock"  # eligible, but has none of the ordered SKUs it may use
    SCORED = "scored"


class PlanStrategy(StrEnum):
    SINGLE_SOURCE = "single_source"
    SPLIT = "split"
    PARTIAL_SINGLE_SOURCE = "partial_single_source"
    NONE = "none"


class SearchMode(StrEnum):
    NONE = "none"
    SINGLE_SOURCE = "single_source"  # one source could ship everything; no split searched
    EXACT = "exact"
    HEURISTIC = "heuristic"


class ShipmentLine(NamedTuple):
    line_id: str
    sku: str
    quantity: int


class UnallocatedLine(NamedTuple):
    line_id: str
    sku: str
    quantity: int
    reason: UnallocatedReason


class Hold(NamedTuple):
    rule: str
    reason: str


class SplitOverflow(NamedTuple):
    """Lines that stock could ship, but only in more shipments than the policy allows."""

    handling: str  # the policy's over_split_limit: hold | ship_rest_from_next_best | reject
    limit: int  # shipments the policy allows over the order's life
    live_before: int  # live shipments the order already had when this decision was taken
    lines: tuple[UnallocatedLine, ...]  # what did not fit, with the limit as the reason
    # line_id → the best-ranked sources (up to three) that could ship that line alone
    alternatives: tuple[tuple[str, tuple[str, ...]], ...]


class ShipmentDetail(NamedTuple):
    source_id: str
    units: int
    estimated_cost: Decimal
    currency: str
    distance_km: float | None
    lead_time_days: int
    score: float


class CandidateExplanation(NamedTuple):
    """One candidate: why it was excluded, or how it scored (criteria in ``CRITERIA`` order).

    Normalised values and contributions are derived from ``raw`` and the explanation's bounds
    and weights (see :meth:`breakdown`) rather than stored, which keeps ``decide()`` cheap.
    """

    source_id: str
    status: CandidateStatus
    rule: str | None = None
    detail: str | None = None
    raw: tuple[float | None, ...] = ()
    total: float | None = None
    rank: int | None = None
    usable: tuple[tuple[str, int], ...] = ()

    def breakdown(self, explanation: Explanation) -> list[CriterionScore]:
        """Per criterion: raw value, normalised value, weight and contribution to the total."""
        rows = []
        for name, raw, bounds, weight, higher in zip(
            explanation.criteria,
            self.raw,
            explanation.bounds,
            explanation.weights,
            HIGHER_IS_BETTER,
            strict=True,
        ):
            norm = normalised_value(raw, bounds, higher)
            rows.append(CriterionScore(name, raw, norm, weight, weight * norm))
        return rows


class CriterionScore(NamedTuple):
    criterion: str
    raw: float | None
    normalised: float
    weight: float
    contribution: float


class PlanExplanation(NamedTuple):
    strategy: PlanStrategy
    search: SearchMode
    summary: str
    alternatives_considered: int
    objective: float | None
    units_planned: int
    units_ordered: int
    proposed_sources: tuple[str, ...]


@dataclass(frozen=True, slots=True)
class Explanation:
    criteria: tuple[str, ...]
    weights: tuple[float, ...]
    bounds: tuple[Bounds, ...]  # (min, max) of each criterion over the scored candidates
    split_penalty: float
    candidates: tuple[CandidateExplanation, ...]
    plan: PlanExplanation
    tie_breaks: tuple[str, ...] = ()
    condition_errors: tuple[str, ...] = ()


def _num(value: float | None) -> float | None:
    """Every number in the record as a float rounded to 6 decimals (ints too, for one form)."""
    if value is None:
        return None
    return rounded(float(value))


def _plain(value: object) -> Any:
    kind = value.__class__
    if kind is str or kind is int or value is None:  # most of a record's values: as they are
        return value
    if kind is float:
        return rounded(cast(float, value))
    if isinstance(value, Decimal):
        return str(value)
    if isinstance(value, float):
        return _num(value)
    if isinstance(value, datetime):
        return value.isoformat()
    if isinstance(value, StrEnum):
        return str(value)
    return value


def _candidate_dicts(explanation: Explanation) -> list[dict[str, Any]]:
    """Candidates as recorded: compact arrays in ``criteria`` order for the scored ones.

    A decision over hundreds of sources is recorded with every order, so the per-criterion
    figures are arrays (raw, normalised, contribution) rather than a mapping per criterion; the
    criterion names and weights are given once in the explanation.
    """
    candidates = explanation.candidates
    ranked = [c for c in candidates if c.status is not _EXCLUDED and c.status is not _NO_STOCK]
    figures = iter(Figures(explanation.bounds, explanation.weights).rows([c.raw for c in ranked]))
    totals = iter(rounded_all([float(c.total) for c in ranked if c.total is not None]))
    out: list[dict[str, Any]] = []
    for c in candidates:
        if c.status is not _EXCLUDED and c.status is not _NO_STOCK:
            raw, normalised, contribution = next(figures)
            row = {
                "source_id": c.source_id,
                "status": str(c.status),
                "rank": c.rank,
                "total": None if c.total is None else next(totals),
                "raw": raw,
                "normalised": normalised,
                "contribution": contribution,
                "usable": dict(c.usable),
            }
        elif c.status is _EXCLUDED:
            row = {
                "source_id": c.source_id,
                "status": str(c.status),
                "rule": c.rule,
                "detail": c.detail,
            }
        else:
            row = {
                "source_id": c.source_id,
                "status": str(c.status),
                "detail": c.detail,
                "usable": dict(c.usable),
            }
        out.append(row)
    return out


_EXCLUDED, _NO_STOCK = CandidateStatus.EXCLUDED, CandidateStatus.NO_STOCK
_PLAN_FIELDS = PlanExplanation._fields[:-1]  # the proposed sources: a list of texts, as they are


def _rows(rows: tuple[ShipmentDetail, ...] | tuple[UnallocatedLine, ...]) -> list[dict[str, Any]]:
    """NamedTuples as recorded: a mapping of their fields' plain values each (`_asdict`
    built a dict to be copied again)."""
    if not rows:  # most decisions leave no line behind
        return []
    return [dict(zip(row._fields, map(_plain, row), strict=True)) for row in rows]


def _plan(plan: PlanExplanation) -> dict[str, Any]:
    out = dict(zip(_PLAN_FIELDS, map(_plain, plan[:-1]), strict=True))
    out["proposed_sources"] = list(plan.proposed_sources)
    return out


# A policy's weights as recorded, by its criteria and weights: the same for every decision it
# takes (copied for each record, whose values are its own).
_WEIGHTS: dict[tuple[tuple[str, ...], tuple[float, ...]], dict[str, float | None]] = {}


def _weights(criteria: tuple[str, ...], weights: tuple[float, ...]) -> dict[str, float | None]:
    key = (criteria, weights)
    found = _WEIGHTS.get(key)
    if found is None:
        if len(_WEIGHTS) >= 256:
            _WEIGHTS.clear()
        found = _WEIGHTS[key] = {n: _num(w) for n, w in zip(criteria, weights, strict=True)}
    return dict(found)


def _normalisation(
    criteria: tuple[str, ...], bounds: tuple[Bounds, ...]
) -> dict[str, dict[str, Any]]:
    out: dict[str, dict[str, Any]] = {}
    for name, b, better in zip(criteria, bounds, _BETTER, strict=True):
        if b is None:
            out[name] = {"min": None, "max": None, "better": better}
        else:
            out[name] = {"min": _bound(b[0]), "max": _bound(b[1]), "better": better}
    return out


def _bound(value: float) -> float:
    """`_num(value)`: counts (most criteria) as floats straight, as below 1e6 their rounding
    is themselves."""
    if value.__class__ is int and -1_000_000 < value < 1_000_000:
        return float(value)
    return rounded(float(value))


_BETTER = tuple("higher" if higher else "lower" for higher in HIGHER_IS_BETTER)


@dataclass(frozen=True, slots=True)
class Decision:
    order_id: str
    policy_id: str
    policy_version: int
    decided_at: datetime
    shipments: Mapping[str, tuple[ShipmentLine, ...]]
    shipment_details: tuple[ShipmentDetail, ...]
    unallocated: tuple[UnallocatedLine, ...]
    backordered: tuple[UnallocatedLine, ...]
    held: Hold | None
    rejected: str | None
    explanation: Explanation
    # Set only when lines did not fit in the split limit; recorded only then, so decisions
    # without it keep the shape (and digest) they had before the field existed.
    over_split_limit: SplitOverflow | None = None
    live_shipments: tuple[str, ...] = ()  # sources of the order's earlier live shipments

    @property
    def routed(self) -> bool:
        """True when at least one shipment was decided (the order is neither held nor rejected)."""
        return bool(self.shipments)

    def shipped_quantity(self, line_id: str) -> int:
        return sum(
            line.quantity
            for lines in self.shipments.values()
            for line in lines
            if line.line_id == line_id
        )

    def to_dict(self) -> dict[str, Any]:
        e = self.explanation
        out = self._base_dict(e)
        if self.live_shipments:
            out["live_shipments"] = list(self.live_shipments)
        overflow = self.over_split_limit
        if overflow is not None:
            out["over_split_limit"] = {
                "handling": overflow.handling,
                "limit": overflow.limit,
                "live_before": overflow.live_before,
                "lines": [{k: _plain(v) for k, v in u._asdict().items()} for u in overflow.lines],
                "alternatives": {line_id: list(ids) for line_id, ids in overflow.alternatives},
            }
        return out

    def _base_dict(self, e: Explanation) -> dict[str, Any]:
        return {
            "order_id": self.order_id,
            "policy": {"id": self.policy_id, "version": self.policy_version},
            "decided_at": self.decided_at.isoformat(),
            "shipments": {
                source_id: [list(line) for line in lines]
                for source_id, lines in self.shipments.items()
            },
            "shipment_details": _rows(self.shipment_details),
            "unallocated": _rows(self.unallocated),
            "backordered": _rows(self.backordered),
            "held": None if self.held is None else self.held._asdict(),
            "rejected": self.rejected,
            "explanation": {
                "criteria": list(e.criteria),
                "weights": _weights(e.criteria, e.weights),
                "normalisation": _normalisation(e.criteria, e.bounds),
                "split_penalty": _num(e.split_penalty),
                "candidates": _candidate_dicts(e),
                "plan": _plan(e.plan),
                "tie_breaks": list(e.tie_breaks),
                "condition_errors": list(e.condition_errors),
            },
        }

    def to_json(self) -> str:
        """Canonical JSON: byte-identical for identical inputs."""
        return canonical_json(self.to_dict(), allow_nan=False).decode()

    def digest(self) -> str:
        """sha256 (hex) of :meth:`to_json`."""
        return hashlib.sha256(canonical_json(self.to_dict(), allow_nan=False)).hexdigest()
