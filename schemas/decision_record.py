"""A routing decision as recorded with the order's Routed and Held events: a typed value.

It is written as exactly the JSON earlier releases stored as a plain dict (``Decision.to_dict``
with the sources that hold none of the order only counted): fields in that order, and only the
fields the record was made with. Records of earlier releases lack some fields (the tie-breaks,
the omitted counts, the split-limit overflow ...): they load with the field unset and are written
back without it, so their JSON, and ``record_digest`` of it, do not change. Numbers keep their
JSON type (``int | float``) for the same reason.
"""

from __future__ import annotations

from typing import Any, NamedTuple, Self

from pydantic import (
    BaseModel,
    ConfigDict,
    ModelWrapValidatorHandler,
    PrivateAttr,
    SerializerFunctionWrapHandler,
    model_serializer,
    model_validator,
)

__all__ = [
    "CandidateRecord",
    "DecisionRecord",
    "ExplanationRecord",
    "HoldRecord",
    "LineRecord",
    "NormalisationRecord",
    "PlanRecord",
    "PolicyRef",
    "RecordedLine",
    "ShipmentDetailRecord",
    "SplitOverflowRecord",
]

Number = int | float


class _Recorded(BaseModel):
    """Frozen; dumps the fields it was made with (and any another release added), in the order
    it was given them: the keys of a record read back are the keys it was stored with."""

    model_config = ConfigDict(frozen=True, extra="allow")
    _keys: tuple[str, ...] | None = PrivateAttr(default=None)

    @model_validator(mode="wrap")
    @classmethod
    def _keep_key_order(cls, data: Any, handler: ModelWrapValidatorHandler[Self]) -> Self:
        made = handler(data)
        if isinstance(data, dict):
            made._keys = tuple(data)
        return made

    @model_serializer(mode="wrap")
    def _as_recorded(self, handler: SerializerFunctionWrapHandler) -> dict[str, Any]:
        data: dict[str, Any] = handler(self)
        given = self.model_fields_set
        return {k: data[k] for k in self._keys or data if k in data and k in given}

    def plain(self) -> dict[str, Any]:
        """The record as plain JSON values (what earlier releases held as the dict)."""
        return self.model_dump(mode="json")


class PolicyRef(_Recorded):
    id: str
    version: int


class RecordedLine(NamedTuple):
    """One line of a shipment, recorded as ``[line_id, sku, quantity]``."""

    line_id: str
    sku: str
    quantity: int


class ShipmentDetailRecord(_Recorded):
    source_id: str
    units: int
    estimated_cost: str  # a Decimal, as text
    currency: str
    distance_km: Number | None
    lead_time_days: int
    score: Number | None = None


class LineRecord(_Recorded):
    """A line not shipped by the decision (unallocated, backordered or over the split limit)."""

    line_id: str
    sku: str
    quantity: int
    reason: str


class HoldRecord(_Recorded):
    rule: str
    reason: str


class NormalisationRecord(_Recorded):
    min: Number | None
    max: Number | None
    better: str


class CandidateRecord(_Recorded):
    """One listed candidate; which fields it has depends on its status (see ``Decision``)."""

    source_id: str
    status: str
    rule: str | None = None
    detail: str | None = None
    rank: int | None = None
    total: Number | None = None
    raw: tuple[Number | None, ...] = ()
    normalised: tuple[Number, ...] = ()
    contribution: tuple[Number, ...] = ()
    usable: dict[str, int] = {}


class PlanRecord(_Recorded):
    summary: str
    strategy: str = "none"
    search: str = "none"
    alternatives_considered: int = 0
    objective: Number | None = None
    units_planned: int = 0
    units_ordered: int = 0
    proposed_sources: tuple[str, ...] = ()


class ExplanationRecord(_Recorded):
    criteria: tuple[str, ...]
    weights: dict[str, Number]
    normalisation: dict[str, NormalisationRecord] = {}
    split_penalty: Number
    candidates: tuple[CandidateRecord, ...]
    plan: PlanRecord
    tie_breaks: tuple[str, ...] = ()
    condition_errors: tuple[str, ...] = ()
    omitted: dict[str, int] = {}  # reason → sources only counted, not listed


class SplitOverflowRecord(_Recorded):
    handling: str
    limit: int
    live_before: int
    lines: tuple[LineRecord, ...]
    alternatives: dict[str, tuple[str, ...]]  # line_id → sources that could ship it alone


class DecisionRecord(_Recorded):
    order_id: str
    policy: PolicyRef
    decided_at: str
    shipments: dict[str, tuple[RecordedLine, ...]]
    shipment_details: tuple[ShipmentDetailRecord, ...] = ()
    unallocated: tuple[LineRecord, ...] = ()
    backordered: tuple[LineRecord, ...] = ()
    held: HoldRecord | None = None
    rejected: str | None = None
    explanation: ExplanationRecord | None = None
    live_shipments: tuple[str, ...] = ()
    over_split_limit: SplitOverflowRecord | None = None
