"""Canonical JSON, fast: the bytes the standard library writes, written by orjson where they match.

The digests of recorded decisions and inputs are sha256 of canonical JSON as ``json.dumps``
writes it (keys sorted, no spaces, UTF-8, ``ensure_ascii=False``); a stored digest must verify
and a re-run must find the same digest, so these bytes never change. orjson writes the same
bytes for every value a record holds but one kind: a float below 1e-4 in magnitude (``1e-05``
is written ``0.00001``, ``1e-06`` as ``1e-6``), and such a number always holds ``0.0000`` or
``e-``. Those numbers (outside texts) are written again as json.dumps writes them; when a text
holds an escape (so that quotes alone do not tell where texts end), or orjson refuses the
value (an integer beyond 64 bits, a key that is not a string, a value it cannot write), the
standard library writes the whole instead.

orjson writes NaN and infinities as ``null``, where the standard library writes ``NaN`` or
refuses them: callers give values without them (decision records and inputs are checked where
they are built: ``orchestration_policies.decision``, ``decision_inputs``).
"""

import json
import math
from collections.abc import Iterable
from typing import Any

import orjson

__all__ = ["as_standard", "canonical_json", "finite", "may_differ", "rounded", "rounded_all"]

_NUMBER = frozenset(b"0123456789.eE+-")  # what a JSON number is written with
_DIGITS = frozenset(b"0123456789")
_BEFORE = frozenset(b":,[")  # what stands before a value in a JSON text (but at its start)
_AFTER = frozenset(b",]}")  # and after it (but at its end)


def canonical_json(value: Any, *, allow_nan: bool = True) -> bytes:
    """``json.dumps(value, sort_keys=True, separators=(",", ":"), ensure_ascii=False,
    allow_nan=allow_nan).encode()``, byte for byte, for values whose floats are finite."""
    try:
        data = orjson.dumps(value, option=orjson.OPT_SORT_KEYS)
    except (orjson.JSONEncodeError, TypeError):
        return _standard(value, allow_nan)  # which writes it, or says why it cannot
    fixed = as_standard(data)
    return fixed if fixed is not None else _standard(value, allow_nan)


def as_standard(data: bytes) -> bytes | None:
    """orjson's text `data` as the standard library writes the same value: each float below
    1e-4 in magnitude written again as json.dumps writes it; None when a text holding an escape
    keeps quotes from telling where texts end (the caller then writes it the standard way)."""
    spots = _spots(data)
    if not spots:
        return data
    if b"\\" in data:  # an escape in a text: where texts end is not told by quotes alone
        return None
    # Each such number written as json.dumps writes it (the repr of the float orjson wrote:
    # both write the shortest digits that read back as the same float).
    out: list[bytes] = []
    last = counted = quotes = 0
    for begin, end in spots:
        quotes += data.count(b'"', counted, begin)
        counted = begin
        if quotes % 2:  # inside a text: not a number
            continue
        out += (data[last:begin], repr(float(data[begin:end])).encode())
        last = end
    out.append(data[last:])
    return b"".join(out)


def _standard(value: Any, allow_nan: bool) -> bytes:
    return json.dumps(
        value, sort_keys=True, separators=(",", ":"), ensure_ascii=False, allow_nan=allow_nan
    ).encode()


def finite(value: float) -> float:
    """``value``, which must be a finite number (records and inputs hold no NaN or infinity)."""
    if not math.isfinite(value):
        raise ValueError(f"out of range float values are not JSON compliant: {value!r}")
    return value


def rounded(value: float) -> float:
    """``round(value, 6) + 0.0`` (never "-0.0"), exactly, in a third of its time; finite only.

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
            return whole / 1e6  # an int over a float: never -0.0
    return round(finite(value), 6) + 0.0


def rounded_all(values: Iterable[float]) -> list[float]:
    """``[rounded(v) for v in values]``, its common case written inline: a decision record of
    200 candidates rounds some 1,500 figures, and a call per figure was a third of that."""
    out: list[float] = []
    append = out.append
    for value in values:
        scaled = value * 1e6
        if -1e12 < scaled < 1e12:
            whole = round(scaled)
            if -0.499 < scaled - whole < 0.499:
                append(whole / 1e6)
                continue
        append(round(finite(value), 6) + 0.0)
    return out


def may_differ(data: bytes) -> bool:
    """Whether orjson's text `data` may hold a float json.dumps writes otherwise (False: it
    holds none, and `as_standard` would give it back as it is)."""
    return bool(_spots(data))


def _spots(data: bytes) -> list[tuple[int, int]]:
    """Where orjson may have written a float otherwise than json.dumps, in order: each number
    holding ``0.0000`` or ``e-`` (ids and words hold them too: only what stands where a JSON
    number stands counts; a regular expression scanning for them costs more than orjson's
    writing)."""
    found: dict[int, int] = {}
    for mark in (b"0.0000", b"e-"):
        at = data.find(mark)
        while at >= 0:
            if mark == b"e-" and data[at - 1] not in _DIGITS:
                # A number's exponent follows a digit; ids such as "wa-de-0001" (a decision
                # record names each source several times) do not: passed over at once.
                at = data.find(mark, at + 2)
                continue
            begin, end = _around(data, at, at + len(mark))
            if begin >= 0:
                found[begin] = end
            at = data.find(mark, end)
    return sorted(found.items())


def _around(data: bytes, begin: int, end: int) -> tuple[int, int]:
    """The run of number characters around ``data[begin:end]``: its bounds, begin -1 when it
    does not stand where a JSON number stands."""
    while begin and data[begin - 1] in _NUMBER:
        begin -= 1
    while end < len(data) and data[end] in _NUMBER:
        end += 1
    before = data[begin - 1] if begin else 44  # ","
    after = data[end] if end < len(data) else 44
    if before in _BEFORE and after in _AFTER and data[begin:end].strip(b"-")[:1].isdigit():
        return begin, end
    return -1, end
