"""A `Routed`'s or `Held`'s data read without parsing its decision record's explanation.

The explanation (every candidate source's figures, the plan, the weights) is most of the bytes of
the hub's two largest events, and parsing it was three quarters of decoding them (`Routed`
15.6 of 20.9 µs, benchmarks/README.md). The read models read a decision's outcome (its
shipment details) and never its explanation (`reads_explanations = False` on each; the audit
trail, which writes every field as text, reads the store's events instead). For their consumer
the explanation's bytes are cut out of the record and the rest parsed; the data then holds the
explanation as an `orjson.Fragment` of those bytes, which orjson writes as it is and nothing
reads into (it is no mapping: a follower reading it after all fails, and the event is parked,
never served other data). Everything else in the data is what `orjson.loads` gives.

Where the cut is certain, and the rest parses, it is taken; anywhere else the whole value is
parsed, as before. The explanation's key stands where `"explanation":{` stands with its first
quote bare (a key, since a bare quote before letters and a quote opens a text); its end is
where its last key's object closes and the explanation with it (`}}`): its writers write
`weights` last (sorted: `Routed` as stored, any event `envelope_to_record` wrote) or `omitted`
(the record class's order: `Held` as stored, published as stored by the relay); both flat
objects of figures, whose first `}` outside a text (no escape, an even count of quotes before
it) is their own. The rest parses only if both cuts are at the same depth; the stand-in must
be the decision's explanation and the decision must hold the keys every release writes. What
this does not check: that the explanation's bytes are JSON (a record whose explanation is
malformed is applied, not parked; nothing on the hub's topics is written so); an explanation
that does not end with those keys (another release's, or another producer's) followed by an
object that does: the keys between are cut with it where the braces balance; and a decision
with two `explanation` keys (orjson keeps the last, the cut starts at the first). No decision
this release or the one before writes is so (all of theirs are cut as their explanation:
tests/unit/test_unexplained_decisions.py); only the relay writes the hub's order events.
"""

from typing import Any, cast

import orjson

from schemas.decision_record import REQUIRED_KEYS

_DECISION = b'"decision":{'
_EXPLANATION = b'"explanation":{'
_LAST = (b'"weights":{', b'"omitted":{')
# Stands in for the explanation while the rest is parsed: a text, where an explanation cut out
# is an object.
_STAND_IN = b'"\\u0000"'
_BACKSLASH = ord("\\")


def load_unexplained(value: bytes) -> Any:
    """The data of a `Routed` or `Held` record, its decision's explanation left unparsed where
    it can be; otherwise the whole parsed (`orjson.loads`)."""
    data = without_explanation(value)
    return orjson.loads(value) if data is None else data


def without_explanation(value: bytes) -> dict[str, Any] | None:
    """The data with the decision's explanation as a Fragment of its bytes, or None."""
    cut = _cut(value)
    if cut is None:
        return None
    start, end = cut
    try:
        data = orjson.loads(value[:start] + _STAND_IN + value[end:])
    except orjson.JSONDecodeError:
        return None
    if type(data) is not dict:
        return None
    decision = data.get("decision")
    if type(decision) is not dict or decision.get("explanation") != "\0":
        return None
    if not decision.keys() >= REQUIRED_KEYS:
        return None
    decision["explanation"] = orjson.Fragment(value[start:end])
    return cast(dict[str, Any], data)


def _cut(value: bytes) -> tuple[int, int] | None:
    """Where the decision's explanation starts and ends, if the bytes say so for certain."""
    decision = value.find(_DECISION)
    if decision < 0:
        return None
    key = value.find(_EXPLANATION, decision)
    if key < 0 or value[key - 1] == _BACKSLASH:
        return None
    start = key + len(_EXPLANATION) - 1
    for last in _LAST:
        at = value.find(last, start)
        if at < 0 or value[at - 1] == _BACKSLASH:
            continue
        inside = at + len(last)
        close = value.find(b"}", inside)
        if close < 0 or value.find(b"\\", inside, close) >= 0:
            continue
        if value.count(b'"', inside, close) % 2 == 0 and value[close + 1 : close + 2] == b"}":
            return start, close + 2
    return None
