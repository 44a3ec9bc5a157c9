"""The pure orchestration decision: holds, eligibility, scoring, allocation, plan, backorders.

Steps: hold rules (first match holds the order); one pass over the candidates (exclusions,
usable stock after demand-class reservations; see :mod:`candidates`); ranking (see
:mod:`scoring`); the shipment plan (see :mod:`planning`); shortfalls with reasons; the policy's
backorder behaviour; the decision with its explanation.
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass, replace
from datetime import datetime
from types import MappingProxyType

from orchestration_policies.candidates import Gathered, gather
from orchestration_policies.cel import ConditionError, OrderFacts
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
from orchestration_policies.inputs import CandidateSource, OrderToRoute
from orchestration_policies.planning import Option, Plan, plan_shipments
from orchestration_policies.policy import CRITERIA, BackorderMode, OverSplitLimit, Policy
from orchestration_policies.policy_constants import constants_of
from orchestration_policies.scoring import Bounds, bounds_of, weighted_totals
from orchestration_policies.split_limit import overflow_of, overflow_summary, ship_rest

__all__ = ["OVER_SPLIT_LIMIT", "decide"]

_R = UnallocatedReason
# Lines stock could ship, refused only because they would take more shipments than allowed.
_OVER_LIMIT = frozenset({_R.SPLIT_NOT_ALLOWED, _R.MAX_SHIPMENTS_REACHED})
OVER_SPLIT_LIMIT = "over_split_limit"  # the hold rule named when a person must decide
_SCORED = CandidateStatus.SCORED
_new_tuple = _new_explanation = tuple.__new__  # NamedTuples without their Python __new__


def decide(
    order: OrderToRoute,
    candidates: Sequence[CandidateSource],
    policy: Policy,
    now: datetime,
    *,
    explain: bool = True,
) -> Decision:
    """Route ``order`` over ``candidates`` under ``policy``; deterministic for equal inputs.

    ``explain`` False: the same decision, its explanation without candidates (for what-if).
    """
    if now.utcoffset() is None:
        raise ValueError("now must be timezone-aware")
    constants = constants_of(policy)
    weights, penalty = constants.weights, constants.penalty
    # What conditions see of the order, built only for a policy that has conditions.
    facts = OrderFacts(order, now) if policy.holds or policy.eligibility else None
    hold = _hold_before_routing(policy, facts) if facts is not None else None
    if hold is not None:
        return _held_before_routing(order, policy, now, weights, penalty, hold)

    demand: dict[str, int] = {}
    for line in order.lines:
        demand[line.sku] = demand.get(line.sku, 0) + line.quantity
    checks = [] if facts is None else [(r, r.compiled.bind(facts)) for r in policy.eligibility]
    units = sum(demand.values())
    found = gather(order, candidates, policy, demand, checks, units, explain)
    options = found.options
    bounds, raws = _rank(options, weights)
    planned = _plan(order, policy, found, demand, penalty)
    outcome = _Outcome.of(policy, planned)
    shipments, details = _shipments(order, planned.plan) if outcome.ship else ({}, [])
    explanation = Explanation(
        criteria=CRITERIA,
        weights=weights,
        bounds=bounds,
        split_penalty=penalty,
        candidates=_candidate_rows(options, raws, found) if explain else (),
        plan=_plan_explanation(planned.plan, units),
        tie_breaks=planned.plan.tie_breaks,
        condition_errors=tuple(found.errors),
    )
    return Decision(
        order_id=order.order_id,
        policy_id=policy.id,
        policy_version=policy.version,
        decided_at=now,
        shipments=MappingProxyType(shipments),
        shipment_details=tuple(details),
        unallocated=outcome.unallocated,
        backordered=outcome.backordered,
        held=outcome.held,
        rejected=outcome.rejected,
        explanation=explanation,
        over_split_limit=planned.overflow,
        live_shipments=tuple(sorted(order.live_shipment_sources)),
    )


def _candidate_rows(
    options: list[Option], raws: list[tuple[float | None, ...]], found: Gathered
) -> tuple[CandidateExplanation, ...]:
    scored = [
        _new_explanation(
            CandidateExplanation,
            (
                o.source.source_id,
                _SCORED,
                None,
                None,
                raw,
                o.score,
                o.rank + 1,
                tuple(o.usable.items()),  # in order-line order: stable across runs
            ),
        )
        for o, raw in zip(options, raws, strict=True)
    ]
    # Explanation tuples start with source_id (unique), so their natural order is by id.
    return (*scored, *sorted(found.no_stock), *sorted(found.excluded))


def _hold_before_routing(policy: Policy, facts: OrderFacts) -> Hold | None:
    """The first hold rule the order meets (or cannot be checked against), if any."""
    for hold_rule in policy.holds:
        try:
            hit = hold_rule.compiled.evaluate(facts)
        except ConditionError as error:
            # Failing safe: an order whose hold rule cannot be checked waits for a person.
            return Hold(hold_rule.name, f"hold condition could not be evaluated: {error.message}")
        if hit:
            return Hold(hold_rule.name, hold_rule.reason)
    return None


@dataclass(frozen=True, slots=True)
class _Planned:
    """The shipment plan, the lines it leaves out, and those left out by the split limit."""

    plan: Plan
    missing: list[UnallocatedLine]
    over: list[UnallocatedLine]
    overflow: SplitOverflow | None


def _plan(
    order: OrderToRoute, policy: Policy, found: Gathered, demand: dict[str, int], penalty: float
) -> _Planned:
    options = found.options
    split = policy.split
    limit = split.effective_max_shipments
    live = order.live_shipment_sources
    plan = plan_shipments(
        order.lines,
        options,
        max_shipments=max(0, limit - len(live)),
        ship_complete=split.ship_complete,
        split_lines=split.lines,
        split_penalty=penalty,
    )
    if live:
        plan = plan._replace(
            summary=f"the order already has {len(live)} live shipment(s) of the {limit} the "
            f"policy allows; {plan.summary}"
        )
    missing = _shortfalls(order, policy, plan.shipments, found, demand, len(live))
    over = [m for m in missing if m.reason in _OVER_LIMIT]
    if not over:
        return _Planned(plan, missing, over, None)
    handling = policy.over_split_limit
    overflow = overflow_of(handling, limit, len(live), over, plan, options, order)
    if handling is OverSplitLimit.SHIP_REST:
        plan = ship_rest(plan, options, order, policy, penalty)
        missing = _shortfalls(order, policy, plan.shipments, found, demand, len(live))
        over = []  # what the extra shipments could not take waits like any shortage
    return _Planned(plan, missing, over, overflow)


@dataclass(frozen=True, slots=True)
class _Outcome:
    """Ship, hold or reject, and which lines wait (backordered) or are given up (unallocated)."""

    held: Hold | None
    rejected: str | None
    unallocated: tuple[UnallocatedLine, ...]
    backordered: tuple[UnallocatedLine, ...]
    ship: bool

    @classmethod
    def of(cls, policy: Policy, planned: _Planned) -> _Outcome:
        missing, over = planned.missing, planned.over
        shortage = [m for m in missing if m not in over]
        outcome = cls(None, None, tuple(over), (), ship=True)
        if shortage:
            outcome = outcome._with_shortage(policy.backorder, missing, shortage)
        if over and planned.overflow is not None and outcome.rejected is None:
            outcome = outcome._over_limit(policy.over_split_limit, planned.overflow)
        return outcome

    def _with_shortage(
        self,
        mode: BackorderMode,
        missing: list[UnallocatedLine],
        shortage: list[UnallocatedLine],
    ) -> _Outcome:
        if mode is BackorderMode.ALLOW:
            # Waiting for stock cannot help a line that no source may ship at all.
            never = tuple(m for m in shortage if m.reason is _R.NO_ELIGIBLE_SOURCE)
            waiting = tuple(m for m in shortage if m.reason is not _R.NO_ELIGIBLE_SOURCE)
            return replace(self, unallocated=self.unallocated + never, backordered=waiting)
        summary = _missing_summary(shortage)
        if mode is BackorderMode.HOLD:
            held = Hold("backorder", f"{summary}; the policy holds orders it cannot fill")
            return replace(self, held=held, unallocated=tuple(missing), ship=False)
        rejected = f"{summary}; the policy rejects orders it cannot fill"
        return replace(self, rejected=rejected, unallocated=tuple(missing), ship=False)

    def _over_limit(self, handling: OverSplitLimit, overflow: SplitOverflow) -> _Outcome:
        summary = overflow_summary(overflow)
        if handling is OverSplitLimit.REJECT:
            return replace(
                self, held=None, rejected=f"{summary}; the policy rejects such orders", ship=False
            )
        if self.held is None:
            return replace(
                self, held=Hold(OVER_SPLIT_LIMIT, f"{summary}; a person decides"), ship=False
            )
        return replace(self, ship=False)


def _shipments(
    order: OrderToRoute, plan: Plan
) -> tuple[dict[str, tuple[ShipmentLine, ...]], list[ShipmentDetail]]:
    """The planned shipments, by source, with what each costs and how far it travels."""
    shipments: dict[str, tuple[ShipmentLine, ...]] = {}
    details: list[ShipmentDetail] = []
    ordered = order.lines
    for option, taken in sorted(plan.shipments, key=_by_source_id):
        src, distance = option.source, option.distance_km
        lines = [
            _new_tuple(ShipmentLine, (ordered[i].line_id, ordered[i].sku, q)) for i, q in taken
        ]
        units = sum(q for _, q in taken)
        shipments[src.source_id] = tuple(lines)
        cost = src.cost.shipping_cost(units, distance)
        detail = (src.source_id, units, cost, src.cost.currency, distance, src.lead_time_days)
        details.append(_new_tuple(ShipmentDetail, (*detail, option.score)))
    return shipments, details


def _by_source_id(shipment: tuple[Option, tuple[tuple[int, int], ...]]) -> str:
    return shipment[0].source.source_id


def _rank(
    options: list[Option], weights: tuple[float, ...]
) -> tuple[tuple[Bounds, ...], list[tuple[float | None, ...]]]:
    """Score ``options`` and sort them in place into ranking order.

    Ranking order is score, then priority (higher first), then source_id. Returns the bounds
    of each criterion and the raw values per option, in ranking order.
    """
    if not options:
        return (None,) * len(CRITERIA), []
    raws = [o.raw for o in options]
    columns: list[Sequence[float | None]] = list(zip(*raws, strict=True))
    bounds = tuple(map(bounds_of, columns))
    totals = weighted_totals(columns, bounds, weights)
    priority = columns[CRITERIA.index("source_priority")]
    # Exact float comparison: equal inputs give bit-identical totals, so real ties are caught.
    keys = sorted(
        zip(
            totals,
            [-p for p in priority],  # type: ignore[operator]
            [o.source.source_id for o in options],
            range(len(options)),
            strict=True,
        )
    )
    ranked: list[Option] = []
    for rank, (total, _, _, i) in enumerate(keys):
        option = options[i]
        option.score = total
        option.rank = rank
        ranked.append(option)
    options[:] = ranked
    return bounds, [o.raw for o in ranked]


def _shortfalls(
    order: OrderToRoute,
    policy: Policy,
    shipments: Sequence[tuple[Option, tuple[tuple[int, int], ...]]],
    found: Gathered,
    demand: dict[str, int],
    live: int,
) -> list[UnallocatedLine]:
    """Lines (or parts of lines) the plan does not ship, each with the reason why."""
    shipped: dict[int, int] = {}
    for _, taken in shipments:
        for index, qty in taken:
            shipped[index] = shipped.get(index, 0) + qty
    short = [
        (index, line, line.quantity - shipped.get(index, 0))
        for index, line in enumerate(order.lines)
        if line.quantity > shipped.get(index, 0)
    ]
    if not short:
        return []
    split = policy.split
    missing: list[UnallocatedLine] = []
    for _, line, remaining in short:
        sku = line.sku
        if not found.any_eligible:
            reason = _R.NO_ELIGIBLE_SOURCE
        elif split.ship_complete and not shipments:
            reason = _R.SHIP_COMPLETE_NOT_POSSIBLE
        else:
            usable = [o.usable.get(sku, 0) for o in found.options]
            if sum(usable) < demand[sku]:
                available = sum(s.stock[sku].available for s in found.passed if sku in s.stock)
                reason = _stock_shortage(available, sum(usable), demand[sku])
            elif split.effective_max_shipments == 1 and not live:
                reason = _R.SPLIT_NOT_ALLOWED
            elif not split.lines and max(usable, default=0) < line.quantity:
                reason = _R.LINE_SPLIT_NOT_ALLOWED
            else:
                reason = _R.MAX_SHIPMENTS_REACHED
        missing.append(UnallocatedLine(line.line_id, sku, remaining, reason))
    return missing


def _stock_shortage(available: int, usable: int, wanted: int) -> UnallocatedReason:
    """Why eligible sources together hold too little of a SKU for this order."""
    if available >= wanted:
        return _R.RESERVED_FOR_OTHER_DEMAND_CLASS  # there is enough, but it is kept for others
    if usable == 0 and available == 0:
        return _R.NO_STOCK
    return _R.INSUFFICIENT_STOCK


def _missing_summary(missing: Sequence[UnallocatedLine]) -> str:
    reasons = sorted({str(m.reason) for m in missing})
    return f"{len(missing)} line(s) cannot be allocated now ({', '.join(reasons)})"


def _plan_explanation(plan: Plan, units_ordered: int) -> PlanExplanation:
    return PlanExplanation(
        strategy=plan.strategy,
        search=plan.search,
        summary=plan.summary,
        alternatives_considered=plan.considered,
        objective=plan.objective,
        units_planned=plan.units,
        units_ordered=units_ordered,
        proposed_sources=tuple(sorted(o.source.source_id for o, _ in plan.shipments)),
    )


def _held_before_routing(
    order: OrderToRoute,
    policy: Policy,
    now: datetime,
    weights: tuple[float, ...],
    penalty: float,
    hold: Hold,
) -> Decision:
    plan = PlanExplanation(
        strategy=PlanStrategy.NONE,
        search=SearchMode.NONE,
        summary=f"held by rule {hold.rule} before any source was considered",
        alternatives_considered=0,
        objective=None,
        units_planned=0,
        units_ordered=order.units,
        proposed_sources=(),
    )
    return Decision(
        order_id=order.order_id,
        policy_id=policy.id,
        policy_version=policy.version,
        decided_at=now,
        shipments=MappingProxyType({}),
        shipment_details=(),
        unallocated=(),
        backordered=(),
        held=hold,
        rejected=None,
        explanation=Explanation(CRITERIA, weights, (None,) * len(CRITERIA), penalty, (), plan),
    )
