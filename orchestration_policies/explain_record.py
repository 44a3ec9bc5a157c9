"""A recorded decision in words: the same account `explain_text` gives of the live decision.

Decisions are recorded as a `DecisionRecord` (`Decision.to_dict`, with the sources that hold none
of the order only counted); their text is written from that record when it is read, not stored.
"""

import hashlib

from orchestration_policies.canonical import canonical_json
from orchestration_policies.explain import LABELS, raw_value
from schemas.decision_record import DecisionRecord, ExplanationRecord

HOLDS_NONE = "holds_none"  # holds none of the ordered SKUs (not considered, or eligible but empty)


def record_digest(record: DecisionRecord) -> str:
    """sha256 (hex) of a recorded decision's canonical JSON (as `Decision.digest` is of its own)."""
    return hashlib.sha256(canonical_json(record.plain(), allow_nan=False)).hexdigest()


def explain_record(record: DecisionRecord) -> str:
    """Several lines of text saying what was decided and why, from a recorded decision.

    The same account as `orchestration_policies.explain_text` gives of the live decision, with
    the sources that were only counted summed up in one line.
    """
    e = record.explanation
    policy = record.policy
    out = [
        f"Order {record.order_id} was decided at {record.decided_at.isoformat()} by policy "
        f"{policy.id} version {policy.version}."
    ]
    out += _outcome(record)
    if e is None:  # a record without its explanation says only what was decided
        return "\n".join(out)
    out.append(f"Why: {e.plan.summary}.")
    out += [f"Tie-break: {note}." for note in e.tie_breaks]
    if e.candidates:
        out += _candidates(e)
    if e.omitted:
        counts = ", ".join(f"{n} {_omitted_label(reason)}" for reason, n in e.omitted.items())
        out.append(f"Not listed: {counts}.")
    if e.candidates:
        out += [f"Condition error: {error}." for error in e.condition_errors]
    return "\n".join(out)


def _outcome(record: DecisionRecord) -> list[str]:
    out = []
    if record.held is not None:
        out.append(f"Outcome: HELD by rule '{record.held.rule}': {record.held.reason}.")
    elif record.rejected is not None:
        out.append(f"Outcome: REJECTED: {record.rejected}.")
    elif record.shipments:
        out.append(f"Outcome: {len(record.shipments)} shipment(s).")
        for detail in record.shipment_details:
            source_id = detail.source_id
            items = ", ".join(
                f"{line.quantity} x {line.sku} (line {line.line_id})"
                for line in record.shipments[source_id]
            )
            km = detail.distance_km
            distance = "" if km is None else f", {km:.1f} km away"
            out.append(
                f"  - from {source_id}: {items}; estimated shipping "
                f"{detail.estimated_cost} {detail.currency}{distance}, "
                f"lead time {detail.lead_time_days} day(s)."
            )
    else:
        out.append("Outcome: nothing can ship now.")
    overflow = record.over_split_limit
    over = {line.line_id for line in overflow.lines} if overflow else set()
    for label, lines in (
        ("Backordered", record.backordered),
        ("Not allocated", record.unallocated),
    ):
        for line in lines:
            if line.line_id in over:
                continue
            reason = line.reason.replace("_", " ")
            out.append(f"{label}: {line.quantity} x {line.sku} (line {line.line_id}) — {reason}.")
    if overflow:
        out.append(
            f"Over the split limit ({overflow.limit} shipment(s) over the order's life, "
            f"{overflow.live_before} live before this decision); the policy says "
            f"'{overflow.handling}':"
        )
        for line in overflow.lines:
            could = ", ".join(overflow.alternatives.get(line.line_id, ())) or "no single source"
            out.append(
                f"  - {line.quantity} x {line.sku} (line {line.line_id}); could ship from {could}."
            )
    return out


def _candidates(e: ExplanationRecord) -> list[str]:
    criteria = e.criteria
    weights = [e.weights[name] for name in criteria]
    shown = ", ".join(f"{LABELS[n]} {w:g}" for n, w in zip(criteria, weights, strict=True) if w)
    out = [
        f"Ranking: each criterion is scaled 0 (best) to 1 (worst) across the sources in the "
        f"running, then weighted ({shown or 'no weights'}); lower totals rank first. "
        f"Each extra shipment costs {e.split_penalty:g}."
    ]
    for c in e.candidates:
        if c.status == "scored":
            parts = [
                f"{LABELS[name]} {raw_value(name, raw)} → {contribution:.3f}"
                for name, raw, contribution, weight in zip(
                    criteria, c.raw, c.contribution, weights, strict=True
                )
                if weight
            ]
            stock = ", ".join(f"{units} x {sku}" for sku, units in c.usable.items())
            scores = "; ".join(parts) or "no weighted criteria"
            out.append(
                f"  #{c.rank} {c.source_id}: score {c.total or 0:.4f} ({scores}); may use {stock}."
            )
        elif c.status == "no_stock":
            out.append(f"  -- {c.source_id}: eligible, but {c.detail}.")
        else:
            out.append(f"  xx {c.source_id}: excluded by '{c.rule}' — {c.detail}.")
    return out


def _omitted_label(reason: str) -> str:
    if reason == HOLDS_NONE:
        return "source(s) holding none of the ordered SKUs"
    return f"source(s) excluded by '{reason.removeprefix('excluded:')}'"
