"""The one mapper between domain events and stored events, for events that carry values.

An event's fields are typed by its method's signature (the event decorator copies them). A
field whose type holds a value object (a pydantic model or a frozen dataclass) is written as
the value's JSON, which is what earlier releases stored as a plain dict, and read back by
pydantic as the value: stored events of those releases load unchanged, with no upcaster. The
other fields go through the library's transcoder as before.
"""

import dataclasses
import functools
import typing
from typing import Any
from uuid import UUID

from eventsourcing.domain import DomainEventProtocol
from eventsourcing.persistence import Mapper, StoredEvent
from pydantic import BaseModel, TypeAdapter


class TypedMapper(Mapper[UUID]):
    def to_stored_event(self, domain_event: DomainEventProtocol[UUID]) -> StoredEvent:
        values = value_fields(type(domain_event))
        if values:
            state = dict(vars(domain_event))
            for name, adapter in values.items():
                if name in state:
                    state[name] = adapter.dump_python(state[name], mode="json")
            plain = object.__new__(type(domain_event))
            object.__setattr__(plain, "__dict__", state)
            domain_event = plain
        return super().to_stored_event(domain_event)

    def to_domain_event(self, stored_event: StoredEvent) -> DomainEventProtocol[UUID]:
        domain_event = super().to_domain_event(stored_event)
        state = vars(domain_event)
        for name, adapter in value_fields(type(domain_event)).items():
            if state.get(name) is not None:
                state[name] = adapter.validate_python(state[name])
        return domain_event


@functools.cache
def value_fields(event_class: type) -> dict[str, TypeAdapter[Any]]:
    """The fields of an event class whose type holds a value object, each with its adapter."""
    try:
        hints = typing.get_type_hints(event_class)
    except (NameError, TypeError):
        hints = dict(getattr(event_class, "__annotations__", {}))
    return {name: TypeAdapter(hint) for name, hint in hints.items() if _holds_value(hint)}


def _holds_value(hint: Any) -> bool:
    if isinstance(hint, type) and (issubclass(hint, BaseModel) or dataclasses.is_dataclass(hint)):
        return True
    return any(_holds_value(arg) for arg in typing.get_args(hint))
