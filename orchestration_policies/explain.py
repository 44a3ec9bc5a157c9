"""A plain-English account of a decision, for operations staff and auditors."""

from __future__ import annotations

from orchestration_policies.decision import (
    CandidateExplanation,
    CandidateStatus,
    Decision,
    Explanation,
)

__all__ = ["explain_text"]

LABELS = {
    "distance_km": "distance",
    "shipping_cost": "shipping cost",
    "lead_time_days": "lead time",
    "capacity_left": "capacity left",
    "source_priority": "priority",
    "stock_depth": "stock depth",
}


def raw_value(name: str, value: float | None) -> str:
    if value is None:
        return "unknown"
    if name == "distance_km":
        return f"{value:.1f} km"
    if name == "shipping_cost":
        return f"{value:.2f}"
    if name == "lead_time_days":
        return f"{value:g} day(s)"
    return f"{value:g}"


def explain_text(decision: Decision) -> str:
    """Several lines of text saying what was decided and why."""
    d = decision
    e = d.explanation
    out = [
        f"Order {d.order_id} was decided at {d.decided_at.isoformat()} by policy "
        f"{d.policy_id} version {d.policy_version}.",
        *_outcome(d),
        *_left_out(d),
        f"Why: {e.plan.summary}.",
        *(f"Tie-break: {note}." for note in e.tie_breaks),
    ]
    if e.candidates:
        out += _ranking(e)
        out += (f"Condition error: {error}." for error in e.condition_errors)
    return "\n".join(out)


def _outcome(d: Decision) -> list[str]:
    if d.held is not None:
        return [f"Outcome: HELD by rule '{d.held.rule}': {d.held.reason}."]
    if d.rejected is not None:
        return [f"Outcome: REJECTED: {d.rejected}."]
    if not d.shipments:
        return ["Outcome: nothing can ship now."]
    out = [f"Outcome: {len(d.shipments)} shipment(s)."]
    for detail in d.shipment_details:
        items = ", ".join(
            f"{q} x {sku} (line {lid})" for lid, sku, q in d.shipments[detail.source_id]
        )
        distance = "" if detail.distance_km is None else f", {detail.distance_km:.1f} km away"
        out.append(
            f"  - from {detail.source_id}: {items}; estimated shipping "
            f"{detail.estimated_cost} {detail.currency}{distance}, "
            f"lead time {detail.lead_time_days} day(s)."
        )
    return out


def _left_out(d: Decision) -> list[str]:
    """Backordered and unallocated lines, then those over the split limit with alternatives."""
    overflow = d.over_split_limit
    over = set(overflow.lines) if overflow is not None else set()
    out = [
        f"{label}: {line.quantity} x {line.sku} (line {line.line_id}) — "
        f"{str(line.reason).replace('_', ' ')}."
        for label, lines in (("Backordered", d.backordered), ("Not allocated", d.unallocated))
        for line in lines
        if line not in over
    ]
    if overflow is None:
        return out
    out.append(
        f"Over the split limit ({overflow.limit} shipment(s) over the order's life, "
        f"{overflow.live_before} live before this decision); the policy says "
        f"'{overflow.handling}':"
    )
    alternatives = dict(overflow.alternatives)
    for line in overflow.lines:
        could = ", ".join(alternatives.get(line.line_id, ())) or "no single source"
        out.append(
            f"  - {line.quantity} x {line.sku} (line {line.line_id}); could ship from {could}."
        )
    return out


def _ranking(e: Explanation) -> list[str]:
    weights = ", ".join(
        f"{LABELS[n]} {w:g}" for n, w in zip(e.criteria, e.weights, strict=True) if w
    )
    out = [
        f"Ranking: each criterion is scaled 0 (best) to 1 (worst) across the sources in the "
        f"running, then weighted ({weights or 'no weights'}); lower totals rank first. "
        f"Each extra shipment costs {e.split_penalty:g}."
    ]
    for c in e.candidates:
        if c.status is CandidateStatus.SCORED:
            out.append(_scored(e, c))
        elif c.status is CandidateStatus.NO_STOCK:
            out.append(f"  -- {c.source_id}: eligible, but {c.detail}.")
        else:
            out.append(f"  xx {c.source_id}: excluded by '{c.rule}' — {c.detail}.")
    return out


def _scored(e: Explanation, c: CandidateExplanation) -> str:
    parts = [
        f"{LABELS[row.criterion]} {raw_value(row.criterion, row.raw)} → {row.contribution:.3f}"
        for row in c.breakdown(e)
        if row.weight
    ]
    stock = ", ".join(f"{units} x {sku}" for sku, units in c.usable)
    criteria = "; ".join(parts) or "no weighted criteria"
    return f"  #{c.rank} {c.source_id}: score {c.total:.4f} ({criteria}); may use {stock}."
