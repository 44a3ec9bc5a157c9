"""The pure orchestration decision: holds, eligibility, scoring, allocation, plan, backorders."""

from __future__ import annotations

from collections.abc import Sequence
from datetime import datetime
from types import MappingProxyType

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
    UnallocatedLine,
    UnallocatedReason,
)
from orchestration_policies.eligibility import Reservations, builtin_exclusion, rule_exclusion
from orchestration_policies.geo import haversine_km
from orchestration_policies.inputs import CandidateSource, OrderToRoute
from orchestration_policies.planning import Option, Plan, plan_shipments
from orchestration_policies.policy import CRITERIA, BackorderMode, Policy
from orchestration_policies.scoring import normalise, raw_criteria

__all__ = ["decide"]

_R = UnallocatedReason


class _Eligible:
    __slots__ = ("distance", "source", "usable")

    def __init__(self, source: CandidateSource, distance: float | None, usable: dict[str, int]):
        self.source = source
        self.distance = distance
        self.usable = usable


def decide(
    order: OrderToRoute,
    candidates: Sequence[CandidateSource],
    policy: Policy,
    now: datetime,
) -> Decision:
    """Route ``order`` over ``candidates`` under ``policy``; deterministic for equal inputs."""
    if now.utcoffset() is None:
        raise ValueError("now must be timezone-aware")
    facts = OrderFacts(order, now)
    weights = policy.ranking.weights.as_tuple()
    penalty = float(policy.split.split_penalty)

    for hold_rule in policy.holds:
        try:
            hit = hold_rule.compiled.evaluate(facts)
        except ConditionError as error:
            # Failing safe: an order whose hold rule cannot be checked waits for a person.
            hold = Hold(hold_rule.name, f"hold condition could not be evaluated: {error.message}")
            return _held_before_routing(order, policy, now, weights, penalty, hold)
        if hit:
            return _held_before_routing(
                order, policy, now, weights, penalty, Hold(hold_rule.name, hold_rule.reason)
            )

    demand: dict[str, int] = {}
    for line in order.lines:
        demand[line.sku] = demand.get(line.sku, 0) + line.quantity
    reservations = Reservations(policy.allocation, order.demand_class)
    excluded_ids = frozenset(policy.excluded_sources)
    rules = policy.eligibility
    ship_lat, ship_lon = order.ship_to_lat, order.ship_to_lon

    seen: set[str] = set()
    explained: list[CandidateExplanation] = []
    errors: list[str] = []
    eligible: list[_Eligible] = []
    any_eligible = False
    available_any = dict.fromkeys(demand, 0)  # before demand-class reservations
    usable_any = dict.fromkeys(demand, 0)
    usable_max = dict.fromkeys(demand, 0)
    for source in candidates:
        sid = source.source_id
        if sid in seen:
            raise ValueError(f"duplicate candidate source {sid!r}")
        seen.add(sid)
        exclusion = builtin_exclusion(order, source, excluded_ids)
        distance: float | None = None
        if exclusion is None:
            if ship_lat is not None and ship_lon is not None:
                distance = haversine_km(ship_lat, ship_lon, source.lat, source.lon)
            if rules:
                exclusion = rule_exclusion(rules, facts, source, distance)
        if exclusion is not None:
            explained.append(
                CandidateExplanation(
                    sid, CandidateStatus.EXCLUDED, exclusion.rule, exclusion.detail
                )
            )
            if exclusion.error is not None:
                errors.append(f"eligibility rule {exclusion.rule} on {sid}: {exclusion.error}")
            continue
        any_eligible = True
        usable: dict[str, int] = {}
        stock = source.stock
        for sku in demand:
            level = stock.get(sku)
            if level is None:
                continue
            available = level.on_hand - level.reserved - level.safety_stock
            if available <= 0:
                continue
            available_any[sku] += available
            if reservations:
                available -= reservations.kept_for_others(level.on_hand)
                if available <= 0:
                    continue
            usable[sku] = available
            usable_any[sku] += available
            if available > usable_max[sku]:
                usable_max[sku] = available
        if usable:
            eligible.append(_Eligible(source, distance, usable))
        else:
            explained.append(
                CandidateExplanation(
                    sid,
                    CandidateStatus.NO_STOCK,
                    detail="none of the ordered SKUs available to this order",
                )
            )

    options, figures = _rank(order, eligible, weights)
    split = policy.split
    plan = plan_shipments(
        order.lines,
        options,
        max_shipments=split.effective_max_shipments,
        ship_complete=split.ship_complete,
        split_lines=split.lines,
        split_penalty=penalty,
    )

    scored = [
        CandidateExplanation(
            o.source.source_id,
            CandidateStatus.SCORED,
            raw=raw,
            normalised=norms,
            total=o.score,
            rank=o.rank + 1,
            usable=tuple(sorted(o.usable.items())),
        )
        for o, (raw, norms) in zip(options, figures, strict=True)
    ]
    explained.sort(key=lambda c: (c.status != CandidateStatus.NO_STOCK, c.source_id))

    shipped: dict[int, int] = {}
    for _, taken in plan.shipments:
        for index, qty in taken:
            shipped[index] = shipped.get(index, 0) + qty
    missing: list[UnallocatedLine] = []
    for index, line in enumerate(order.lines):
        remaining = line.quantity - shipped.get(index, 0)
        if remaining > 0:
            if not any_eligible:
                reason = _R.NO_ELIGIBLE_SOURCE
            elif split.ship_complete and not plan.shipments:
                reason = _R.SHIP_COMPLETE_NOT_POSSIBLE
            elif usable_any[line.sku] < demand[line.sku]:
                reason = _stock_shortage(
                    available_any[line.sku], usable_any[line.sku], demand[line.sku]
                )
            elif split.effective_max_shipments == 1:
                reason = _R.SPLIT_NOT_ALLOWED
            elif not split.lines and usable_max[line.sku] < line.quantity:
                reason = _R.LINE_SPLIT_NOT_ALLOWED
            else:
                reason = _R.MAX_SHIPMENTS_REACHED
            missing.append(UnallocatedLine(line.line_id, line.sku, remaining, reason))

    held: Hold | None = None
    rejected: str | None = None
    unallocated: tuple[UnallocatedLine, ...] = ()
    backordered: tuple[UnallocatedLine, ...] = ()
    ship = True
    if missing:
        if policy.backorder is BackorderMode.ALLOW:
            # Waiting for stock cannot help a line that no source may ship at all.
            backordered = tuple(m for m in missing if m.reason is not _R.NO_ELIGIBLE_SOURCE)
            unallocated = tuple(m for m in missing if m.reason is _R.NO_ELIGIBLE_SOURCE)
        else:
            unallocated = tuple(missing)
            ship = False
            summary = _missing_summary(missing)
            if policy.backorder is BackorderMode.HOLD:
                held = Hold("backorder", f"{summary}; the policy holds orders it cannot fill")
            else:
                rejected = f"{summary}; the policy rejects orders it cannot fill"

    by_line = order.lines
    shipments: dict[str, tuple[ShipmentLine, ...]] = {}
    details: list[ShipmentDetail] = []
    if ship:
        for option, taken in sorted(plan.shipments, key=lambda s: s[0].source.source_id):
            src = option.source
            lines = tuple(ShipmentLine(by_line[i].line_id, by_line[i].sku, q) for i, q in taken)
            units = sum(q for _, q in taken)
            shipments[src.source_id] = lines
            details.append(
                ShipmentDetail(
                    src.source_id,
                    units,
                    src.cost.shipping_cost(units, option.distance_km),
                    src.cost.currency,
                    option.distance_km,
                    src.lead_time_days,
                    option.score,
                )
            )

    explanation = Explanation(
        criteria=CRITERIA,
        weights=weights,
        split_penalty=penalty,
        candidates=(*scored, *explained),
        plan=_plan_explanation(plan, order),
        tie_breaks=plan.tie_breaks,
        condition_errors=tuple(errors),
    )
    return Decision(
        order_id=order.order_id,
        policy_id=policy.id,
        policy_version=policy.version,
        decided_at=now,
        shipments=MappingProxyType(shipments),
        shipment_details=tuple(details),
        unallocated=unallocated,
        backordered=backordered,
        held=held,
        rejected=rejected,
        explanation=explanation,
    )


_Figures = list[tuple[tuple[float | None, ...], tuple[float, ...]]]


def _rank(
    order: OrderToRoute, eligible: list[_Eligible], weights: tuple[float, ...]
) -> tuple[list[Option], _Figures]:
    """Options in ranking order (score, priority desc, source_id) with their raw/normalised."""
    raws = [raw_criteria(order, e.source, e.distance, sum(e.usable.values())) for e in eligible]
    scored = normalise(raws, weights)
    keyed = sorted(
        range(len(eligible)),
        key=lambda i: (
            round(scored[i][1], 9),
            -eligible[i].source.priority,
            eligible[i].source.source_id,
        ),
    )
    options = [
        Option(
            rank=rank,
            source=eligible[i].source,
            usable=eligible[i].usable,
            score=scored[i][1],
            distance_km=eligible[i].distance,
        )
        for rank, i in enumerate(keyed)
    ]
    return options, [(raws[i], scored[i][0]) for i in keyed]


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


def _plan_explanation(plan: Plan, order: OrderToRoute) -> PlanExplanation:
    return PlanExplanation(
        strategy=plan.strategy,
        search=plan.search,
        summary=plan.summary,
        alternatives_considered=plan.considered,
        objective=plan.objective,
        units_planned=plan.units,
        units_ordered=order.units,
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
        explanation=Explanation(CRITERIA, weights, penalty, (), plan),
    )
