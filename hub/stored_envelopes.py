"""Stored events to public envelopes, read straight from the stored JSON.

The embedded views lane, the relay and every reader of the log turn each stored event into its
public envelope. Through the store's mapper that is the library's JSON decoder with its object
hook, the event's typed values built, then every value walked back into JSON values
(`aggregates.contract.to_envelope`). Here the stored JSON is parsed with orjson; the top
level's tagged values (ids, amounts, times) are decoded by the store's own transcodings and
made public as `to_envelope` makes them (a UTC time: its stored text); a value field likewise,
but where its stored JSON values are provably its public data (the decision record's
``plain()``, plain line lists, a submission in its dumped form): those are kept as they are.
So the envelope is the mapper's. What this cannot read exactly as the mapper goes through it:
a cipher or compressor, other transcodings, a class that upcasts, tagged values below the top
level, JSON orjson reads otherwise (19 digits or more in a run, NaN, lone surrogates).
"""

import dataclasses
import re
import types
import typing
from collections.abc import Callable, Hashable
from dataclasses import dataclass
from datetime import datetime
from typing import Any, NamedTuple, cast
from uuid import UUID

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
from hub import stored_submission
from schemas.envelope import EventEnvelope
from schemas.submission import OrderSubmission

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
class _Splice:
    """Where a topic's one value field that is public as stored (the decision record) stands
    in its stored JSON: the bytes of its key and of the key the class writes after it."""

    name: str
    key: bytes  # b',"decision":'
    end: bytes  # b',"decision_digest":' (the field after it, in the class's order)
    required: frozenset[str]  # the other fields every stored event of the class holds


@dataclass(frozen=True)
class _Kind:
    """What reading one stored topic's events needs, worked out once per topic."""

    event_class: type
    values: dict[str, Public]  # value fields: the stored JSON values -> the public ones
    splice: _Splice | None = None


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
        self.spliced = 0  # events whose decision record was left unparsed (tests, benchmarks)

    def envelope(self, stored: StoredEvent) -> EventEnvelope:
        found = self.decoded(stored) if self._names is not None else None
        if found is None:
            return self.mapper_envelope(stored)
        return envelope_of(*found)

    def mapper_envelope(self, stored: StoredEvent) -> EventEnvelope:
        """The envelope through the mapper (the events `decoded` cannot read)."""
        self.through_mapper += 1
        return to_envelope(self._mapper.to_domain_event(stored))

    def decoded(self, stored: StoredEvent, spliced: bool = False) -> Decoded | None:
        """The event read straight from its stored JSON, or None where only the mapper reads
        it exactly (`spliced`: its data by `spliced_parts`, for orjson to write only)."""
        read = self.spliced_parts if spliced else self.parts
        found = read(stored.topic, stored.state)
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
        kind = self._kind(topic)
        return None if kind is None else self._parts(kind, raw)

    def spliced_parts(
        self, topic: str, raw: bytes
    ) -> tuple[type, dict[str, Any], dict[str, Any]] | None:
        """`parts`, but the value field public as stored (a `Routed`'s or `Held`'s decision
        record, most of their bytes) left unparsed: its stored bytes cut out of the JSON before
        the rest is parsed, and put in the data as an `orjson.Fragment`, which orjson writes as
        it is. The data is then only for writing by orjson (the relay's value): the same JSON
        as `parts` gives, but the record's keys in their stored order, not sorted, and its
        figures as stored (`1e-05`, not orjson's `1e-5`). Where the cut is not certain to be
        that one value (see `_cut`), or the rest not every field the class always writes, it
        is `parts`."""
        kind = self._kind(topic)
        if kind is None:
            return None
        splice = kind.splice
        cut = None if splice is None else _cut(raw, splice)
        if cut is None:
            return self._parts(kind, raw)
        found = self._parts(kind, cut[0])
        assert splice is not None
        if found is None or not splice.required <= found[1].keys():
            return self._parts(kind, raw)
        found[2][splice.name] = orjson.Fragment(cut[1])
        self.spliced += 1
        return found

    def _kind(self, topic: str) -> _Kind | None:
        if self._names is None:
            return None
        kind = self._kinds.get(topic, _UNKNOWN)
        if kind is _UNKNOWN:
            kind = self._kinds[topic] = _kind_of(topic)
        return cast(_Kind | None, kind)

    def _parts(self, kind: _Kind, raw: bytes) -> tuple[type, dict[str, Any], dict[str, Any]] | None:
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
        data: dict[str, Any] = {}
        for name, value in state.items():
            if (
                tags
                and type(value) is dict
                and len(value) == 2
                and "_type_" in value
                and "_data_" in value
            ):
                found = self._untagged(name, value, values)
                if found is None:
                    return None  # the mapper raises the library's error for it
                value = state[name] = found[0]
                tags -= 1
                if found[1] is not None:
                    data[name] = found[1]
                    continue
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

    def _untagged(
        self, name: str, tagged: dict[str, Any], values: dict[str, Public]
    ) -> tuple[Any, str | None] | None:
        """A tagged value decoded, with its public text where that is provably the stored
        one (`_utc_text`); None for a transcoding the store lacks."""
        names = self._names
        assert names is not None
        transcoding = names.get(tagged["_type_"])
        if transcoding is None:
            return None
        text = tagged["_data_"]
        if transcoding.name != "datetime_iso" or type(text) is not str:
            return transcoding.decode(text), None
        # The library's decode (`DatetimeAsISO`: the reader takes no other), without its call.
        decoded = datetime.fromisoformat(text)
        if name in values or name in NOT_DATA or not _utc_text(text):
            return decoded, None
        return decoded, text


_UNKNOWN: Any = object()
# A UTC time as `isoformat()` writes it (ASCII digits, six of fraction only when not zero):
# `fromisoformat` reads it back with the UTC zone, so its public text (`astimezone(UTC)
# .isoformat()`) is this very text. Anything else is made public by `public_value`.
_UTC = re.compile(r"[0-9]{4}-[0-9]{2}-[0-9]{2}T[0-9]{2}:[0-9]{2}:[0-9]{2}(?:\.[0-9]{6})?\+00:00")


def _utc_text(text: str) -> bool:
    return _UTC.fullmatch(text) is not None and not text.endswith(".000000+00:00")


def _kind_of(topic: str) -> _Kind | None:
    event_class = resolve_topic(topic)
    if getattr(event_class, "class_version", 1) != 1:
        return None  # upcast by the mapper
    try:
        hints = typing.get_type_hints(event_class)
    except (NameError, TypeError):
        hints = {}
    codecs = value_fields(event_class)
    values = {name: _public(c.load, _test_of(hints.get(name))) for name, c in codecs.items()}
    plain = [name for name, c in codecs.items() if c.plain]
    return _Kind(event_class, values, _splice_of(event_class, plain))


def _splice_of(event_class: type, plain: list[str]) -> _Splice | None:
    """The splice of a class with one value field public as stored (`ReadsItself`: its
    stored JSON values are its public data) and a field after it in the class's order, which
    its writers follow (the mapper writes an event's fields in that order; the writers of the
    stored form keep it: hub.services.routed_events)."""
    if len(plain) != 1 or not dataclasses.is_dataclass(event_class):
        return None
    names = [f.name for f in dataclasses.fields(event_class)]
    at = names.index(plain[0]) if plain[0] in names else len(names)
    if at + 1 >= len(names) or not _all_scalar(event_class, names[:at]):
        return None
    # The fields before it and the next: every release wrote them (later ones may be absent
    # from older events, which the class's fields do not tell).
    required = frozenset(names[: at + 2]) - _NOT_STORED - {plain[0]}
    return _Splice(
        plain[0], b',"%s":' % plain[0].encode(), b',"%s":' % names[at + 1].encode(), required
    )


def _all_scalar(event_class: type, names: list[str]) -> bool:
    """Whether the fields are all written as texts, figures or tagged times: none can hold the
    spliced field's key, so the first such key is the top level's (`_cut`)."""
    try:
        hints = typing.get_type_hints(event_class)
    except (NameError, TypeError):
        return False
    return all(_scalar(hints.get(name)) for name in names if name not in _NOT_STORED)


def _scalar(hint: Any) -> bool:
    if typing.get_origin(hint) in (typing.Union, types.UnionType):
        return all(arg in _SCALARS for arg in typing.get_args(hint))
    return hint in _SCALARS


_SCALARS = (str, int, float, bool, datetime, UUID, type(None))
# Fields the mapper keeps out of the stored JSON (the row's columns).
_NOT_STORED = frozenset({"originator_id", "originator_version"})
# In a value left unparsed: what the parse would refuse or read otherwise (NaN, infinities, an
# escape, which may be a lone surrogate: any escape, one byte is found fastest), or a tagged
# value (the mapper decodes it).
_UNSPLICED = (b"\\", _TAG, b"NaN", b"Infinity")


def _cut(raw: bytes, splice: _Splice) -> tuple[bytes, bytes] | None:
    """The stored JSON without the field, and the field's value, where that is certain once
    the rest parses (the caller parses it, and falls back to the whole where it does not).

    `,"name":` with its quotes bare stands only where a key does (a quote inside a text is
    escaped), so both cuts are at keys, outside any text. The rest parses only if both are at
    the same depth: the field's key is the first such (the fields before it are texts, figures
    and tagged times: `_splice_of`), the next field's the last (the record itself may hold a
    key of that name, as a `Held`'s decision holds `explanation`), and where either stands
    deeper the rest closes more than it opened. Between them the writers write no other field
    (the class's order), and a field of the class cut out with them would be missing from
    what is parsed (the caller's `required`). The value must be an object (the record; None
    and anything else go the whole way)."""
    key, end = splice.key, splice.end
    start = raw.find(key)
    stop = raw.rfind(end)
    if start < 0 or stop <= start:
        return None
    value = raw[start + len(key) : stop]
    if value[:1] != b"{" or value[-1:] != b"}":
        return None
    for mark in _UNSPLICED:
        if mark in value:
            return None
    return raw[:start] + raw[stop:], value


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


def _test_of(hint: Any) -> Callable[[Any], bool] | None:
    """The test that a field's stored JSON values are public as they are, if it has one: an
    order's submission has its own (`hub.stored_submission`), plain line lists `_as_stored`."""
    if hint is OrderSubmission or hint == OrderSubmission | None:
        return stored_submission.as_stored
    return _as_stored(hint)


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
