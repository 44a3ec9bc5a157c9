"""An order's routing decisions, all of them, read from its event history."""

import dataclasses
from dataclasses import dataclass
from typing import Any
from uuid import UUID

from eventsourcing.domain import DomainEventProtocol

from aggregates.contract import (
    NOT_DATA,
    envelope_of,
    public_value,
    reads_itself,
    to_envelope,
)
from aggregates.decision_inputs import recorded_inputs_id
from hub.store import OrderStore
from projections.decision_history import DecisionRecord, decisions_of
from schemas.envelope import EventEnvelope
from schemas.event_types import EventType

_PLACED = EventType.ORDER_PLACED


@dataclass(frozen=True)
class OrderDecisions:
    order_id: UUID
    channel: str
    decisions: list[DecisionRecord]


def order_decisions(
    store: OrderStore, order_id: UUID, inputs_recorded: bool = True, for_rerun: bool = False
) -> OrderDecisions | None:
    """Every decision of the order in the order it was taken, each saying whether its inputs
    are recorded (so it can be re-run; not looked up, one query per decision, when
    `inputs_recorded` is False: a re-run finds out by reading them); None for an unknown
    order. `for_rerun`: the decisions as a re-run reads them, without their text (not
    written) and sharing the stored events' values (not copied): at 200 candidates, writing
    the text and copying the record cost more than the re-run itself."""
    events = store.events.get(order_id)
    envelopes = [_shared_envelope(e) if for_rerun else to_envelope(e) for e in events]
    if not envelopes or envelopes[0].type != _PLACED:
        return None
    channel = str(envelopes[0].data.get("channel", ""))
    decisions = decisions_of(envelopes, explained=not for_rerun)
    if inputs_recorded:
        decisions = [
            dataclasses.replace(d, inputs_recorded=_recorded(store, d.inputs_digest))
            for d in decisions
        ]
    return OrderDecisions(order_id, channel, decisions)


def _shared_envelope(event: DomainEventProtocol[Any]) -> EventEnvelope:
    """`to_envelope(event)` whose data holds the event's own records (their plain values, read
    only here) rather than copies of them."""
    state: dict[str, Any] = dict(event.__dict__)
    data = {k: _shared(v) for k, v in state.items() if k not in NOT_DATA}
    return envelope_of(type(event), event.originator_id, int(event.originator_version), state, data)


def _recorded(store: OrderStore, digest: str | None) -> bool:
    if not digest:
        return False
    return any(True for _ in store.events.get(recorded_inputs_id(digest), limit=1))


def _shared(value: Any) -> Any:
    value_type: type = type(value)
    return value.plain() if reads_itself(value_type) else public_value(value)
