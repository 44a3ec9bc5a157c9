"""What a what-if run reports: the live and the draft policy side by side, per channel.

Pure arithmetic over decisions, live ones as recorded (``Decision.to_dict`` shape) and draft
ones as ``decide()`` returned them. Outcomes are named as the decision history names them:
routed (one shipment, nothing waits), split, backordered, held, unroutable.
"""

from __future__ import annotations

from collections.abc import Iterable, Sequence
from dataclasses import dataclass, field
from datetime import datetime, timedelta
from decimal import Decimal
from typing import Any, NamedTuple

from orchestration_policies.promise import TRANSIT_DAYS
from schemas.decision_record import DecisionRecord

__all__ = [
    "OUTCOMES",
    "ChangedDecision",
    "Comparison",
    "LiveFacts",
    "Shipped",
    "SideTotals",
    "WhatIfReport",
    "live_facts",
    "outcome_of",
    "promise_missed",
    "record_outcome",
    "recorded_shipments",
    "shipped_of_record",
]

OUTCOMES = ("routed", "split", "backordered", "held", "unroutable")
# The report's measures as people read them, in the order the CLI and the console show them.
MEASURES = (
    ("Routed (one shipment)", "routed"),
    ("Split", "split"),
    ("Backordered", "backordered"),
    ("Held", "held"),
    ("Unroutable", "unroutable"),
    ("Shipments", "shipments"),
    ("Shipments per order", "shipments_per_order"),
    ("Mean distance (km)", "mean_distance_km"),
    ("Shipping cost", "cost"),
    ("Promised-date misses", "promise_misses"),
)


class Shipped(NamedTuple):
    """One shipment of a decision, as the report counts it (a tuple: several per decision)."""

    source_id: str
    cost: Decimal
    currency: str
    distance_km: float | None
    lead_time_days: int


def outcome_of(
    shipments: int,
    backordered: Iterable[str],
    unallocated: Iterable[str],
    held: bool,
    rejected: bool,
) -> str:
    """The decision history's outcome, from a decision's parts (line ids for the lines)."""
    if held:
        return "held"
    waiting = set(backordered)
    if rejected or any(line_id not in waiting for line_id in unallocated):
        return "unroutable"
    if waiting:
        return "backordered"
    if shipments == 0:
        return "unroutable"
    return "split" if shipments > 1 else "routed"


def promise_missed(
    decided_at: datetime,
    delivery_method: str,
    promised_by: datetime | None,
    shipped: Sequence[Shipped],
) -> bool | None:
    """Would the slowest shipment arrive after the channel's promise? None: nothing to check."""
    if promised_by is None or not shipped:
        return None
    transit = TRANSIT_DAYS.get(delivery_method, TRANSIT_DAYS["standard"])
    slowest = max(s.lead_time_days for s in shipped)
    return decided_at + timedelta(days=slowest + transit) > promised_by


@dataclass(slots=True)
class SideTotals:
    """One policy's figures over a set of decisions."""

    decisions: int = 0
    outcomes: dict[str, int] = field(default_factory=lambda: dict.fromkeys(OUTCOMES, 0))
    shipments: int = 0
    distance_km: float = 0.0
    shipments_with_distance: int = 0
    cost: dict[str, Decimal] = field(default_factory=dict)
    promises_checked: int = 0
    promise_misses: int = 0

    def add(self, outcome: str, shipped: Sequence[Shipped], missed: bool | None) -> None:
        self.decisions += 1
        self.outcomes[outcome] += 1
        self.shipments += len(shipped)
        for s in shipped:
            if s.distance_km is not None:
                self.distance_km += s.distance_km
                self.shipments_with_distance += 1
            self.cost[s.currency] = self.cost.get(s.currency, Decimal(0)) + s.cost
        if missed is not None:
            self.promises_checked += 1
            self.promise_misses += missed

    def to_dict(self, orders: int) -> dict[str, Any]:
        known = self.shipments_with_distance
        return {
            "decisions": self.decisions,
            **self.outcomes,
            "shipments": self.shipments,
            "shipments_per_order": round(self.shipments / orders, 4) if orders else None,
            "mean_distance_km": round(self.distance_km / known, 3) if known else None,
            "cost": {currency: str(amount) for currency, amount in sorted(self.cost.items())},
            "promises_checked": self.promises_checked,
            "promise_misses": self.promise_misses,
        }


@dataclass(slots=True)
class Comparison:
    """Live beside draft over the same decisions (and the orders they belong to)."""

    live: SideTotals = field(default_factory=SideTotals)
    draft: SideTotals = field(default_factory=SideTotals)
    order_ids: set[str] = field(default_factory=set)
    changed: int = 0

    def to_dict(self) -> dict[str, Any]:
        orders = len(self.order_ids)
        return {
            "orders": orders,
            "changed": self.changed,
            "live": self.live.to_dict(orders),
            "draft": self.draft.to_dict(orders),
        }


@dataclass(frozen=True, slots=True)
class ChangedDecision:
    """A decision the draft takes differently, with both explanations in words."""

    order_id: str
    n: int
    channel: str
    decided_at: datetime
    live_outcome: str
    draft_outcome: str
    live_sources: tuple[str, ...]
    draft_sources: tuple[str, ...]
    live_explanation: str
    draft_explanation: str

    def to_dict(self) -> dict[str, Any]:
        return {
            "order_id": self.order_id,
            "n": self.n,
            "channel": self.channel,
            "decided_at": self.decided_at.isoformat(),
            "live": {
                "outcome": self.live_outcome,
                "sources": list(self.live_sources),
                "explanation": self.live_explanation,
            },
            "draft": {
                "outcome": self.draft_outcome,
                "sources": list(self.draft_sources),
                "explanation": self.draft_explanation,
            },
        }


@dataclass(slots=True)
class WhatIfReport:
    """The whole comparison; ``changes`` lists at most the first ``changes_kept`` changes."""

    policy_id: str
    policy_version: int
    decisions: int = 0  # recorded decisions read (the window's, in its channel if given)
    redecided: int = 0
    skipped: int = 0  # inputs not recorded: they stand as recorded in both worlds
    out_of_scope: int = 0  # the draft does not apply to the order: it stands as recorded
    condition_failures: int = 0  # draft decisions where a condition could not be evaluated
    total: Comparison = field(default_factory=Comparison)
    by_channel: dict[str, Comparison] = field(default_factory=dict)
    changes: list[ChangedDecision] = field(default_factory=list)
    changes_kept: int = 100

    def channel(self, name: str) -> Comparison:
        found = self.by_channel.get(name)
        if found is None:
            found = self.by_channel[name] = Comparison()
        return found

    def to_dict(self) -> dict[str, Any]:
        return {
            "policy": {"id": self.policy_id, "version": self.policy_version},
            "decisions": self.decisions,
            "redecided": self.redecided,
            "skipped": self.skipped,
            "out_of_scope": self.out_of_scope,
            "condition_failures": self.condition_failures,
            "total": self.total.to_dict(),
            "by_channel": {name: c.to_dict() for name, c in sorted(self.by_channel.items())},
            "changed": self.total.changed,
            "changes": [c.to_dict() for c in self.changes],
        }


def shipped_of_record(record: DecisionRecord) -> list[Shipped]:
    """A recorded decision's shipments (none when it held the order)."""
    if record.held is not None:
        return []
    return [
        Shipped(d.source_id, d.estimated_cost, d.currency, d.distance_km, d.lead_time_days)
        for d in record.shipment_details
    ]


class LiveFacts(NamedTuple):
    """What a what-if run reads of a recorded (live) decision, whatever the draft decides: a
    reader of a long log works them out beside the engine (``live_facts``)."""

    outcome: str
    shipped: list[Shipped]
    shipments: list[tuple[str, str, str, int]]  # (source_id, line_id, sku, quantity)


def live_facts(record: DecisionRecord) -> LiveFacts:
    return LiveFacts(record_outcome(record), shipped_of_record(record), recorded_shipments(record))


def recorded_shipments(record: DecisionRecord) -> list[tuple[str, str, str, int]]:
    """(source_id, line_id, sku, quantity) of each line the recorded decision shipped."""
    if record.held is not None:
        return []
    return [
        (source_id, line.line_id, line.sku, line.quantity)
        for source_id, lines in record.shipments.items()
        for line in lines
    ]


def record_outcome(record: DecisionRecord) -> str:
    return outcome_of(
        0 if record.held is not None else len(record.shipments),
        (b.line_id for b in record.backordered),
        (u.line_id for u in record.unallocated),
        record.held is not None,
        bool(record.rejected),
    )
