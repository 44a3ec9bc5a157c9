"""An order's routing decisions, all of them, read from its event history."""

import dataclasses
import functools
import threading
import weakref
from collections import OrderedDict
from collections.abc import Callable, Sequence
from dataclasses import dataclass
from typing import TYPE_CHECKING, Any
from uuid import UUID

from eventsourcing.persistence import StoredEvent
from eventsourcing.utils import TopicError, get_topic, resolve_topic

from aggregates.contract import event_type_of
from aggregates.decision_inputs import recorded_inputs_id
from aggregates.order import Order
from hub.store import OrderStore
from projections.decision_history import DECISION_EVENT_TYPES, DecisionRecord, decisions_of
from schemas.decision_record import DecisionRecord as RoutingDecision
from schemas.envelope import EventEnvelope
from schemas.event_types import EventType

_PLACED = EventType.ORDER_PLACED
_NEEDED = DECISION_EVENT_TYPES | {None}

# The decisions of the last orders re-run, per store, as a re-run reads them, with the version
# of the order's last event they were read up to. An order's events are appended, never
# changed: while its last version is the same, so are its decisions, and a re-run of a
# decision again (or of another of the order's) asks only for that version instead of reading
# and decoding its events (each `Routed` event at 200 candidates is 53 kB of JSON: ~0.8 ms).
# Few. Each kept decision holds its stored event, not its decoded record (`_Unread`).
KNOWN_ORDERS = 16
_KEPT: "weakref.WeakKeyDictionary[OrderStore, OrderedDict[UUID, tuple[int, OrderDecisions]]]" = (
    weakref.WeakKeyDictionary()
)
_KEPT_LOCK = threading.Lock()  # the API re-runs in several threads


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
    written: at 200 candidates, more than the re-run itself), kept for the next re-run."""
    found = _kept(store, order_id) if for_rerun else _read(store, order_id, explained=True)[2]
    if found is None:
        return None
    decisions = list(found.decisions)  # the caller's own list: what is kept stays as read
    if inputs_recorded:
        decisions = [
            dataclasses.replace(d, inputs_recorded=_recorded(store, d.inputs_digest))
            for d in decisions
        ]
    return OrderDecisions(order_id, found.channel, decisions)


def _kept(store: OrderStore, order_id: UUID) -> OrderDecisions | None:
    """The order's decisions without their text: those kept if the order has no event since
    they were read, else read (and kept). Only a kept order's last event is asked for: an
    order not kept is read at once (that query tells an unknown order too)."""
    with _KEPT_LOCK:
        kept = _KEPT.setdefault(store, OrderedDict())
        found = kept.get(order_id)
    if found is not None:
        last = store.events.recorder.select_events(order_id, desc=True, limit=1)
        if last and found[0] == last[0].originator_version:
            with _KEPT_LOCK:
                if order_id in kept:
                    kept.move_to_end(order_id)
            return found[1]
    version, stored, read = _read(store, order_id, explained=False)
    if read is not None:
        unread = _unread(read, stored, store.envelope_reader.envelope)
        with _KEPT_LOCK:
            kept[order_id] = (version, unread)  # the version of the last event read
            kept.move_to_end(order_id)
            while len(kept) > KNOWN_ORDERS:
                kept.popitem(last=False)
    return read


def _read(
    store: OrderStore, order_id: UUID, explained: bool
) -> tuple[int, Sequence[StoredEvent], OrderDecisions | None]:
    """The version of the order's last event, its stored events, its decisions read from them."""
    # Read from the stored JSON (`hub.stored_envelopes`: the envelopes `to_envelope` makes):
    # through the mapper, each Routed event's record of 200 candidates was decoded by the
    # library's JSON hook, 2-2.5 ms of a re-run's 6-8. Only the events the decisions are made
    # of are read (and the first, which says whether this is an order and its channel).
    read = store.envelope_reader.envelope
    stored = store.events.recorder.select_events(order_id)
    envelopes = [read(e) for i, e in enumerate(stored) if i == 0 or _type_of(e.topic) in _NEEDED]
    if not envelopes or envelopes[0].type != _PLACED:
        return 0, stored, None
    channel = str(envelopes[0].data.get("channel", ""))
    decisions = decisions_of(envelopes, explained=explained)
    return stored[-1].originator_version, stored, OrderDecisions(order_id, channel, decisions)


def _unread(
    read: OrderDecisions,
    stored: Sequence[StoredEvent],
    envelope: Callable[[StoredEvent], EventEnvelope],
) -> OrderDecisions:
    """The decisions to keep: each one's record left in its stored event (`_Unread`)."""
    by_version = {e.originator_version: e for e in stored}
    decisions = [
        d
        if d.sequence not in by_version
        else dataclasses.replace(d, decision=_Unread(by_version[d.sequence], envelope))
        for d in read.decisions
    ]
    return OrderDecisions(read.order_id, read.channel, decisions)


class _Unread(RoutingDecision):
    """A kept decision's record, decoded again from its stored event (as it was the first
    time) only when read: a re-run reads it only for a difference, the digest telling the
    rest. Decoded, a record of 200 candidates is ~860 lists and dicts; kept so, each first
    re-run of an order left them to the cyclic collector, whose passes then scanned them."""

    __slots__ = ("_envelope", "_stored")

    def __init__(
        self, stored: StoredEvent, envelope: Callable[[StoredEvent], EventEnvelope]
    ) -> None:
        object.__setattr__(self, "_stored", stored)
        object.__setattr__(self, "_envelope", envelope)

    if not TYPE_CHECKING:

        def __getattr__(self, name: str) -> Any:
            if name != "_plain":
                return super().__getattr__(name)
            plain = self._envelope(self._stored).data["decision"]
            object.__setattr__(self, "_plain", plain)
            return plain


@functools.lru_cache(maxsize=256)
def _type_of(topic: str) -> str | None:
    """The event type of a stored topic; None if it names no class here (read, to tell)."""
    try:
        return event_type_of(resolve_topic(topic))
    except TopicError:
        return None


# The events that record a decision (what `latest_decided_order` looks for).
_DECIDED_TOPICS = [get_topic(Order.Routed), get_topic(Order.Held)]  # type: ignore[attr-defined]


def latest_decided_order(
    store: OrderStore, look_back: int = 2_000, window: int = 64
) -> UUID | None:
    """The order of the newest decision among the store's last `look_back` notifications
    (read back `window` at a time); None if there is none."""
    for newest in store.newest_notifications(_DECIDED_TOPICS, look_back, window):
        found = newest.originator_id
        return found if isinstance(found, UUID) else UUID(found)
    return None


def _recorded(store: OrderStore, digest: str | None) -> bool:
    if not digest:
        return False
    return any(True for _ in store.events.get(recorded_inputs_id(digest), limit=1))


def forget_orders() -> None:
    """Drop the decisions kept (a benchmark measuring cold re-runs, as in a new process)."""
    with _KEPT_LOCK:
        _KEPT.clear()
