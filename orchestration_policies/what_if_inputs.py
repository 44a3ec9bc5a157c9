"""Reading many recorded inputs back quickly, for what-if over long histories.

``decision_inputs.from_body`` builds every candidate from its source definition, which is most
of the cost of reading a decision back. Over a history the same few hundred definitions recur in
every decision, so :class:`InputsDecoder` builds each definition's candidate once and gives each
decision a copy with its own stock and capacity used (:func:`with_stock`). The result equals
``from_body``'s. Pure: definitions come from the caller.
"""

from __future__ import annotations

import dataclasses
import operator
from collections.abc import Callable, Mapping, Sequence
from types import MappingProxyType
from typing import Any

from orchestration_policies.decision_inputs import (
    DecisionInputs,
    InputsFormatError,
    candidate_from,
    from_body,
)
from orchestration_policies.inputs import CandidateSource, StockLevel

__all__ = ["InputsDecoder", "RecordedCandidate", "stock_level", "with_stock"]

# A recorded candidate, compact: the source (no stock), {sku: (on_hand, reserved, safety
# stock)}, shipments used that day. What-if builds its own candidates from it, so the recorded
# one need not be built first.
RecordedCandidate = tuple[CandidateSource, Mapping[str, Sequence[int]], int]

_SLOTS = CandidateSource.__slots__
_values_of = operator.attrgetter(*_SLOTS)
# The slots' own descriptors: setting through them skips the frozen class's __setattr__ check,
# which is what makes a copy cheap (a copy is made per candidate per decision).
_SETTERS = tuple(CandidateSource.__dict__[name].__set__ for name in _SLOTS)
_STOCK, _USED = _SLOTS.index("stock"), _SLOTS.index("used_today")
_new = object.__new__
_LEVEL_SETTERS = tuple(
    StockLevel.__dict__[name].__set__
    for name in ("on_hand", "reserved", "safety_stock", "available")
)


def stock_level(on_hand: int, reserved: int, safety_stock: int) -> StockLevel:
    """``StockLevel(on_hand, reserved, safety_stock)`` without its per-call overhead (one is made
    per candidate and SKU of every decision); the same checks."""
    if on_hand < 0 or reserved < 0 or safety_stock < 0:
        raise ValueError("stock figures must not be negative")
    level = _new(StockLevel)
    set_on_hand, set_reserved, set_safety, set_available = _LEVEL_SETTERS
    set_on_hand(level, on_hand)
    set_reserved(level, reserved)
    set_safety(level, safety_stock)
    set_available(level, max(0, on_hand - reserved - safety_stock))
    return level


def with_stock(
    candidate: CandidateSource, stock: Mapping[str, StockLevel], used_today: int
) -> CandidateSource:
    """A copy of ``candidate`` with other stock and capacity used (derived fields stay valid:
    they depend on neither)."""
    values = list(_values_of(candidate))
    values[_STOCK] = MappingProxyType(dict(stock))
    values[_USED] = used_today
    copy = _new(CandidateSource)
    for setter, value in zip(_SETTERS, values, strict=True):
        setter(copy, value)
    return copy


class InputsDecoder:
    """Stored inputs bodies → :class:`DecisionInputs`, each source definition built once."""

    def __init__(self, definition_of: Callable[[str], Mapping[str, Any]]) -> None:
        self._definition_of = definition_of
        self._templates: dict[str, CandidateSource] = {}

    def decode(self, body: Mapping[str, Any]) -> DecisionInputs:
        """As ``from_body(body, definitions)``; raises InputsFormatError when unreadable."""
        shell = from_body({**body, "candidates": []}, {})
        try:
            candidates = tuple(
                with_stock(
                    self._template(row["definition"]),
                    {sku: stock_level(*level) for sku, level in row["stock"].items()},
                    int(row["used_today"]),
                )
                for row in body["candidates"]
            )
        except (KeyError, TypeError, ValueError) as error:
            if isinstance(error, InputsFormatError):
                raise
            raise InputsFormatError(f"inputs record cannot be read: {error!r}") from error
        return dataclasses.replace(shell, candidates=candidates)

    def decode_compact(
        self, body: Mapping[str, Any]
    ) -> tuple[DecisionInputs, tuple[RecordedCandidate, ...]]:
        """The inputs without their candidates (``candidates`` empty), and the candidates in
        their compact form; InputsFormatError when unreadable."""
        shell = from_body({**body, "candidates": []}, {})
        templates = self._templates
        rows = []
        try:
            for row in body["candidates"]:
                key = row["definition"]
                template = templates.get(key)
                if template is None:
                    template = self._template(key)
                stock = row["stock"]
                for on_hand, reserved, safety in stock.values():  # exactly three figures
                    if on_hand < 0 or reserved < 0 or safety < 0:
                        raise ValueError("stock figures must not be negative")
                rows.append((template, stock, int(row["used_today"])))
        except (KeyError, TypeError, ValueError) as error:
            if isinstance(error, InputsFormatError):
                raise
            raise InputsFormatError(f"inputs record cannot be read: {error!r}") from error
        return shell, tuple(rows)

    def _template(self, key: str) -> CandidateSource:
        found = self._templates.get(key)
        if found is None:
            definition = self._definition_of(key)
            found = self._templates[key] = candidate_from(definition, definition["active"], {})
        return found
