"""The one mapper between domain events and stored events, for events that carry values.

An event's fields are typed by its method's signature (the event decorator copies them). A
field whose type holds a value object (a pydantic model or a frozen dataclass) is written as
the value's JSON, which is what earlier releases stored as a plain dict, and read back by
pydantic as the value: stored events of those releases load unchanged, with no upcaster. A
value class that reads itself from its JSON values (``from_plain``) and gives them back
(``plain()``) does so instead of pydantic: the decision record, read with every Routed and Held
event, costs too much to validate as a model. The other fields go through the store's
transcoder (the library's JSON, read by orjson: `aggregates.stored_reads`).
"""

import dataclasses
import functools
import typing
from collections.abc import Callable
from typing import Any, NamedTuple, Protocol, Self, runtime_checkable
from uuid import UUID

from eventsourcing.domain import DomainEventProtocol
from eventsourcing.persistence import Mapper, MapperDeserialisationError, StoredEvent
from eventsourcing.utils import get_topic
from pydantic import BaseModel, TypeAdapter

from aggregates.stored_json import stored_json


class TypedMapper(Mapper[UUID]):
    def to_stored_event(self, domain_event: DomainEventProtocol[UUID]) -> StoredEvent:
        # The library's `Mapper.to_stored_event`, its state written by `stored_json`.
        state = dict(vars(domain_event))
        values = value_fields(type(domain_event))
        for name, codec in values.items():
            if state.get(name) is not None:
                state[name] = codec.dump(state[name])
        originator_id = state.pop("originator_id")
        originator_version = state.pop("originator_version")
        class_version = getattr(type(domain_event), "class_version", 1)
        if class_version > 1:
            state["class_version"] = class_version
        stored = stored_json(self.transcoder, state, _plain_fields(type(domain_event)))
        if self.compressor:
            stored = self.compressor.compress(stored)
        if self.cipher:
            stored = self.cipher.encrypt(stored)
        return StoredEvent(
            originator_id=originator_id,
            originator_version=originator_version,
            topic=get_topic(type(domain_event)),
            state=stored,
        )

    def to_domain_event(self, stored_event: StoredEvent) -> DomainEventProtocol[UUID]:
        # The library's (its transcoder reads by orjson: aggregates.stored_reads), then the
        # value fields read into their values; one that does not read names its event.
        domain_event = super().to_domain_event(stored_event)
        state = vars(domain_event)
        for name, codec in value_fields(type(domain_event)).items():
            value = state.get(name)
            if value is not None:
                try:
                    state[name] = codec.load(value)
                except Exception as error:
                    raise MapperDeserialisationError(
                        f"Failed to read the value {name!r} of stored event with topic "
                        f"'{stored_event.topic}', originator_id '{stored_event.originator_id}' "
                        f"and originator_version {stored_event.originator_version}: {error}"
                    ) from error
        return domain_event


@runtime_checkable
class ReadsItself(Protocol):
    """A value written as its own JSON values (``plain()``) and read from them (``from_plain``)."""

    @classmethod
    def from_plain(cls, plain: Any) -> Self: ...

    def plain(self) -> Any: ...


class Codec(NamedTuple):
    """How one field's value is written as JSON values (``dump``) and read back (``load``)."""

    dump: Callable[[Any], Any]
    load: Callable[[Any], Any]
    plain: bool = False  # ``dump`` gives plain JSON values only (a value that reads itself)


@functools.cache
def value_fields(event_class: type) -> dict[str, Codec]:
    """The fields of an event class whose type holds a value object, each with its codec."""
    try:
        hints = typing.get_type_hints(event_class)
    except (NameError, TypeError):
        hints = dict(getattr(event_class, "__annotations__", {}))
    codecs = {name: _codec(hint) for name, hint in hints.items()}
    return {name: codec for name, codec in codecs.items() if codec is not None}


@functools.cache
def _plain_fields(event_class: type) -> frozenset[str]:
    return frozenset(name for name, codec in value_fields(event_class).items() if codec.plain)


def _codec(hint: Any) -> Codec | None:
    reads_itself = _reads_itself(hint)
    if reads_itself is not None:
        return Codec(dump=lambda value: value.plain(), load=reads_itself.from_plain, plain=True)
    if not _holds_value(hint):
        return None
    adapter: TypeAdapter[Any] = TypeAdapter(hint)
    return Codec(
        dump=functools.partial(adapter.dump_python, mode="json"), load=adapter.validate_python
    )


def _reads_itself(hint: Any) -> type[ReadsItself] | None:
    """The class in ``hint`` (``X`` or ``X | None``) that reads and writes its own JSON values."""
    for candidate in (hint, *typing.get_args(hint)):
        if isinstance(candidate, type) and issubclass(candidate, ReadsItself):
            return candidate
    return None


def _holds_value(hint: Any) -> bool:
    if isinstance(hint, type) and (issubclass(hint, BaseModel) or dataclasses.is_dataclass(hint)):
        return True
    return any(_holds_value(arg) for arg in typing.get_args(hint))
