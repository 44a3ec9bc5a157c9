"""The library's JSON transcoder, reading events' stored JSON with orjson.

The library's `JSONTranscoder.decode` parses with the standard library's decoder and an
object hook called for every JSON object (to turn `{"_type_", "_data_"}` objects back into
datetimes, decimals ...). Reading a batch's orders in the fulfillment role (fulfil9's
profile) spent ~14 % of a shipped update there. orjson parses the same text into the same
values; only the transcoded objects are then turned back, bottom-up as the hook does, and in
the common case (each of them a field of the event itself, e.g. its time) without walking
the rest. Text orjson refuses (NaN, a lone surrogate, nesting too deep) is read the standard
way, as is any holding a run of 19 digits (orjson reads an integer beyond 64 bits as a float).

Writing is the library's own, unchanged: the store's mapper and the hub's straight writers
write through `aggregates.stored_json` wherever `library_json` says the transcoder writes
the library's JSON, and the stored bytes are the same either way.
"""

from typing import Any

import orjson
from eventsourcing.persistence import JSONTranscoder

_MARK = b'"_type_"'
# orjson reads an integer beyond 64 bits as a float: 19 digits in a row (in a number or a
# text, which costs only the standard read) send the text the standard way. Found by mapping
# every digit to "0" and anything else to " " (a regular expression took longer than the read).
_DIGITS_AS_ZERO = bytes(48 if 48 <= b <= 57 else 32 for b in range(256))
_LONG_RUN = b"0" * 19


class OrjsonReadingTranscoder(JSONTranscoder):
    """`JSONTranscoder` whose `decode` reads by orjson where it reads the same values."""

    def decode(self, data: bytes) -> Any:
        if _LONG_RUN in data.translate(_DIGITS_AS_ZERO):
            return super().decode(data)
        try:
            state = orjson.loads(data)
        except orjson.JSONDecodeError:
            return super().decode(data)
        marks = data.count(_MARK)
        # A transcoded object holds the key `"_type_"` as these bytes (inside a text the quotes
        # would be escaped): as many found among the fields as there are marks, none is nested.
        if marks and (type(state) is not dict or self._revive_fields(state) < marks):
            return self._revive(orjson.loads(data))
        return state

    def _revive_fields(self, state: dict[str, Any]) -> int:
        """Turn back the fields that are transcoded objects of plain data; how many were."""
        if _is_transcoded(state):
            return 0  # the state itself: the whole walk
        revived = 0
        for name, value in state.items():
            if type(value) is dict and _is_transcoded(value):
                if type(value["_data_"]) in (dict, list):
                    return 0  # something inside it may be transcoded: the whole walk
                state[name] = self._decode_obj(value)
                revived += 1
        return revived

    def _revive(self, value: Any) -> Any:
        """Every object turned back as the decoder's hook does: its members first, then itself."""
        kind = type(value)
        if kind is dict:
            for name, item in value.items():
                value[name] = self._revive(item)
            return self._decode_obj(value)
        if kind is list:
            return [self._revive(item) for item in value]
        return value


def _is_transcoded(value: dict[str, Any]) -> bool:
    return len(value) == 2 and "_type_" in value and "_data_" in value


_LIBRARY_JSON = frozenset({JSONTranscoder, OrjsonReadingTranscoder})


def library_json(transcoder: object) -> bool:
    """Whether `transcoder` writes and reads the library's JSON as the library's own does
    (that transcoder, or this module's, which only reads it faster): not a subclass that may
    write values otherwise, so the hub's own readers and writers of that JSON may be used."""
    return type(transcoder) in _LIBRARY_JSON
