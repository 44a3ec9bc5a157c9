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

from collections.abc import Callable, Hashable
from dataclasses import dataclass
from typing import Any, cast

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

__all__ = ["EnvelopeReader"]

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
        found = self._direct(stored) if self._names is not None else None
        if found is None:
            self.through_mapper += 1
            found = to_envelope(self._mapper.to_domain_event(stored))
        return found

    def _direct(self, stored: StoredEvent) -> EventEnvelope | None:
        kind = self._kinds.get(stored.topic, _UNKNOWN)
        if kind is _UNKNOWN:
            kind = self._kinds[stored.topic] = _kind_of(stored.topic)
        if kind is None:
            return None
        raw = stored.state
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
        event_class = kind.event_class
        id_type = cast(Hashable, type(stored.originator_id))
        aggregate_id = find_id_convertor(event_class, id_type)(stored.originator_id)
        return envelope_of(event_class, aggregate_id, int(stored.originator_version), state, data)

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
    values = {name: _public(codec.load) for name, codec in value_fields(event_class).items()}
    return _Kind(event_class, values)


def _public(load: Callable[[Any], Any]) -> Public:
    """A value field's stored JSON values to its public ones: read into the value as the
    mapper reads it, then made public as `to_envelope` makes it, unless the value gives back
    the very JSON values it was read from (those are public as they are)."""

    def public(stored: Any) -> Any:
        value = load(stored)
        if reads_itself(cast(type, type(value))) and value.plain() is stored:
            return stored
        return public_value(value)

    return public
