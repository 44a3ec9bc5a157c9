"""Events' stored JSON written by orjson, byte for byte what the library's transcoder writes.

The library's `JSONTranscoder` writes an event's state with the standard library's encoder
(no spaces, UTF-8, a `{"_type_", "_data_"}` object for each value of a registered type). For a
`Routed` or `Held` event, whose decision record holds hundreds of figures, that was ~0.2 ms an
event, most of the orchestration role's encoding (benchmarks/README.md, the orchestration
role's subsection of this session); orjson writes the same text in a tenth of it. The bytes
stored do not change (events of every release read as before; a reader cannot tell), so the
fast way is taken only where it is known to write the same:

- the transcoder is the library's own (no subclass changing how values are written; the
  store's only reads faster: `stored_reads.library_json`);
- every value is one orjson writes as the standard library does: a text, an integer, a
  finite float, a bool, None, a list or tuple of them, a dict of them under text keys; or a
  datetime, date or Decimal, which orjson hands to the transcoder as the standard library does
  (a UUID or an enum orjson would write itself, unlike the transcoder: those go the standard
  way). Fields whose values write themselves as plain JSON values (`plain_fields`: the
  decision record, built of rounded finite figures and texts) are not walked: they are most
  of the event, and walking them cost what it saves;
- floats below 1e-4 in magnitude are written again as the standard library writes them
  (`orchestration_policies.canonical.as_standard`), and anything orjson refuses (an integer
  beyond 64 bits, a lone surrogate) goes the standard way.
"""

import math
from collections.abc import Collection, Iterable, Mapping
from datetime import date, datetime
from decimal import Decimal
from typing import Any

import orjson
from eventsourcing.persistence import JSONTranscoder

from aggregates.stored_reads import library_json
from orchestration_policies.canonical import as_standard, may_differ

_SCALARS = frozenset({str, int, bool, type(None)})
# Written by the transcoder's registered transcodings (orjson hands them to `default`).
_TRANSCODED = frozenset({datetime, date, Decimal})
_OPTIONS = (
    orjson.OPT_PASSTHROUGH_DATETIME
    | orjson.OPT_PASSTHROUGH_SUBCLASS
    | orjson.OPT_PASSTHROUGH_DATACLASS
)


def stored_json(
    transcoder: Any,
    state: dict[str, Any],
    plain_fields: Collection[str] = (),
    numbers_in: bytes | None = None,
    plain_floats: bool = True,
    written: Mapping[str, bytes] | None = None,
) -> bytes:
    """`transcoder.encode(state)`, by orjson where it writes the same bytes. `numbers_in`, when
    given: the only JSON of the state where a number may stand (every other value a text or
    texts), looked at for floats to write again instead of the whole (the intake's `Placed`:
    its submission's values, a third of it; scanning the whole was ~6-9 µs an order).

    Only a float can be written otherwise (integers, texts, and the transcoder's datetimes,
    dates and Decimals as texts are not), so a state holding none is not scanned: the walk that
    tells whether orjson may write it says so too. `plain_floats=False`: the caller knows its
    plain fields (not walked) hold no float json.dumps writes otherwise (the decision record
    whose canonical JSON needed no fixing: the same figures; hub.services.routed_events).
    `written`: plain fields whose JSON the caller wrote already as json.dumps writes their
    values (their keys may be in another order), put in as they are where orjson writes the
    state; the state's own values where the standard way must."""
    if library_json(transcoder):
        data = _by_orjson(transcoder, state, plain_fields, numbers_in, plain_floats, written)
        if data is not None:
            return data
    encoded: bytes = transcoder.encode(state)
    return encoded


def _by_orjson(
    transcoder: JSONTranscoder,
    state: dict[str, Any],
    plain_fields: Collection[str],
    numbers_in: bytes | None,
    plain_floats: bool,
    written: Mapping[str, bytes] | None = None,
) -> bytes | None:
    """The state written by orjson, its floats written again where json.dumps writes them
    otherwise; None where the standard way must write it."""
    floats = _floats_in(state, plain_fields, transcoder.types)
    if floats is None:
        return None
    if written:
        state = state | {name: orjson.Fragment(text) for name, text in written.items()}
    try:
        data = orjson.dumps(state, default=transcoder._encode_obj, option=_OPTIONS)
    except (orjson.JSONEncodeError, TypeError):
        return None
    if numbers_in is not None:
        scan = may_differ(numbers_in)
    else:  # no float anywhere in it: nothing to write again
        scan = floats or (plain_floats and _any_in(plain_fields, state))
    return as_standard(data) if scan else data


def _any_in(fields: Collection[str], state: dict[str, Any]) -> bool:
    if isinstance(fields, frozenset | set):
        return not fields.isdisjoint(state)
    return any(name in state for name in fields)


# What a value walked holds, for `_floats_in`: not writable by orjson as the standard encoder
# writes it; writable, with no float; writable, holding a float.
_NO, _NO_FLOAT, _FLOAT = 0, 1, 2


def _floats_in(
    state: dict[str, Any], plain_fields: Collection[str], registered: Collection[type]
) -> bool | None:
    """None if orjson may write the state otherwise than the standard encoder (then it is not
    asked), else whether a field outside `plain_fields` holds a float."""
    # Every field plain (the intake's two events): told by one set operation, not field by field.
    if isinstance(plain_fields, frozenset) and plain_fields.issuperset(state):
        return False
    found = _NO_FLOAT
    for name, value in state.items():
        if name in plain_fields:
            continue
        kind = _written(value, registered)
        if kind == _NO:
            return None
        found |= kind
    return found == _FLOAT | _NO_FLOAT


def _written(value: Any, registered: Collection[type]) -> int:
    """Whether orjson writes `value` as the standard encoder with these transcodings does
    (`_NO` if not), and whether it holds a float."""
    kind = type(value)
    if kind in _SCALARS:
        return _NO_FLOAT
    if kind is float:
        return _FLOAT if math.isfinite(value) else _NO
    if kind is list or kind is tuple:
        return _items_written(value, registered)
    if kind is dict:
        return _dict_written(value, registered)
    return _NO_FLOAT if kind in _TRANSCODED and kind in registered else _NO


def writes_plainly(value: Any, registered: Collection[type]) -> bool:
    """Whether orjson writes `value` as the standard encoder with these transcodings does, or
    refuses it (an integer beyond 64 bits: the whole state then goes the standard way): a
    value shared by several events (an order's address in each of its shipment requests) may
    be told once, and then named among their `plain_fields`."""
    return _written(value, registered) != _NO


def _dict_written(value: dict[Any, Any], registered: Collection[type]) -> int:
    if not all(type(key) is str for key in value):
        return _NO
    return _items_written(value.values(), registered)


def _items_written(items: Iterable[Any], registered: Collection[type]) -> int:
    found = _NO_FLOAT
    for item in items:
        written = _written(item, registered)
        if written == _NO:
            return _NO
        found |= written
    return found
