"""An order's routing decisions, all of them, read from its event history."""

import dataclasses
import functools
from dataclasses import dataclass
from uuid import UUID

from eventsourcing.utils import TopicError, resolve_topic

from aggregates.contract import event_type_of
from aggregates.decision_inputs import recorded_inputs_id
from hub.store import OrderStore
from projections.decision_history import DECISION_EVENT_TYPES, DecisionRecord, decisions_of
from schemas.event_types import EventType

_PLACED = EventType.ORDER_PLACED
_NEEDED = DECISION_EVENT_TYPES | {None}


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
    written: at 200 candidates, more than the re-run itself)."""
    # Read from the stored JSON (`hub.stored_envelopes`: the envelopes `to_envelope` makes):
    # through the mapper, each Routed event's record of 200 candidates was decoded by the
    # library's JSON hook, 2-2.5 ms of a re-run's 6-8. Only the events the decisions are made
    # of are read (and the first, which says whether this is an order and its channel).
    read = store.envelope_reader.envelope
    stored = store.events.recorder.select_events(order_id)
    envelopes = [read(e) for i, e in enumerate(stored) if i == 0 or _type_of(e.topic) in _NEEDED]
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


@functools.lru_cache(maxsize=256)
def _type_of(topic: str) -> str | None:
    """The event type of a stored topic; None if it names no class here (read, to tell)."""
    try:
        return event_type_of(resolve_topic(topic))
    except TopicError:
        return None


def _recorded(store: OrderStore, digest: str | None) -> bool:
    if not digest:
        return False
    return any(True for _ in store.events.get(recorded_inputs_id(digest), limit=1))
