"""The one mapper from internal domain events to the public, versioned event contract."""

import functools
from dataclasses import is_dataclass
from datetime import UTC, datetime
from typing import Any

from eventsourcing.domain import DomainEventProtocol
from eventsourcing.utils import get_topic
from pydantic import BaseModel
from pydantic_core import to_jsonable_python

from aggregates.ids import event_id_text
from aggregates.typed_mapper import ReadsItself
from schemas.envelope import EVENT_TYPE_PREFIX, Actor, EventEnvelope

SOURCE = "/orderhub"
SCHEMA_VERSION = 1

# Attributes that travel in the envelope itself, not in its data.
_ENVELOPE_FIELDS = {"originator_id", "originator_version", "timestamp", "actor", "correlation_id"}
# The stored fields that are not the event's public data.
NOT_DATA = frozenset({*_ENVELOPE_FIELDS, "originator_topic"})
# Business time of each event, when the command supplied one (replay never asks the clock).
_TIME_FIELDS = ("received_at", "accepted_at", "rejected_at", "at")


def event_type_for(domain_event: DomainEventProtocol[Any]) -> str:
    """e.g. Order.Placed -> orderhub.order.placed (a member of schemas.event_types.EventType)."""
    return event_type_of(type(domain_event))


@functools.cache
def event_type_of(event_class: type) -> str:
    # Cached, as `source_of`: names were spelt out again for every event the relay published
    # (a seventh of `to_envelope`'s time).
    aggregate_name, _, event_name = _stored_name(event_class).rpartition(".")
    return f"{EVENT_TYPE_PREFIX}{_snake(aggregate_name)}.{_snake(event_name)}"


@functools.cache
def source_of(event_class: type) -> str:
    """The envelope's source of an event class's events, e.g. /orderhub/orders."""
    return f"{SOURCE}/{_snake(_stored_name(event_class).split('.')[0])}s"


def _stored_name(event_class: type) -> str:
    """Aggregate.Event as the event is stored (an Order event defined by a topic's mixin
    class is still Order.<Event>)."""
    return get_topic(event_class).partition(":")[2]


def to_envelope(domain_event: DomainEventProtocol[Any]) -> EventEnvelope:
    """Map a stored domain event to what every consumer sees on Kafka or in-process."""
    state: dict[str, Any] = dict(domain_event.__dict__)
    data = {k: _jsonable(v) for k, v in state.items() if k not in NOT_DATA}
    return envelope_of(
        type(domain_event),
        domain_event.originator_id,
        int(domain_event.originator_version),
        state,
        data,
    )


def envelope_of(
    event_class: type, aggregate_id: Any, version: int, state: dict[str, Any], data: dict[str, Any]
) -> EventEnvelope:
    """The envelope of an event of `event_class`: its attributes from the event's `state` (the
    actor, correlation and times as the domain event holds them), `data` its public data.

    Not validated again: every attribute is made here, of the type the model declares."""
    subject = str(aggregate_id)
    correlation, causation, time, actor = attributes_of(subject, version, state)
    return EventEnvelope.trusted(
        id=event_id_text(subject, version),
        source=source_of(event_class),
        type=event_type_of(event_class),
        subject=subject,
        time=time,
        sequence=version,
        correlationid=correlation,
        causationid=causation,
        actor=Actor.parse(actor),
        schemaversion=SCHEMA_VERSION,
        data=data,
    )


def attributes_of(
    subject: str, version: int, state: dict[str, Any]
) -> tuple[str, str, datetime, str]:
    """An event's correlation, causation, time (UTC) and actor (as text), from its `state`
    (also for the relay's records made without an envelope: hub.stored_records)."""
    correlation = str(state.get("correlation_id") or subject)
    causation = event_id_text(subject, version - 1) if version > 1 else correlation
    # A loop, not next() over a generator: a generator's frame was a third of this function.
    for name in _TIME_FIELDS:
        time = state.get(name)
        if isinstance(time, datetime):
            break
    else:
        time = state["timestamp"]
    actor = str(state.get("actor") or "system:orderhub")
    return correlation, causation, time.astimezone(UTC), actor


def public_value(value: Any) -> Any:
    """A stored field's value as the public data carries it (JSON values)."""
    return _jsonable(value)


def _jsonable(value: Any) -> Any:
    if isinstance(value, datetime):
        return value.astimezone(UTC).isoformat()
    if isinstance(value, dict):
        return {str(k): _jsonable(v) for k, v in value.items()}
    if isinstance(value, list | tuple):
        return [_jsonable(v) for v in value]
    if isinstance(value, str | int | float | bool) or value is None:
        return value
    if isinstance(value, BaseModel) or is_dataclass(value):
        # Values of the order: the JSON their plain dicts had in earlier releases.
        return to_jsonable_python(value)
    value_type: type = type(value)
    if reads_itself(value_type):  # a copy: consumers get data of their own, as before
        return _jsonable(value.plain())
    return str(value)


@functools.cache
def reads_itself(value_type: type) -> bool:
    return issubclass(value_type, ReadsItself)  # a protocol check is slow: once per type


def _snake(name: str) -> str:
    out = []
    for i, ch in enumerate(name):
        if ch.isupper() and i:
            out.append("_")
        out.append(ch.lower())
    return "".join(out)
