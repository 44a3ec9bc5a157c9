"""Lines over the split limit: which sources could ship each, and, when the policy says so,
extra rounds of shipments from the next best sources (see `Policy.over_split_limit`)."""

from __future__ import annotations

from collections.abc import Sequence

from orchestration_policies.decision import PlanStrategy, SplitOverflow, UnallocatedLine
from orchestration_policies.inputs import LineToRoute, OrderToRoute
from orchestration_policies.planning import Option, Plan, plan_shipments
from orchestration_policies.policy import OverSplitLimit, Policy

_ALTERNATIVES = 3  # sources named per line over the limit


def overflow_of(
    handling: OverSplitLimit,
    limit: int,
    live: int,
    over: Sequence[UnallocatedLine],
    plan: Plan,
    options: Sequence[Option],
    order: OrderToRoute,
) -> SplitOverflow:
    """The lines over the split limit and, for each, the best sources that could ship it."""
    planned = {id(o) for o, _ in plan.shipments}
    alternatives = []
    for line in over:
        able = [
            o.source.source_id
            for o in options  # in ranking order
            if id(o) not in planned and o.usable.get(line.sku, 0) >= line.quantity
        ]
        alternatives.append((line.line_id, tuple(able[:_ALTERNATIVES])))
    return SplitOverflow(str(handling), limit, live, tuple(over), tuple(alternatives))


def overflow_summary(overflow: SplitOverflow) -> str:
    lines = ", ".join(f"{u.quantity} x {u.sku} (line {u.line_id})" for u in overflow.lines)
    live = f", {overflow.live_before} already live" if overflow.live_before else ""
    options = "; ".join(
        f"line {line_id} from {' or '.join(ids) if ids else 'no single source'}"
        for line_id, ids in overflow.alternatives
    )
    return (
        f"{lines} would need more than the {overflow.limit} shipment(s) the policy allows"
        f"{live}; could ship: {options}"
    )


def ship_rest(
    plan: Plan, options: Sequence[Option], order: OrderToRoute, policy: Policy, penalty: float
) -> Plan:
    """Extra shipments beyond the limit: rounds of the policy's own split over the sources not
    used yet, best-ranked first, until the rest is shipped or nothing more can ship."""
    shipments = list(plan.shipments)
    used = {o.source.source_id for o, _ in shipments}
    round_size = max(1, policy.split.max_shipments)
    rounds = 0
    while True:
        shipped: dict[int, int] = {}
        for _, taken in shipments:
            for index, qty in taken:
                shipped[index] = shipped.get(index, 0) + qty
        rest = [
            (index, line.quantity - shipped.get(index, 0))
            for index, line in enumerate(order.lines)
            if line.quantity > shipped.get(index, 0)
        ]
        # Fresh options: what a source can cover depends on the lines still to ship.
        fresh = [
            Option(o.source, o.usable, o.distance_km, None, o.raw, o.rank, o.score)
            for o in options
            if o.source.source_id not in used
        ]
        if not rest or not fresh:
            break
        lines = [LineToRoute(order.lines[i].line_id, order.lines[i].sku, qty) for i, qty in rest]
        extra = plan_shipments(
            lines,
            fresh,
            max_shipments=round_size,
            ship_complete=False,
            split_lines=policy.split.lines,
            split_penalty=penalty,
        )
        if not extra.shipments:
            break
        rounds += 1
        for option, taken in extra.shipments:
            used.add(option.source.source_id)
            shipments.append((option, tuple((rest[i][0], q) for i, q in taken)))
    if not rounds:
        return plan
    added = len(shipments) - len(plan.shipments)
    names = ", ".join(o.source.source_id for o, _ in shipments[len(plan.shipments) :])
    return plan._replace(
        shipments=tuple(shipments),
        strategy=PlanStrategy.SPLIT if len(shipments) > 1 else plan.strategy,
        units=sum(q for _, taken in shipments for _, q in taken),
        summary=f"{plan.summary}; over the split limit, the policy ships the rest from the "
        f"next best sources: {added} more shipment(s) from {names}",
    )
