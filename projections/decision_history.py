"""Every routing decision of one order, in order, from the order's own events.

A decision is recorded by ``Routed`` (shipments, backorders, unroutable lines) or by ``Held``
(a hold rule, or lines over the split limit). What prompted it is the event that made the
order routable again since the decision before: its acceptance, a released hold, a source's
rejection, a person's re-route, a change; with none of those, a backorder woke up (stock
arrived, or the periodic sweep). Events of every release load: digests missing from older
``Held`` events are derived from the recorded decision (its canonical JSON), inputs digests
are then unknown.
"""

from collections.abc import Iterable
from dataclasses import dataclass
from enum import StrEnum
from typing import Any

from orchestration_policies.explain_record import explain_record, record_digest
from schemas.decision_record import DecisionRecord as RoutingDecision
from schemas.envelope import EventEnvelope
from schemas.event_types import EventType

__all__ = ["DECISION_EVENT_TYPES", "DecisionRecord", "Outcome", "Trigger", "decisions_of"]


class Trigger(StrEnum):
    ORDER_ACCEPTED = "order_accepted"
    HOLD_RELEASED = "hold_released"
    SHIPMENT_REJECTED = "shipment_rejected"
    REROUTED_BY_PERSON = "rerouted_by_person"
    ORDER_CHANGED = "order_changed"
    BACKORDER_WAKEUP = "backorder_wakeup"


class Outcome(StrEnum):
    ROUTED = "routed"  # one shipment, nothing waits
    SPLIT = "split"  # several shipments, nothing waits
    BACKORDERED = "backordered"  # some lines wait for stock (others may ship)
    UNROUTABLE = "unroutable"  # some lines can neither ship nor wait (or the policy rejected)
    HELD = "held"  # a person decides (hold rule, backorder hold, over the split limit)


_TRIGGERS: dict[str, Trigger] = {
    EventType.ORDER_ACCEPTED: Trigger.ORDER_ACCEPTED,
    EventType.ORDER_HOLD_RELEASED: Trigger.HOLD_RELEASED,
    EventType.ORDER_SHIPMENT_REJECTED: Trigger.SHIPMENT_REJECTED,
    EventType.ORDER_REROUTE_REQUESTED: Trigger.REROUTED_BY_PERSON,
    EventType.ORDER_CHANGED: Trigger.ORDER_CHANGED,
}
_ROUTED = EventType.ORDER_ROUTED
_HELD = EventType.ORDER_HELD
# The only events `decisions_of` looks at: the others of an order may be left out.
DECISION_EVENT_TYPES = frozenset({*_TRIGGERS, _ROUTED, _HELD})


@dataclass(frozen=True)
class DecisionRecord:
    n: int  # 1-based position among the order's decisions (what a re-run names)
    sequence: int  # the order's event version that recorded it
    decided_at: str
    trigger: Trigger
    outcome: Outcome
    policy_id: str | None
    policy_version: int | None
    decision_digest: str
    inputs_digest: str | None  # None: not recorded (a hold recorded before it was)
    shipments: int  # shipments this decision requested
    actor: str
    explanation: str | None
    decision: RoutingDecision
    # Whether the inputs named by inputs_digest are in the store (the store says; None: not
    # asked). Decisions recorded before inputs were kept cannot be re-run.
    inputs_recorded: bool | None = None

    def to_dict(self) -> dict[str, Any]:
        return {
            "n": self.n,
            "sequence": self.sequence,
            "decided_at": self.decided_at,
            "trigger": str(self.trigger),
            "outcome": str(self.outcome),
            "policy": {"id": self.policy_id, "version": self.policy_version},
            "decision_digest": self.decision_digest,
            "inputs_digest": self.inputs_digest,
            "inputs_recorded": self.inputs_recorded,
            "shipments": self.shipments,
            "actor": self.actor,
            "explanation": self.explanation,
            "decision": self.decision.plain(),
        }


def decisions_of(events: Iterable[EventEnvelope], explained: bool = True) -> list[DecisionRecord]:
    """The decisions in one order's history (its events in sequence order); their text
    explanation not written when not `explained` (a re-run does not show it)."""
    out: list[DecisionRecord] = []
    trigger: Trigger | None = None
    for env in events:
        if env.type in _TRIGGERS:
            trigger = _TRIGGERS[env.type]
            continue
        if env.type not in (_ROUTED, _HELD):
            continue
        recorded = env.data.get("decision")
        if not isinstance(recorded, dict):
            continue  # a hold without a routing decision behind it
        decision = RoutingDecision.from_plain(recorded)
        record = _record(
            len(out) + 1, env, decision, trigger or Trigger.BACKORDER_WAKEUP, explained
        )
        out.append(record)
        trigger = None
    return out


def _record(
    n: int, env: EventEnvelope, decision: RoutingDecision, trigger: Trigger, explained: bool
) -> DecisionRecord:
    data = env.data
    shipments = decision.shipments
    if env.type == _HELD:
        outcome = Outcome.HELD
        shipments = {}  # a held decision requests nothing
    elif data.get("unroutable_reason"):
        outcome = Outcome.UNROUTABLE
    elif data.get("waiting_lines"):
        outcome = Outcome.BACKORDERED
    else:
        outcome = Outcome.SPLIT if len(shipments) > 1 else Outcome.ROUTED
    return DecisionRecord(
        n=n,
        sequence=env.sequence,
        decided_at=decision.decided_at.isoformat(),
        trigger=trigger,
        outcome=outcome,
        policy_id=data.get("policy_id") or decision.policy.id,
        policy_version=data.get("policy_version") or decision.policy.version,
        decision_digest=data.get("decision_digest") or record_digest(decision),
        inputs_digest=data.get("inputs_digest"),
        shipments=len(shipments),
        actor=str(env.actor),
        explanation=_explanation(data.get("explanation"), decision) if explained else None,
        decision=decision,
    )


def _explanation(stored: str | None, decision: RoutingDecision) -> str | None:
    """Stored by earlier releases; written from the record when read since then."""
    if stored:
        return stored
    return None if decision.explanation is None else explain_record(decision)
