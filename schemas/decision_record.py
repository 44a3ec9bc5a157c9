"""A routing decision as recorded with the order's Routed and Held events: a typed value.

The record is read from, and written as, the JSON earlier releases stored as a plain dict
(``Decision.to_dict`` with the sources that hold none of the order only counted). It keeps that
JSON and reads a part into frozen values the first time the part is asked for: replaying an
order reads its policy, what-if over 100,000 decisions reads the outcome and the shipments, and
only a reader who shows a decision reads its explanation (most of the record). Written back, it
is the JSON it was read from, so records of every release keep their keys, key order, number
types and digest. Records of earlier releases lack some parts (the tie-breaks, the omitted
counts, the split-limit overflow ...): those read as empty.

The JSON values are the record's own: ``plain()`` gives them to be written or shown, not changed.
"""

from __future__ import annotations

from collections.abc import Callable, Mapping
from dataclasses import FrozenInstanceError, dataclass, field
from datetime import UTC, datetime
from decimal import Decimal
from types import MappingProxyType
from typing import TYPE_CHECKING, Any, NamedTuple, NoReturn

__all__ = [
    "REQUIRED_KEYS",
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

Number = int | float  # as the JSON has it: a float written back stays a float, an int an int


@dataclass(frozen=True, slots=True)
class PolicyRef:
    id: str
    version: int


class RecordedLine(NamedTuple):
    """One line of a shipment, recorded as ``[line_id, sku, quantity]``."""

    line_id: str
    sku: str
    quantity: int


# What was decided is read with every record (what-if reads 100,000 of them): its parts are
# NamedTuples, as the Decision's own are, built in half the time of a frozen dataclass. The
# rest of the record is read to be shown: frozen dataclasses.


class ShipmentDetailRecord(NamedTuple):
    source_id: str
    units: int
    estimated_cost: Decimal
    currency: str  # ISO 4217, of estimated_cost
    distance_km: Number | None
    lead_time_days: int
    score: Number | None = None


class LineRecord(NamedTuple):
    """A line not shipped by the decision (unallocated, backordered or over the split limit)."""

    line_id: str
    sku: str
    quantity: int
    reason: str


class HoldRecord(NamedTuple):
    rule: str
    reason: str


@dataclass(frozen=True, slots=True)
class NormalisationRecord:
    min: Number | None
    max: Number | None
    better: str


@dataclass(frozen=True, slots=True)
class CandidateRecord:
    """One listed candidate; which fields it has depends on its status (see ``Decision``)."""

    source_id: str
    status: str
    rule: str | None = None
    detail: str | None = None
    rank: int | None = None
    total: Number | None = None
    raw: tuple[Number | None, ...] = ()  # in the explanation's criteria order
    normalised: tuple[Number, ...] = ()
    contribution: tuple[Number, ...] = ()
    usable: Mapping[str, int] = field(default_factory=lambda: MappingProxyType({}))


@dataclass(frozen=True, slots=True)
class PlanRecord:
    summary: str
    strategy: str = "none"
    search: str = "none"
    alternatives_considered: int = 0
    objective: Number | None = None
    units_planned: int = 0
    units_ordered: int = 0
    proposed_sources: tuple[str, ...] = ()


@dataclass(frozen=True, slots=True)
class ExplanationRecord:
    criteria: tuple[str, ...]
    weights: Mapping[str, Number]
    normalisation: Mapping[str, NormalisationRecord]
    split_penalty: Number
    candidates: tuple[CandidateRecord, ...]
    plan: PlanRecord
    tie_breaks: tuple[str, ...] = ()
    condition_errors: tuple[str, ...] = ()
    omitted: Mapping[str, int] = field(
        default_factory=lambda: MappingProxyType({})
    )  # reason → sources only counted


@dataclass(frozen=True, slots=True)
class SplitOverflowRecord:
    handling: str
    limit: int
    live_before: int
    lines: tuple[LineRecord, ...]
    alternatives: Mapping[str, tuple[str, ...]]  # line_id → sources that could ship it alone


# Readers: stored JSON values → the values above. Written out field by field (no reflection):
# they run for every record read.


def _policy(d: dict[str, Any]) -> PolicyRef:
    return PolicyRef(d["id"], d["version"])


def _shipments(d: dict[str, list[list[Any]]]) -> Mapping[str, tuple[RecordedLine, ...]]:
    line = RecordedLine._make
    return MappingProxyType({source_id: tuple(map(line, lines)) for source_id, lines in d.items()})


def _details(rows: list[dict[str, Any]]) -> tuple[ShipmentDetailRecord, ...]:
    return tuple(
        [
            ShipmentDetailRecord(
                d["source_id"],
                d["units"],
                Decimal(d["estimated_cost"]),
                d["currency"],
                d["distance_km"],
                d["lead_time_days"],
                d.get("score"),
            )
            for d in rows
        ]
    )


def _lines(rows: list[dict[str, Any]]) -> tuple[LineRecord, ...]:
    if not rows:  # most decisions leave no line behind
        return ()
    return tuple([LineRecord(d["line_id"], d["sku"], d["quantity"], d["reason"]) for d in rows])


def _hold(d: dict[str, Any] | None) -> HoldRecord | None:
    return None if d is None else HoldRecord(d["rule"], d["reason"])


def _overflow(d: dict[str, Any] | None) -> SplitOverflowRecord | None:
    if d is None:
        return None
    alternatives = {line_id: tuple(ids) for line_id, ids in d["alternatives"].items()}
    return SplitOverflowRecord(
        d["handling"], d["limit"], d["live_before"], _lines(d["lines"]), alternatives
    )


def _candidate(d: dict[str, Any]) -> CandidateRecord:
    raw, normalised, contribution = d.get("raw"), d.get("normalised"), d.get("contribution")
    by_criterion = d.get("criteria")
    if raw is None and by_criterion:  # the first release: one mapping per criterion
        scores = by_criterion.values()
        raw = [s["raw"] for s in scores]
        normalised = [s["normalised"] for s in scores]
        contribution = [s["contribution"] for s in scores]
    return CandidateRecord(
        d["source_id"],
        d["status"],
        d.get("rule"),
        d.get("detail"),
        d.get("rank"),
        d.get("total"),
        tuple(raw or ()),
        tuple(normalised or ()),
        tuple(contribution or ()),
        MappingProxyType(d.get("usable") or {}),
    )


def _plan(d: dict[str, Any]) -> PlanRecord:
    return PlanRecord(
        d["summary"],
        d.get("strategy", "none"),
        d.get("search", "none"),
        d.get("alternatives_considered", 0),
        d.get("objective"),
        d.get("units_planned", 0),
        d.get("units_ordered", 0),
        tuple(d.get("proposed_sources", ())),
    )


def _explanation(d: dict[str, Any] | None) -> ExplanationRecord | None:
    if d is None:
        return None
    normalisation = {
        name: NormalisationRecord(n["min"], n["max"], n["better"])
        for name, n in d.get("normalisation", {}).items()
    }
    return ExplanationRecord(
        tuple(d["criteria"]),
        MappingProxyType(d["weights"]),
        MappingProxyType(normalisation),
        d["split_penalty"],
        tuple(_candidate(c) for c in d["candidates"]),
        _plan(d["plan"]),
        tuple(d.get("tie_breaks", ())),
        tuple(d.get("condition_errors", ())),
        MappingProxyType(d.get("omitted", {})),
    )


def _decided_at(text: str) -> datetime:
    at = datetime.fromisoformat(text)
    return at.replace(tzinfo=UTC) if at.tzinfo is None else at.astimezone(UTC)


_OUTCOME = ("held", "rejected", "shipments", "shipment_details", "unallocated", "backordered")


def _outcome(plain: dict[str, Any]) -> dict[str, Any]:
    """What was decided (the parts in _OUTCOME), read at once: who reads one reads the others."""
    return {
        "held": _hold(plain.get("held")),
        "rejected": plain.get("rejected"),
        "shipments": _shipments(plain["shipments"]),
        "shipment_details": _details(plain.get("shipment_details", ())),
        "unallocated": _lines(plain.get("unallocated", ())),
        "backordered": _lines(plain.get("backordered", ())),
    }


# How each part is read from the whole stored record (parts earlier releases lacked read as
# empty): a reader gives the part, or the parts read with it.
_READERS: dict[str, Callable[[dict[str, Any]], dict[str, Any]]] = {
    **dict.fromkeys(_OUTCOME, _outcome),
    "order_id": lambda plain: {"order_id": plain["order_id"]},
    "policy": lambda plain: {"policy": _policy(plain["policy"])},
    "decided_at": lambda plain: {"decided_at": _decided_at(plain["decided_at"])},
    "explanation": lambda plain: {"explanation": _explanation(plain.get("explanation"))},
    "live_shipments": lambda plain: {"live_shipments": tuple(plain.get("live_shipments", ()))},
    "over_split_limit": lambda plain: {
        "over_split_limit": _overflow(plain.get("over_split_limit"))
    },
}
# The parts every release writes (connectors.unread_explanation checks a record it cut for them).
REQUIRED_KEYS = frozenset(("order_id", "policy", "decided_at", "shipments"))


class DecisionRecord:
    """A recorded routing decision, read by attributes; see the module's docstring.

    Each part is a slot, filled from the JSON the first time it is read (``__getattr__`` runs
    only for a slot not filled yet); later reads are plain attribute reads.
    """

    __slots__ = ("_plain", *_READERS)

    _plain: dict[str, Any]  # the JSON values it was read from, written back as they are
    order_id: str
    policy: PolicyRef
    decided_at: datetime  # UTC
    shipments: Mapping[str, tuple[RecordedLine, ...]]  # source_id → its lines
    shipment_details: tuple[ShipmentDetailRecord, ...]
    unallocated: tuple[LineRecord, ...]
    backordered: tuple[LineRecord, ...]
    held: HoldRecord | None
    rejected: str | None
    explanation: ExplanationRecord | None  # None: recorded without one
    live_shipments: tuple[str, ...]  # sources of the order's earlier live shipments
    over_split_limit: SplitOverflowRecord | None

    def __init__(self, plain: dict[str, Any]) -> None:
        if not isinstance(plain, dict):
            raise ValueError(f"a decision record is a JSON object, not {type(plain).__name__}")
        if not plain.keys() >= REQUIRED_KEYS:
            raise ValueError(
                f"a decision record lacks {', '.join(sorted(REQUIRED_KEYS - plain.keys()))}"
            )
        object.__setattr__(self, "_plain", plain)

    @classmethod
    def from_plain(cls, plain: dict[str, Any]) -> DecisionRecord:
        """The record of stored JSON values (kept as they are: the caller hands them over)."""
        return cls(plain)

    def plain(self) -> dict[str, Any]:
        """The record as the JSON values it is stored as (to be written or shown, not changed)."""
        return self._plain

    if not TYPE_CHECKING:  # to the type checker, the parts are the attributes declared above

        def __getattr__(self, name: str) -> Any:
            read = _READERS.get(name)
            if read is None:
                raise AttributeError(f"'DecisionRecord' object has no attribute {name!r}")
            for part, value in read(self._plain).items():
                object.__setattr__(self, part, value)
            return getattr(self, name)

    def __setattr__(self, name: str, value: object) -> NoReturn:
        raise FrozenInstanceError(f"cannot assign to field {name!r}")

    def __delattr__(self, name: str) -> NoReturn:
        raise FrozenInstanceError(f"cannot delete field {name!r}")

    def __eq__(self, other: object) -> bool:
        if not isinstance(other, DecisionRecord):
            return NotImplemented
        return self._plain == other._plain

    __hash__ = None  # type: ignore[assignment]  # equal records have equal JSON, not hashable

    def __reduce__(self) -> tuple[type[DecisionRecord], tuple[dict[str, Any]]]:
        return DecisionRecord, (self._plain,)

    def __repr__(self) -> str:
        return (
            f"DecisionRecord(order_id={self.order_id!r}, decided_at={self._plain['decided_at']!r})"
        )
