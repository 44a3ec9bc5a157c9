"""What-if over recorded history: re-decide past decisions with a draft policy.

Given the recorded decisions of a window in their original order, each with the inputs it saw,
and the stock movements of the event log between them, :func:`run_what_if` decides each again
with a draft policy against stock as it would have been *in the draft's world*:

- on hand follows the feed (registrations, counts, adjustments) and what really shipped, except
  that units the live policy shipped in the window are put back and the draft's own shipments
  taken out instead (when the live policy shipped an order's line, the draft's promise for that
  line ships too);
- reservations made before the window are shared by both worlds (and end as recorded);
- reservations the live policy made in the window are ignored, and the units it freed are not
  the draft's to use: the draft carries its own promises forward, and gives them back only when
  the order's line is routed again, released (cancelled, withdrawn) or shipped;
- capacity used per source and day counts the draft's shipments, not the live policy's.

What is re-decided is what was recorded: a later decision of an order (a backorder wake-up, a
re-route) routes the lines it recorded, the draft's earlier promises for them given back first;
a line only the draft backordered waits until such a decision comes.

Decisions without recorded inputs, and those the draft does not apply to (its ``applies_to``,
or another channel than the one asked for), stand as recorded in both worlds: their shipments
are the draft's promises too. Pure: no I/O, no clock.
"""

from __future__ import annotations

from collections.abc import Callable, Iterable
from dataclasses import dataclass
from datetime import datetime

from orchestration_policies.decide import decide
from orchestration_policies.decision import Decision
from orchestration_policies.decision_inputs import DecisionInputs
from orchestration_policies.explain_record import explain_record
from orchestration_policies.loading import PolicyError, Problem
from orchestration_policies.policy import Policy
from orchestration_policies.selection import policy_applies
from orchestration_policies.what_if_inputs import RecordedCandidate
from orchestration_policies.what_if_report import (
    ChangedDecision,
    LiveFacts,
    Shipped,
    WhatIfReport,
    live_facts,
    outcome_of,
    promise_missed,
)
from orchestration_policies.what_if_world import (
    MovementKind,
    MovementRows,
    StockMovement,
    World,
    count_shipments,
)
from schemas.decision_record import DecisionRecord

__all__ = [
    "MovementKind",
    "MovementRows",
    "RecordedDecision",
    "StockMovement",
    "UnknownAttributeError",
    "attribute_references",
    "run_what_if",
]


@dataclass(frozen=True, slots=True)
class RecordedDecision:
    """A recorded decision with what it saw; ``inputs`` None: they were not recorded."""

    order_id: str
    n: int  # its place among the order's decisions (1-based)
    channel: str
    decided_at: datetime
    record: DecisionRecord  # the decision as recorded
    inputs: DecisionInputs | None = None
    # The recorded candidates in their compact form (InputsDecoder.decode_compact), when
    # ``inputs`` was read without them; None: ``inputs.candidates``.
    candidates: tuple[RecordedCandidate, ...] | None = None
    live: LiveFacts | None = None  # ``live_facts(record)``, when worked out beforehand

    def facts(self) -> LiveFacts:
        live = self.live
        return live_facts(self.record) if live is None else live


class UnknownAttributeError(PolicyError):
    """The draft reads order attributes no recorded decision of the window carried."""


def attribute_references(policy: Policy) -> dict[str, list[str]]:
    """Order attributes the policy's conditions read → the fields that read them."""
    conditions = [
        ("applies_to.condition", policy.applies_to.compiled),
        *((f"holds[{i}].condition", h.compiled) for i, h in enumerate(policy.holds)),
        *((f"eligibility[{i}].condition", e.compiled) for i, e in enumerate(policy.eligibility)),
    ]
    found: dict[str, list[str]] = {}
    for path, condition in conditions:
        if condition is None:
            continue
        for root, segments in condition.analysis.paths:
            if root == "order" and len(segments) > 1 and segments[0] == "attributes":
                found.setdefault(segments[1], []).append(path)
    return found


_HOLD_NOT_EVALUATED = "hold condition could not be evaluated"  # decide()'s words


def _drafted_shipments(decision: Decision) -> list[tuple[str, str, str, int]]:
    return [
        (source_id, line.line_id, line.sku, line.quantity)
        for source_id, lines in decision.shipments.items()
        for line in lines
    ]


def run_what_if(
    timeline: Iterable[RecordedDecision | StockMovement | MovementRows],
    draft: Policy,
    start: datetime,
    channel: str | None = None,
    changes_kept: int = 100,
    progress: Callable[[int], None] | None = None,
) -> WhatIfReport:
    """Re-decide the timeline's decisions (those at or after ``start``) with ``draft``.

    The timeline is the log in order: stock movements (one by one, or in rows) from the
    beginning (so stock at the window's start is known) and the window's decisions.
    ``progress`` is called with the number of decisions done, every 1,000. Raises
    :class:`UnknownAttributeError` when the draft reads an order attribute that no decision of
    the window carried.
    """
    world = World(start)
    report = WhatIfReport(draft.id, draft.version, changes_kept=changes_kept)
    referenced = attribute_references(draft)
    seen_attributes: set[str] = set()
    for item in timeline:
        if isinstance(item, StockMovement):
            world.move(item)
            continue
        if isinstance(item, MovementRows):
            world.move_rows(item.rows)
            continue
        report.decisions += 1
        if progress is not None and report.decisions % 1000 == 0:
            progress(report.decisions)
        inputs = item.inputs
        if inputs is not None:
            seen_attributes.update(inputs.order.attributes)
        if inputs is not None and _in_scope(draft, channel, item, inputs):
            _redecide(world, draft, report, item, inputs)
        else:
            # Stands as recorded in both worlds: its shipments are the draft's promises too.
            report.skipped += inputs is None
            report.out_of_scope += inputs is not None
            shipped = item.facts().shipments
            for line_id in {line_id for _, line_id, _, _ in shipped}:
                world.give_back((item.order_id, line_id))
            world.promise(item.order_id, shipped)
            sources = {s for s, _, _, _ in shipped}
            count_shipments(world.live_day, item.decided_at, sources)
            count_shipments(world.draft_day, item.decided_at, sources)
    if progress is not None:
        progress(report.decisions)
    # Unknown at the time and not guarded (has()): the draft's conditions failed on them, or
    # its applies_to matched nothing.
    failed = report.condition_failures or (not report.redecided and report.out_of_scope)
    unknown = sorted(set(referenced) - seen_attributes) if failed else []
    if unknown:
        raise UnknownAttributeError(
            Problem(
                path,
                f"order.attributes.{name} is not known at the time: no recorded decision in "
                f"the window carries it",
            )
            for name in unknown
            for path in referenced[name]
        )
    return report


def _in_scope(
    draft: Policy, channel: str | None, item: RecordedDecision, inputs: DecisionInputs
) -> bool:
    if channel is not None and item.channel != channel:
        return False
    return policy_applies(draft, inputs.order, inputs.now)


def _redecide(
    world: World,
    draft: Policy,
    report: WhatIfReport,
    item: RecordedDecision,
    inputs: DecisionInputs,
) -> None:
    report.redecided += 1
    order = inputs.order
    for line in order.lines:  # routed again: the draft's earlier promise for it is given back
        world.give_back((item.order_id, line.line_id))
    recorded = item.candidates
    if recorded is None:
        recorded = tuple(
            (
                c,
                {sku: (v.on_hand, v.reserved, v.safety_stock) for sku, v in c.stock.items()},
                c.used_today,
            )
            for c in inputs.candidates
        )
    candidates = world.candidates(recorded, inputs.now, order)
    policy = inputs.overrides.applied_to(draft, candidates)
    # Without the candidates' part of the explanation: a decision kept as a change is decided
    # again with it (below), before the candidates change.
    decision = decide(order, candidates, policy, inputs.now, explain=False)
    held = decision.held
    if decision.explanation.condition_errors or (
        held is not None and held.reason.startswith(_HOLD_NOT_EVALUATED)
    ):
        report.condition_failures += 1
    drafted = _drafted_shipments(decision)
    world.promise(item.order_id, drafted)
    live = item.facts()
    live_shipped = live.shipped
    count_shipments(world.live_day, item.decided_at, (s.source_id for s in live_shipped))
    count_shipments(world.draft_day, item.decided_at, decision.shipments)

    draft_shipped = [
        Shipped(d.source_id, d.estimated_cost, d.currency, d.distance_km, d.lead_time_days)
        for d in decision.shipment_details
    ]
    live_outcome = live.outcome
    draft_outcome = outcome_of(
        len(decision.shipments),
        (b.line_id for b in decision.backordered),
        (u.line_id for u in decision.unallocated),
        decision.held is not None,
        decision.rejected is not None,
    )
    method = str(order.delivery_method)
    live_missed = promise_missed(item.decided_at, method, order.promised_by, live_shipped)
    draft_missed = promise_missed(item.decided_at, method, order.promised_by, draft_shipped)
    changed = live_outcome != draft_outcome or sorted(live.shipments) != sorted(drafted)
    for comparison in (report.total, report.channel(item.channel)):
        comparison.order_ids.add(item.order_id)
        comparison.live.add(live_outcome, live_shipped, live_missed)
        comparison.draft.add(draft_outcome, draft_shipped, draft_missed)
        comparison.changed += changed
    if changed and len(report.changes) < report.changes_kept:
        report.changes.append(
            ChangedDecision(
                order_id=item.order_id,
                n=item.n,
                channel=item.channel,
                decided_at=item.decided_at,
                live_outcome=live_outcome,
                draft_outcome=draft_outcome,
                live_sources=tuple(sorted(s.source_id for s in live_shipped)),
                draft_sources=tuple(sorted(decision.shipments)),
                live_explanation=explain_record(item.record),
                draft_explanation=explain_record(
                    DecisionRecord.from_plain(
                        decide(order, candidates, policy, inputs.now).to_dict()
                    )
                ),
            )
        )
