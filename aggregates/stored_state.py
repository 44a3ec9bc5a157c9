"""Events' stored JSON read by orjson, into what the library's transcoder reads from it.

Every aggregate load (an order for routing, the stock items a batch reserves on, an order the
API shows) turns its stored events back into domain events. The library's `JSONTranscoder`
reads each state with the standard library's decoder and an object hook called for every JSON
object (the order's submission holds some twenty); orjson reads the same text in a fraction of
that, and the only tagged values (`{"_type_", "_data_"}`: ids, amounts, times) an event's state
holds are its top-level fields, decoded here by the transcoder's own transcodings. The values
given are those the transcoder gives, so the fast way is taken only where that is known:

- the transcoder is the library's own with the library's transcodings only (another one may
  hold tagged values inside its data, decoded inside out by the hook);
- orjson reads the text as the standard library does: no run of 19 digits or more (an integer
  beyond 64 bits, which orjson may read otherwise), nothing orjson refuses (NaN, infinities,
  lone surrogates: those are read the standard way);
- every ``"_type_"`` in the text is a tag of a top-level value (a tag below the top level, or
  the word used otherwise, is read the standard way).
"""

from collections.abc import Callable
from typing import Any

import orjson
from eventsourcing.persistence import (
    DatetimeAsISO,
    DecimalAsStr,
    JSONTranscoder,
    Transcoding,
    UUIDAsHex,
)

__all__ = ["LONG_RUN", "TAG", "digits_of", "library_names", "stored_state"]

TAG = b'"_type_"'
# Digits as "0", all else as ".": a run of 19 zeros is a number orjson may read as a float.
_DIGITS = bytes(48 if 48 <= b <= 57 else 46 for b in range(256))
LONG_RUN = b"0" * 19
# The transcodings whose decoding is known to be the library's own (their data are texts).
_LIBRARY = {"uuid_hex": UUIDAsHex, "decimal_str": DecimalAsStr, "datetime_iso": DatetimeAsISO}


def digits_of(raw: bytes) -> bytes:
    """`raw` with each digit as "0" and all else as "." (`LONG_RUN in digits_of(raw)`: a run
    of 19 digits or more, which orjson may read otherwise than the standard library)."""
    return raw.translate(_DIGITS)


def library_names(transcoder: Any) -> dict[str, Transcoding] | None:
    """The transcoder's transcodings by name if it is the library's `JSONTranscoder` with the
    library's own transcodings only; None otherwise."""
    if type(transcoder) is not JSONTranscoder:
        return None
    names: dict[str, Transcoding] = transcoder.names
    if all(type(t) is _LIBRARY.get(n) for n, t in names.items()):
        return names
    return None


def stored_state(transcoder: Any, raw: bytes) -> dict[str, Any]:
    """`transcoder.decode(raw)` of an event's stored state, by orjson where it reads the same."""
    state = _direct(transcoder, raw)
    if state is None:
        decoded: dict[str, Any] = transcoder.decode(raw)
        return decoded
    return state


def _direct(transcoder: Any, raw: bytes) -> dict[str, Any] | None:
    names = library_names(transcoder)
    if names is None or LONG_RUN in raw.translate(_DIGITS):
        return None
    try:
        state = orjson.loads(raw)
    except orjson.JSONDecodeError:
        return None
    if type(state) is not dict:
        return None
    tags = raw.count(TAG)
    if not tags:
        return state
    decode: dict[str, Callable[[Any], Any]] = {}
    for name, value in state.items():
        if type(value) is dict and len(value) == 2 and "_type_" in value and "_data_" in value:
            transcoding = names.get(value["_type_"])
            if transcoding is None:
                return None  # the transcoder raises the library's error for it
            decode[name] = transcoding.decode
            tags -= 1
    if tags:  # tagged values below the top level, or "_type_" used otherwise
        return None
    for name, decoder in decode.items():
        state[name] = decoder(state[name]["_data_"])
    return state
