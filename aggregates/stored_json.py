"""Events' stored JSON written by orjson, byte for byte what the library's transcoder writes.

The library's `JSONTranscoder` writes an event's state with the standard library's encoder
(no spaces, UTF-8, a `{"_type_", "_data_"}` object for each value of a registered type). For a
`Routed` or `Held` event, whose decision record holds hundreds of figures, that was ~0.2 ms an
event, most of the orchestration role's encoding (benchmarks/README.md, the orchestration
role's subsection of this session); orjson writes the same text in a tenth of it. The bytes
stored do not change (events of every release read as before; a reader cannot tell), so the
fast way is taken only where it is known to write the same:

- the transcoder is the library's own (no subclass changing how values are written);
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
from collections.abc import Collection
from datetime import date, datetime
from decimal import Decimal
from typing import Any

import orjson
from eventsourcing.persistence import JSONTranscoder

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
) -> bytes:
    """`transcoder.encode(state)`, by orjson where it writes the same bytes. `numbers_in`, when
    given: the only JSON of the state where a number may stand (every other value a text or
    texts), looked at for floats to write again instead of the whole (the intake's `Placed`:
    its submission's values, a third of it; scanning the whole was ~6-9 µs an order)."""
    if type(transcoder) is JSONTranscoder and _writable_state(
        state, plain_fields, transcoder.types
    ):
        try:
            data = orjson.dumps(state, default=transcoder._encode_obj, option=_OPTIONS)
        except (orjson.JSONEncodeError, TypeError):
            data = None
        if data is not None:
            if numbers_in is not None and not may_differ(numbers_in):
                return data
            fixed = as_standard(data)
            if fixed is not None:
                return fixed
    encoded: bytes = transcoder.encode(state)
    return encoded


def _writable_state(
    state: dict[str, Any], plain_fields: Collection[str], registered: Collection[type]
) -> bool:
    # Every field plain (the intake's two events): told by one set operation, not field by field.
    if isinstance(plain_fields, frozenset) and plain_fields.issuperset(state):
        return True
    return all(
        name in plain_fields or _writable(value, registered) for name, value in state.items()
    )


def _writable(value: Any, registered: Collection[type]) -> bool:
    """Whether orjson writes `value` as the standard encoder with these transcodings does."""
    kind = type(value)
    if kind in _SCALARS:
        return True
    if kind is float:
        return math.isfinite(value)
    if kind is list or kind is tuple:
        return all(_writable(item, registered) for item in value)
    if kind is dict:
        return all(type(key) is str and _writable(item, registered) for key, item in value.items())
    return kind in _TRANSCODED and kind in registered
