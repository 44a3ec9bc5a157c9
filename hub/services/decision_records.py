"""Decision records sized for scale, and their text explanation derived on read.

A decision over a network of hundreds of sources is recorded with every order. The record keeps
the candidates that hold some of the order (scored, excluded, or holding too little), and only
counts the others by reason: a source holding none of the ordered SKUs says nothing about this
order. The text explanation is not stored: it is written from the record when it is read.
Orders routed by earlier releases stored their text, and keep showing it.
"""

import hashlib
import json
from collections import Counter
from collections.abc import Collection
from typing import Any

from aggregates.order import Order
from orchestration_policies import Decision

# The wording of the live explanation, so that both accounts read the same.
from orchestration_policies.explain import _LABELS, _raw

HOLDS_NONE = "holds_none"  # holds none of the ordered SKUs (not considered, or eligible but empty)


def decision_record(decision: Decision, holders: Collection[str], others: int) -> dict[str, Any]:
    """The decision as recorded: candidates among `holders` listed, the rest counted by reason.

    `others` is the number of registered sources that were not given to decide() at all
    (they hold none of the ordered SKUs).
    """
    record = decision.to_dict()  # plain JSON values already; the digest sorts the keys
    explanation = record["explanation"]
    listed, omitted = [], Counter[str]()
    for row in explanation["candidates"]:
        if row["source_id"] in holders:
            listed.append(row)
        elif row["status"] == "excluded":
            omitted[f"excluded:{row['rule']}"] += 1
        else:
            omitted[HOLDS_NONE] += 1
    omitted[HOLDS_NONE] += others
    explanation["candidates"] = listed
    explanation["omitted"] = {reason: n for reason, n in sorted(omitted.items()) if n}
    return record


def record_digest(record: dict[str, Any]) -> str:
    """sha256 (hex) of the record's canonical JSON (as `Decision.digest` is of its own)."""
    canonical = json.dumps(
        record, sort_keys=True, separators=(",", ":"), ensure_ascii=False, allow_nan=False
    )
    return hashlib.sha256(canonical.encode("utf-8")).hexdigest()


def explanation_of(order: Order) -> str | None:
    """The order's latest decision in words: stored by earlier releases, derived otherwise."""
    if order.explanation:
        return order.explanation
    return None if order.decision is None else explain_record(order.decision)


def explain_record(record: dict[str, Any]) -> str:
    """Several lines of text saying what was decided and why, from a recorded decision.

    The same account as `orchestration_policies.explain_text` gives of the live decision, with
    the sources that were only counted summed up in one line.
    """
    e = record["explanation"]
    policy = record["policy"]
    out = [
        f"Order {record['order_id']} was decided at {record['decided_at']} by policy "
        f"{policy['id']} version {policy['version']}."
    ]
    out += _outcome(record)
    plan = e["plan"]
    out.append(f"Why: {plan['summary']}.")
    out += [f"Tie-break: {note}." for note in e.get("tie_breaks", [])]
    omitted = e.get("omitted", {})
    if e["candidates"]:
        out += _candidates(e)
    if omitted:
        counts = ", ".join(f"{n} {_omitted_label(reason)}" for reason, n in omitted.items())
        out.append(f"Not listed: {counts}.")
    if e["candidates"]:
        out += [f"Condition error: {error}." for error in e.get("condition_errors", [])]
    return "\n".join(out)


def _outcome(record: dict[str, Any]) -> list[str]:
    out = []
    if record["held"] is not None:
        held = record["held"]
        out.append(f"Outcome: HELD by rule '{held['rule']}': {held['reason']}.")
    elif record["rejected"] is not None:
        out.append(f"Outcome: REJECTED: {record['rejected']}.")
    elif record["shipments"]:
        out.append(f"Outcome: {len(record['shipments'])} shipment(s).")
        for detail in record["shipment_details"]:
            source_id = detail["source_id"]
            items = ", ".join(
                f"{q} x {sku} (line {lid})" for lid, sku, q in record["shipments"][source_id]
            )
            km = detail["distance_km"]
            distance = "" if km is None else f", {km:.1f} km away"
            out.append(
                f"  - from {source_id}: {items}; estimated shipping "
                f"{detail['estimated_cost']} {detail['currency']}{distance}, "
                f"lead time {detail['lead_time_days']} day(s)."
            )
    else:
        out.append("Outcome: nothing can ship now.")
    for label, key in (("Backordered", "backordered"), ("Not allocated", "unallocated")):
        for line in record[key]:
            reason = str(line["reason"]).replace("_", " ")
            out.append(
                f"{label}: {line['quantity']} x {line['sku']} (line {line['line_id']}) — {reason}."
            )
    return out


def _candidates(e: dict[str, Any]) -> list[str]:
    criteria = e["criteria"]
    weights = [e["weights"][name] for name in criteria]
    shown = ", ".join(f"{_LABELS[n]} {w:g}" for n, w in zip(criteria, weights, strict=True) if w)
    out = [
        f"Ranking: each criterion is scaled 0 (best) to 1 (worst) across the sources in the "
        f"running, then weighted ({shown or 'no weights'}); lower totals rank first. "
        f"Each extra shipment costs {e['split_penalty']:g}."
    ]
    for c in e["candidates"]:
        if c["status"] == "scored":
            parts = [
                f"{_LABELS[name]} {_raw(name, raw)} → {contribution:.3f}"
                for name, raw, contribution, weight in zip(
                    criteria, c["raw"], c["contribution"], weights, strict=True
                )
                if weight
            ]
            stock = ", ".join(f"{units} x {sku}" for sku, units in c["usable"].items())
            scores = "; ".join(parts) or "no weighted criteria"
            out.append(
                f"  #{c['rank']} {c['source_id']}: score {c['total']:.4f} ({scores}); "
                f"may use {stock}."
            )
        elif c["status"] == "no_stock":
            out.append(f"  -- {c['source_id']}: eligible, but {c['detail']}.")
        else:
            out.append(f"  xx {c['source_id']}: excluded by '{c['rule']}' — {c['detail']}.")
    return out


def _omitted_label(reason: str) -> str:
    if reason == HOLDS_NONE:
        return "source(s) holding none of the ordered SKUs"
    return f"source(s) excluded by '{reason.removeprefix('excluded:')}'"
