"""Fingerprints of many seeded ``decide()`` calls, to prove a faster decide() decides the same.

    python -m benchmarks.decide_identity [--decisions 6000] [--seed 7] --out FILE

Run it with the code before a change and after, then compare the two files (``cmp``): one line
per decision with sha256 of ``repr(decision)`` (every field, floats unrounded), of its canonical
JSON (``to_dict``), of its text explanation, and the inputs digest. The calls cover the
realistic network shape (benchmarks/network.py: 100 sources, orders of 1-7 lines, stock drawn
down by earlier decisions so that scarcity appears) under several policies (the default, the
what-if benchmark's draft, ship-complete, split lines with extra shipments, no split with
rejection, holds and eligibility rules that fail to evaluate), with holds, missing ship-to
positions, VIP and B2B orders, live shipments, paused or full sources and routing overrides.
"""

from __future__ import annotations

import argparse
import dataclasses
import hashlib
import random
from collections import Counter
from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import Any

from benchmarks.network import OrderMaker, generate_network
from benchmarks.what_if import DRAFT, _order
from orchestration_policies import (
    Policy,
    StockLevel,
    decide,
    default_policy,
    explain_text,
    load_policy,
)
from orchestration_policies.decision import Decision
from orchestration_policies.decision_inputs import (
    DecisionInputs,
    PolicyRef,
    RoutingOverrides,
    candidate_from,
)

START = datetime(2026, 11, 1, tzinfo=UTC)
_VARIANTS = (
    """
id: complete
version: 1
name: Ship complete, a rule that cannot always be evaluated
split: {ship_complete: true}
backorder: hold
eligibility:
  - name: gold-only-dcs
    condition: '!has(order.attributes.flag) || source.kind != "warehouse"
      || order.attributes.tier == "gold"'
ranking: {weights: {distance_km: 1.0, shipping_cost: 0.0, lead_time_days: 1.0}}
""",
    """
id: lines
version: 3
name: Split lines, ship the rest
split: {allowed: true, max_shipments: 2, lines: true, split_penalty: 0.2}
over_split_limit: ship_rest_from_next_best
holds:
  - name: big
    condition: order.total > 2500.0
    reason: a large order
allocation:
  - demand_class: b2b
    units: 2
  - demand_class: vip
    share: 0.25
ranking:
  weights: {distance_km: 0.5, shipping_cost: 1.0, capacity_left: 0.3, source_priority: 0.2,
            stock_depth: 0.4}
""",
    """
id: single
version: 2
name: One shipment, reject the rest
split: {allowed: false}
backorder: reject
over_split_limit: reject
excluded_sources: [dr-de-0005, st-fr-0020]
eligibility:
  - name: near
    condition: "!has(source.distance_km) || source.distance_km < 1200.0"
    description: within 1,200 km
""",
    """
id: hold-over
version: 1
name: Five shipments, hold the rest, backorder
split: {max_shipments: 5, split_penalty: 1.5}
over_split_limit: hold
backorder: allow
holds:
  - name: odd
    condition: has(order.attributes.flag) && order.attributes.flag == true
    reason: flagged
ranking: {weights: {distance_km: 0.0, shipping_cost: 0.0, lead_time_days: 0.0}}
""",
)


def fingerprints(decisions: int, seed: int) -> list[str]:
    rng = random.Random(seed)
    network = generate_network(100, 10_000, seed=seed)
    maker = OrderMaker(network, seed=seed)
    policies = [default_policy(), load_policy(DRAFT), *(load_policy(v) for v in _VARIANTS)]
    definitions = {s["source_id"]: s for s in network.sources}
    ids = sorted(definitions)
    holders = network.holders()
    stock = {(r.source_id, r.sku): [r.on_hand, 0] for r in network.stock}
    out = []
    seen: Counter[str] = Counter()
    for i in range(decisions):
        at = START + timedelta(seconds=45 * i)
        order_id = f"order-{i:06d}"
        plain = maker.order(("web", "pos", "marketplace")[i % 3], order_id, at.isoformat())
        order = _order(plain, order_id, at)
        roll = rng.random()
        changes: dict[str, Any] = {}
        if roll < 0.05:
            changes.update(ship_to_lat=None, ship_to_lon=None)
        elif roll < 0.08:
            changes["payment_state"] = "pending"
        elif roll < 0.12:
            changes["attributes"] = {"fraud_review": rng.random() < 0.5, "flag": True}
        elif roll < 0.2:
            changes["attributes"] = {"tier": rng.choice(("gold", "silver"))}
        elif roll < 0.25:
            changes["live_shipment_sources"] = tuple(rng.sample(ids, rng.randint(1, 2)))
        elif roll < 0.28:
            changes["delivery_method"] = "click_and_collect"
        if changes:
            order = dataclasses.replace(order, **changes)
        skus = {line.sku for line in order.lines}
        given = sorted({h for sku in skus for h in holders.get(sku, ())})
        given += rng.sample([s for s in ids if s not in given], rng.randint(0, 4))
        if rng.random() < 0.3:
            rng.shuffle(given)
        candidates = []
        for sid in given:
            used = 0 if rng.random() > 0.03 else definitions[sid]["daily_capacity"]
            levels = {
                sku: StockLevel(stock[(sid, sku)][0], stock[(sid, sku)][1], rng.choice((0, 0, 1)))
                for sku in sorted(skus)
                if (sid, sku) in stock
            }
            candidates.append(
                candidate_from(definitions[sid], rng.random() > 0.02, levels, used + i % 7)
            )
        overrides = RoutingOverrides()
        if rng.random() < 0.06:
            overrides = RoutingOverrides(
                holds_released=rng.random() < 0.5,
                split_limit_released=rng.random() < 0.5,
                pinned_source=rng.choice(given) if rng.random() < 0.3 else None,
                rejected_sources=tuple(rng.sample(given, min(len(given), 2))),
            )
        policy = policies[i % len(policies)]
        inputs = DecisionInputs(
            order, tuple(candidates), PolicyRef(policy.id, policy.version), at, overrides
        )
        decision = inputs.decide(policy)
        _check_lean(inputs, policy, decision)
        out.append(
            " ".join(
                (
                    str(i),
                    _sha(repr(decision)),
                    _sha(decision.to_json()),
                    _sha(explain_text(decision)),
                    inputs.digest,
                )
            )
        )
        seen[_kind(decision)] += 1
        # The decision's shipments take stock, so later orders meet scarcity; some ship.
        for source_id, lines in decision.shipments.items():
            for line in lines:
                held = stock[(source_id, line.sku)]
                held[1] += line.quantity
                if rng.random() < 0.7:
                    held[0] -= line.quantity
                    held[1] -= line.quantity
    for kind, n in sorted(seen.items()):
        print(f"{n:6} {kind}")
    return out


def _check_lean(inputs: DecisionInputs, policy: Policy, decision: Decision) -> None:
    """decide(explain=False), as what-if calls it, decides the same (candidates unexplained)."""
    drafted = inputs.overrides.applied_to(policy, inputs.candidates)
    lean = decide(inputs.order, inputs.candidates, drafted, inputs.now, explain=False)
    if lean != dataclasses.replace(
        decision, explanation=dataclasses.replace(decision.explanation, candidates=())
    ):
        raise SystemExit(f"decide(explain=False) differs for {inputs.order.order_id}")


def _kind(decision: Decision) -> str:
    e = decision.explanation
    outcome = (
        "held"
        if decision.held
        else "rejected"
        if decision.rejected
        else "backordered"
        if decision.backordered
        else "shipped"
    )
    extra = " +condition-errors" if e.condition_errors else ""
    extra += " +over-limit" if decision.over_split_limit else ""
    extra += " +unallocated" if decision.unallocated else ""
    extra += " +ties" if e.tie_breaks else ""
    return f"{decision.policy_id:9} {outcome:11} {e.plan.strategy}/{e.plan.search}{extra}"


def _sha(text: str) -> str:
    return hashlib.sha256(text.encode()).hexdigest()[:16]


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--decisions", type=int, default=6000)
    parser.add_argument("--seed", type=int, default=7)
    parser.add_argument("--out", type=Path, required=True)
    args = parser.parse_args()
    lines = fingerprints(args.decisions, args.seed)
    args.out.write_text("\n".join(lines) + "\n")
    print(f"{len(lines)} decisions; all: {_sha(''.join(lines))}")


if __name__ == "__main__":
    main()
