"""An inputs record's body written straight to its stored text, from what routing already holds.

`record_body(inputs)` gives `body_json(to_body(inputs)[0])` and the definitions `to_body` names,
byte for byte, without building each candidate's row as dicts and lists for orjson to sort and
write (most of an order's ~14 rows: `to_body` and `body_json` were ~27 µs of the ~35 µs of
recording an order's inputs). A row holds only its definition's digest (hex), two texts (the
source id and the SKUs, written as json.dumps writes them, each once) and integers, so its
canonical JSON is written directly, keys in their sorted order; the rest of the body (the
order, the policy, the clock) is written by `body_json` as before. A figure that is not an
`int` (a bool, a float, an int subclass) sends the whole body the generic way.
"""

from __future__ import annotations

import json
from collections.abc import Mapping
from typing import Any

from orchestration_policies.decision_inputs import (
    DecisionInputs,
    _definition,
    _definition_values,
    body_but_candidates,
    body_json,
    to_body,
)
from orchestration_policies.inputs import CandidateSource, StockLevel

__all__ = ["candidate_definition", "record_body"]

# Source ids and SKUs as JSON texts, each written once (they recur with every order); emptied
# when full: ~150 bytes each.
KEPT_TEXTS = 16_384
_TEXTS: dict[str, str] = {}


def record_body(inputs: DecisionInputs) -> tuple[bytes, dict[str, dict[str, Any]]]:
    """The body's canonical JSON and the source definitions it names (by digest)."""
    definitions: dict[str, dict[str, Any]] = {}
    rows = []
    for candidate in inputs.candidates:
        key, definition = candidate_definition(candidate)
        definitions[key] = definition
        row = _row(candidate, key)
        if row is None:
            body, definitions = to_body(inputs)
            return body_json(body), definitions
        rows.append(row)
    # "candidates" sorts before every other key of the body: its rows come first.
    text = body_json(body_but_candidates(inputs))
    return b'{"candidates":[' + ",".join(rows).encode() + b"]," + text[1:], definitions


def candidate_definition(candidate: CandidateSource) -> tuple[str, dict[str, Any]]:
    """The digest of the candidate's source definition and that definition as recorded
    (shared: not to be changed), as `to_body` finds them, kept on the candidate (a value
    derived from a frozen one) and so on the copies made from it after: hashing and comparing
    its 13 fields again was ~0.5 µs a candidate, ~7 µs an order."""
    known = candidate.recorded_definition
    if known is None:
        known = _definition(_definition_values(candidate))
        _set_recorded(candidate, known)
    return known


_set_recorded = CandidateSource.__dict__["recorded_definition"].__set__


def _row(candidate: CandidateSource, key: str) -> str | None:
    """A candidate's row as canonical JSON (keys sorted: definition, source_id, stock,
    used_today); None when a value is not a text or an int where it should be (the generic
    writer then says what such a value becomes)."""
    used = candidate.used_today
    source_id = candidate.source_id
    if used.__class__ is not int or source_id.__class__ is not str:
        return None
    stock = _stock(candidate.stock)
    if stock is None:
        return None
    return (
        f'{{"definition":"{key}","source_id":{_TEXTS.get(source_id) or _text(source_id)},'
        f'"stock":{{{stock}}},"used_today":{used}}}'
    )


def _stock(stock: Mapping[str, StockLevel]) -> str | None:
    """`{sku: [on_hand, reserved, safety_stock]}`'s inside, the SKUs sorted; None as above."""
    texts = _TEXTS
    figures = []
    for sku in sorted(stock) if len(stock) > 1 else stock:
        level = stock[sku]
        on_hand, reserved, safety = level.on_hand, level.reserved, level.safety_stock
        if not (
            sku.__class__ is str
            and on_hand.__class__ is int
            and reserved.__class__ is int
            and safety.__class__ is int
        ):
            return None
        figures.append(f"{texts.get(sku) or _text(sku)}:[{on_hand},{reserved},{safety}]")
    return ",".join(figures)


def _text(value: str) -> str:
    text = _TEXTS.get(value)
    if text is None:
        if len(_TEXTS) >= KEPT_TEXTS:
            _TEXTS.clear()
        text = _TEXTS[value] = json.dumps(value, ensure_ascii=False)
    return text
