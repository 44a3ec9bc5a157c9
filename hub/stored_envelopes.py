"""Stored events to public envelopes, read straight from the stored JSON.

The embedded views lane, the relay and every reader of the log turn each stored event into its
public envelope. Through the store's mapper that is the library's JSON decoder with its object
hook, the event's typed values built (the decision record, the order's lines ...), and then
every value walked back into JSON values (`aggregates.contract.to_envelope`). Here the stored
JSON is parsed with orjson; the top level's tagged values (ids, amounts, times) are decoded by
the store's own transcodings and made public as `to_envelope` makes them; a value field is
read into its value and made public by the same functions, but for a value that keeps the JSON
values it was read from (the decision record, ``plain()``): those are its public data as they
are. So the envelope is the mapper's, built from what the mapper would have built.

An event this cannot read exactly as the mapper would goes through the mapper: a cipher or a
compressor, another transcoder or other transcodings, an event class that upcasts, tagged
values below the top level, JSON that orjson reads otherwise than the standard parser (a run
of 19 digits or more, NaN, lone surrogates).
"""

import dataclasses
import typing
from collections.abc import Callable, Hashable
from dataclasses import dataclass
from typing import Any, NamedTuple, cast

import orjson
from eventsourcing.persistence import (
    DatetimeAsISO,
    DecimalAsStr,
    JSONTranscoder,
    Mapper,
    StoredEvent,
    Transcoding,
    UUIDAsHex,
    find_id_convertor,
)
from eventsourcing.utils import resolve_topic

from aggregates.contract import NOT_DATA, envelope_of, public_value, reads_itself, to_envelope
from aggregates.typed_mapper import value_fields
from schemas.envelope import EventEnvelope

__all__ = ["Decoded", "EnvelopeReader"]

_TAG = b'"_type_"'
# Digits as "0", all else as ".": a run of 19 zeros is a number orjson may read as a float.
_DIGITS = bytes(48 if 48 <= b <= 57 else 46 for b in range(256))
_LONG_RUN = b"0" * 19
# JSON values as orjson reads them (a tuple: isinstance of a union type is slower).
_JSON = (str, int, float, dict, list)
# The transcodings whose decoding this module knows to be the library's own.
_LIBRARY = {"uuid_hex": UUIDAsHex, "decimal_str": DecimalAsStr, "datetime_iso": DatetimeAsISO}

Public = Callable[[Any], Any]


@dataclass(frozen=True)
class _Kind:
    """What reading one stored topic's events needs, worked out once per topic."""

    event_class: type
    values: dict[str, Public]  # value fields: the stored JSON values -> the public ones


class Decoded(NamedTuple):
    """A stored event read from its JSON: what `envelope_of` makes its envelope of."""

    event_class: type
    aggregate_id: Any
    version: int
    state: dict[str, Any]  # the stored fields, the top level's tagged values decoded
    data: dict[str, Any]  # the public data


class EnvelopeReader:
    """Stored events (or notifications) to the envelopes `to_envelope` makes of them."""

    def __init__(self, mapper: Mapper[Any]) -> None:
        self._mapper = mapper
        transcoder = mapper.transcoder
        self._names: dict[str, Transcoding] | None = None
        if (
            isinstance(transcoder, JSONTranscoder)
            and not (mapper.cipher or mapper.compressor)
            and all(type(t) is _LIBRARY.get(n) for n, t in transcoder.names.items())
        ):
            self._names = transcoder.names
        self._kinds: dict[str, _Kind | None] = {}
        self.through_mapper = 0  # events read through the mapper (tests, benchmarks)

    def envelope(self, stored: StoredEvent) -> EventEnvelope:
        found = self.decoded(stored) if self._names is not None else None
        if found is None:
            return self.mapper_envelope(stored)
        return envelope_of(*found)

    def mapper_envelope(self, stored: StoredEvent) -> EventEnvelope:
        """The envelope through the mapper (the events `decoded` cannot read)."""
        self.through_mapper += 1
        return to_envelope(self._mapper.to_domain_event(stored))

    def decoded(self, stored: StoredEvent) -> Decoded | None:
        """The event read straight from its stored JSON, or None where only the mapper reads
        it exactly."""
        found = self.parts(stored.topic, stored.state)
        if found is None:
            return None
        event_class, state, data = found
        id_type = cast(Hashable, type(stored.originator_id))
        aggregate_id = find_id_convertor(event_class, id_type)(stored.originator_id)
        return Decoded(event_class, aggregate_id, int(stored.originator_version), state, data)

    def parts(self, topic: str, raw: bytes) -> tuple[type, dict[str, Any], dict[str, Any]] | None:
        """A stored event's class, its state (the top level's tagged values decoded) and its
        public data, read from its topic and stored JSON alone (no id, no row object: the
        relay reads its rows as plain tuples); None where only the mapper reads it exactly."""
        if self._names is None:
            return None
        kind = self._kinds.get(topic, _UNKNOWN)
        if kind is _UNKNOWN:
            kind = self._kinds[topic] = _kind_of(topic)
        if kind is None:
            return None
        if _LONG_RUN in raw.translate(_DIGITS):
            return None
        try:
            state = orjson.loads(raw)
        except orjson.JSONDecodeError:
            return None
        if not isinstance(state, dict):
            return None
        if state.get("class_version", 1) != 1:
            return None
        data = self._data(state, kind.values, raw.count(_TAG))
        if data is None:
            return None
        state.pop("class_version", None)
        return kind.event_class, state, data

    def _data(
        self, state: dict[str, Any], values: dict[str, Public], tags: int
    ) -> dict[str, Any] | None:
        """The public data, in one pass over the top level: its tagged values decoded in place
        on the way (as the transcoder's object hook does: `envelope_of` reads the times and ids
        from `state`). None if any of the `tags` "_type_" in the JSON is not such a value."""
        names = self._names
        assert names is not None
        data: dict[str, Any] = {}
        for name, value in state.items():
            if (
                tags
                and type(value) is dict
                and len(value) == 2
                and "_type_" in value
                and "_data_" in value
            ):
                transcoding = names.get(value["_type_"])
                if transcoding is None:
                    return None  # the mapper raises the library's error for it
                value = state[name] = transcoding.decode(value["_data_"])
                tags -= 1
            if name in NOT_DATA or name == "class_version":
                continue
            public = values.get(name)
            if public is not None and value is not None:
                data[name] = public(value)
            elif isinstance(value, _JSON) or value is None:
                data[name] = value  # JSON values with no tag in them: public as they are
            else:
                data[name] = public_value(value)  # an id, an amount or a time
        if tags:  # tagged values below the top level (or "_type_" in other places)
            return None
        return data


_UNKNOWN: Any = object()


def _kind_of(topic: str) -> _Kind | None:
    event_class = resolve_topic(topic)
    if getattr(event_class, "class_version", 1) != 1:
        return None  # upcast by the mapper
    try:
        hints = typing.get_type_hints(event_class)
    except (NameError, TypeError):
        hints = {}
    values = {
        name: _public(codec.load, _as_stored(hints.get(name)))
        for name, codec in value_fields(event_class).items()
    }
    return _Kind(event_class, values)


def _public(load: Callable[[Any], Any], as_stored: Callable[[Any], bool] | None) -> Public:
    """A value field's stored JSON values to its public ones: read into the value as the
    mapper reads it, then made public as `to_envelope` makes it, unless the value gives back
    the very JSON values it was read from (those are public as they are), or `as_stored` says
    that reading and making public again would give the same JSON values."""

    def public(stored: Any) -> Any:
        if as_stored is not None and as_stored(stored):
            return stored
        value = load(stored)
        if reads_itself(cast(type, type(value))) and value.plain() is stored:
            return stored
        return public_value(value)

    return public


def _as_stored(hint: Any) -> Callable[[Any], bool] | None:
    """For a list (or a tuple) of plain dataclasses whose fields are texts and integers (an
    order's shipment and return lines): a test that stored JSON values are public as they are.

    pydantic reads a dict of exactly the dataclass's fields, each a `str` or an `int` of exactly
    the field's type, into the dataclass with those very values (no coercion, no default, no
    key dropped), and `to_jsonable_python` writes it back as a dict of the same keys and
    values: the same JSON once sorted. Anything else (a missing or extra key, a float, a bool,
    a text number) goes through pydantic as before."""
    origin, args = typing.get_origin(hint), typing.get_args(hint)
    if origin is tuple and args[1:] == (Ellipsis,):
        args = args[:1]
    if origin not in (list, tuple) or len(args) != 1:
        return None
    item = args[0]
    if not (isinstance(item, type) and dataclasses.is_dataclass(item)):
        return None
    if hasattr(item, "__pydantic_validator__") or hasattr(item, "__post_init__"):
        return None  # a pydantic dataclass or one that changes its values: not plain
    fields = typing.get_type_hints(item)
    if set(fields) != {f.name for f in dataclasses.fields(item)}:
        return None  # class variables or init-only fields
    if not all(kind is str or kind is int for kind in fields.values()):
        return None
    names = fields.keys()
    checks = tuple(fields.items())

    def as_stored(stored: Any) -> bool:
        return type(stored) is list and all(
            type(line) is dict
            and line.keys() == names
            and all(type(line[name]) is kind for name, kind in checks)
            for line in stored
        )

    return as_stored
