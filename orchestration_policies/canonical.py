"""Canonical JSON, fast: the bytes the standard library writes, written by orjson where they match.

The digests of recorded decisions and inputs are sha256 of canonical JSON as ``json.dumps``
writes it (keys sorted, no spaces, UTF-8, ``ensure_ascii=False``); a stored digest must verify
and a re-run must find the same digest, so these bytes never change. orjson writes the same
bytes for every value a record holds but one kind: a float below 1e-4 in magnitude (``1e-05``
is written ``0.00001``, ``1e-06`` as ``1e-6``), and such a number always leaves ``0.0000`` or a
digit followed by ``e-`` in orjson's text. When either appears (a digit string in a text can
trigger it too: only a cost), or orjson refuses the value (an integer beyond 64 bits, a key
that is not a string, a value it cannot write), the standard library writes it instead.

orjson writes NaN and infinities as ``null``, where the standard library writes ``NaN`` or
refuses them: callers give values without them (decision records and inputs are checked where
they are built: ``orchestration_policies.decision``, ``decision_inputs``).
"""

import json
import math
from typing import Any

import orjson

__all__ = ["canonical_json", "finite", "rounded"]

_DIGITS = frozenset(b"0123456789")
_NUMBER_START = frozenset(b":,[")  # what precedes a number in a JSON text (but at its start)


def canonical_json(value: Any, *, allow_nan: bool = True) -> bytes:
    """``json.dumps(value, sort_keys=True, separators=(",", ":"), ensure_ascii=False,
    allow_nan=allow_nan).encode()``, byte for byte, for values whose floats are finite."""
    try:
        data = orjson.dumps(value, option=orjson.OPT_SORT_KEYS)
    except (orjson.JSONEncodeError, TypeError):
        pass  # the standard library writes it, or says why it cannot
    else:
        if not _may_differ(data):
            return data
    return json.dumps(
        value, sort_keys=True, separators=(",", ":"), ensure_ascii=False, allow_nan=allow_nan
    ).encode()


def finite(value: float) -> float:
    """``value``, which must be a finite number (records and inputs hold no NaN or infinity)."""
    if not math.isfinite(value):
        raise ValueError(f"out of range float values are not JSON compliant: {value!r}")
    return value


def rounded(value: float) -> float:
    """``round(value, 6)``, exactly, in a third of its time; a finite number only.

    ``round`` converts to a decimal string and back. Below 1e12, value x 1e6 is within 2**-13
    of the exact product, so unless it lies within 0.001 of a half its nearest integer m is
    the exact product rounded, and m / 1e6 (one correctly rounded division) is the double
    nearest m x 10**-6: what ``round`` returns. Other values (near a half, large, not finite)
    go through ``round``.
    """
    scaled = value * 1e6
    if -1e12 < scaled < 1e12:
        whole = round(scaled)
        if -0.499 < scaled - whole < 0.499:
            return whole / 1e6
    return round(finite(value), 6)


def _may_differ(data: bytes) -> bool:
    """Whether orjson may have written a float differently: ``0.0000`` anywhere, or a number
    with a negative exponent (found as ``e-`` between digits, in a number: ids and words hold
    ``e-`` too, and a regular expression scanning for it costs more than orjson's writing)."""
    if b"0.0000" in data:
        return True
    at = data.find(b"e-")
    while at > 0:
        if data[at - 1] in _DIGITS and data[at + 2 : at + 3].isdigit():
            start = at - 1
            while start and (data[start - 1] in _DIGITS or data[start - 1] == 46):  # "."
                start -= 1
            if start and data[start - 1] == 45:  # "-": a negative number
                start -= 1
            if not start or data[start - 1] in _NUMBER_START:
                return True
        at = data.find(b"e-", at + 2)
    return False
