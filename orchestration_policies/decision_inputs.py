"""What one ``decide()`` call saw, as plain values: recorded with its decision, re-run later.

A :class:`DecisionInputs` holds the order to route, the candidate sources (definition, stock of
the ordered SKUs, shipments used today), the policy that applied (id and version; documents of
a version never change), what the order's own history changed in that policy (a released hold,
a person's chosen source, sources that refused it), and the clock. ``decide()`` is deterministic,
so ``inputs.decide(policy)`` with the recorded version gives the recorded decision again.

Stored form (``FORMAT`` 1), content-addressed: the *body* is canonical JSON (sorted keys, no
spaces, UTF-8) in which each candidate names its source definition by that definition's own
digest; the definitions are stored once each (sources change rarely, stock with every order).
``digest`` = sha256 of the body, so it covers every definition through their digests. Stock is
``{sku: [on_hand, reserved, safety_stock]}``. Money is a decimal string, times ISO 8601.
Encoding and decoding do no I/O.
"""

from __future__ import annotations

import dataclasses
import functools
import hashlib
import json
import math
import operator
from collections.abc import Callable, Mapping, Sequence
from dataclasses import dataclass
from datetime import datetime
from decimal import Decimal
from typing import Any

from orchestration_policies.canonical import canonical_json as fast_canonical_json
from orchestration_policies.decide import decide
from orchestration_policies.decision import Decision
from orchestration_policies.inputs import (
    CandidateSource,
    CostModel,
    OrderToRoute,
    StockLevel,
)
from orchestration_policies.policy import OverSplitLimit, Policy
from orchestration_policies.recorded_order import order_from_plain, order_plain

__all__ = [
    "FORMAT",
    "DecisionInputs",
    "InputsFormatError",
    "PolicyRef",
    "RoutingOverrides",
    "body_but_candidates",
    "body_json",
    "candidate_from",
    "canonical_json",
    "decode",
    "definition_digest",
    "definition_key",
    "encode",
    "from_body",
    "to_body",
]

FORMAT = 1
# What changes from one order to the next; the rest of a candidate is its source's definition.
_PER_ORDER = ("stock", "used_today")
_DEFINITION_FIELDS = tuple(
    f.name for f in dataclasses.fields(CandidateSource) if f.init and f.name not in _PER_ORDER
)


class InputsFormatError(ValueError):
    """A stored inputs record that cannot be read back (unknown format, missing definition)."""


@dataclass(frozen=True, slots=True)
class PolicyRef:
    policy_id: str
    version: int


@dataclass(frozen=True, slots=True)
class RoutingOverrides:
    """What the order's own history changes in the policy for one decision."""

    holds_released: bool = False  # a person released a hold: hold rules no longer apply
    split_limit_released: bool = False  # a person let it ship beyond the split limit
    pinned_source: str | None = None  # a person chose the source: every other one is excluded
    rejected_sources: tuple[str, ...] = ()  # sources that refused a shipment of this order

    def applied_to(self, policy: Policy, candidates: Sequence[CandidateSource]) -> Policy:
        """The policy as decide() is given it for this order."""
        if self.holds_released or self.pinned_source:
            policy = policy.model_copy(update={"holds": ()})
        if self.split_limit_released:
            policy = policy.model_copy(update={"over_split_limit": OverSplitLimit.SHIP_REST})
        if self.pinned_source:
            others = {c.source_id for c in candidates} - {self.pinned_source}
            excluded = sorted({*policy.excluded_sources, *others})
            policy = policy.model_copy(update={"excluded_sources": tuple(excluded)})
        if self.rejected_sources:
            excluded = sorted({*policy.excluded_sources, *self.rejected_sources})
            policy = policy.model_copy(update={"excluded_sources": tuple(excluded)})
        return policy


@dataclass(frozen=True, slots=True)
class DecisionInputs:
    order: OrderToRoute
    candidates: tuple[CandidateSource, ...]  # in the order decide() was given them
    policy: PolicyRef  # the policy selected for the order, before the overrides
    now: datetime
    overrides: RoutingOverrides = RoutingOverrides()
    # Registered sources not given to decide() (they hold none of the ordered SKUs): the
    # decision record counts them, so a re-run reproduces the record exactly.
    sources_not_given: int = 0

    @property
    def holders(self) -> frozenset[str]:
        """Candidates that hold some of the ordered SKUs (the others were added only to tell
        "eligible but empty" from "nowhere eligible")."""
        return frozenset(c.source_id for c in self.candidates if c.stock)

    def decide(self, policy: Policy) -> Decision:
        """Run decide() on these inputs with ``policy`` (the recorded version, or a draft)."""
        return decide(
            self.order,
            self.candidates,
            self.overrides.applied_to(policy, self.candidates),
            self.now,
        )

    @property
    def digest(self) -> str:
        return _digest(body_json(to_body(self)[0]))


def canonical_json(value: Any) -> bytes:
    return json.dumps(value, sort_keys=True, separators=(",", ":"), ensure_ascii=False).encode()


def body_json(body: Mapping[str, Any]) -> bytes:
    """``canonical_json(body)`` of a body from :func:`to_body`, byte for byte, written by orjson
    where it writes the same (``orchestration_policies.canonical``): when every number is
    finite. The order's few floats are looked at; a NaN or infinity in the stock figures or a
    day's shipments (integers, unchecked) would be written ``null`` in an array or as
    ``used_today``, where no ``null`` is otherwise."""
    order = body["order"]
    numbers = (order["ship_to_lat"], order["ship_to_lon"], *order["attributes"].values())
    if all(math.isfinite(n) for n in numbers if isinstance(n, float)):
        data = fast_canonical_json(body)
        if b"[null" not in data and b",null" not in data and b'"used_today":null' not in data:
            return data
    return canonical_json(body)


def _digest(body: bytes) -> str:
    return hashlib.sha256(body).hexdigest()


def to_body(inputs: DecisionInputs) -> tuple[dict[str, Any], dict[str, dict[str, Any]]]:
    """The stored body, and the source definitions it names (by digest)."""
    definitions: dict[str, dict[str, Any]] = {}
    candidates = []
    for candidate in inputs.candidates:
        key, definition = _definition(_definition_values(candidate))
        definitions[key] = definition
        candidates.append(
            {
                "source_id": candidate.source_id,
                "definition": key,
                # In the candidate's order: the body is only ever written keys sorted.
                "stock": {
                    sku: [level.on_hand, level.reserved, level.safety_stock]
                    for sku, level in candidate.stock.items()
                },
                "used_today": candidate.used_today,
            }
        )
    return {**body_but_candidates(inputs), "candidates": candidates}, definitions


def body_but_candidates(inputs: DecisionInputs) -> dict[str, Any]:
    """The stored body's other parts: the order, the policy, the overrides, the clock."""
    overrides = inputs.overrides
    return {
        "format": FORMAT,
        "now": inputs.now.isoformat(),
        "policy": {"id": inputs.policy.policy_id, "version": inputs.policy.version},
        "overrides": {
            "holds_released": overrides.holds_released,
            "split_limit_released": overrides.split_limit_released,
            "pinned_source": overrides.pinned_source,
            "rejected_sources": list(overrides.rejected_sources),
        },
        "sources_not_given": inputs.sources_not_given,
        "order": order_plain(inputs.order),
    }


def definition_digest(definition: Mapping[str, Any]) -> str:
    return _digest(canonical_json(definition))


def definition_key(candidate: CandidateSource) -> str:
    """The digest its source's definition is recorded under (what `to_body` names it by)."""
    return _definition(_definition_values(candidate))[0]


def from_body(
    body: Mapping[str, Any], definitions: Mapping[str, Mapping[str, Any]]
) -> DecisionInputs:
    """Read a stored body back; ``definitions`` holds (at least) the definitions it names."""
    if body.get("format") != FORMAT:
        raise InputsFormatError(f"inputs format {body.get('format')!r} is not known")
    try:
        candidates = []
        for row in body["candidates"]:
            key = row["definition"]
            if key not in definitions:
                raise InputsFormatError(f"source definition {key} is not recorded")
            candidates.append(
                _restocked(
                    _template(key, definitions[key]), _stock(row["stock"]), row["used_today"]
                )
            )
        overrides = body["overrides"]
        return DecisionInputs(
            order=order_from_plain(body["order"]),
            candidates=tuple(candidates),
            policy=PolicyRef(body["policy"]["id"], int(body["policy"]["version"])),
            now=datetime.fromisoformat(body["now"]),
            overrides=RoutingOverrides(
                holds_released=bool(overrides["holds_released"]),
                split_limit_released=bool(overrides["split_limit_released"]),
                pinned_source=overrides["pinned_source"],
                rejected_sources=tuple(overrides["rejected_sources"]),
            ),
            sources_not_given=int(body["sources_not_given"]),
        )
    except (KeyError, TypeError, ValueError) as error:
        if isinstance(error, InputsFormatError):
            raise
        raise InputsFormatError(f"inputs record cannot be read: {error!r}") from error


def encode(inputs: DecisionInputs) -> bytes:
    """Self-contained bytes (the body with its definitions beside it), e.g. for export."""
    body, definitions = to_body(inputs)
    return canonical_json({"body": body, "definitions": definitions})


def decode(data: bytes) -> DecisionInputs:
    try:
        plain = json.loads(data)
        return from_body(plain["body"], plain["definitions"])
    except (KeyError, TypeError, json.JSONDecodeError) as error:
        raise InputsFormatError(f"inputs cannot be read: {error!r}") from error


# Candidates without stock, by definition digest: a definition is validated and converted once,
# and each decision's candidate is a copy with its own stock (re-runs read thousands).
_TEMPLATES: dict[str, CandidateSource] = {}


def _template(key: str, definition: Mapping[str, Any]) -> CandidateSource:
    template = _TEMPLATES.get(key)
    if template is None:
        template = candidate_from(definition, definition["active"], {})
        if len(_TEMPLATES) >= 4096:
            _TEMPLATES.clear()
        _TEMPLATES[key] = template
    return template


def _restocked(
    template: CandidateSource, stock: dict[str, StockLevel], used_today: int
) -> CandidateSource:
    """`dataclasses.replace(template, stock=…, used_today=…)` without validating the
    definition again: only what changes is checked (``stock`` is the copy's own)."""
    if isinstance(used_today, bool) or not isinstance(used_today, int) or used_today < 0:
        raise ValueError(f"source {template.source_id}: used_today must be >= 0")
    return template.restocked(stock, used_today)


# Stock figures recur across candidates and decisions: a level (immutable) is made once per
# distinct figures. Integers only: 3.0 equals 3 but would decide (and be recorded) otherwise.
# Emptied when full: about 250 bytes a level, so 8,192 are ~2 MB. Routing asks one per
# candidate and SKU and every reservation makes new figures: 65,536 were ~16 MB of the
# orchestration role's memory, filled over its first ~100,000 orders (benchmarks/README.md,
# h-soak), for the hits that recurring figures (untouched stock) find in far fewer.
KEPT_LEVELS = 8_192
_LEVELS: dict[tuple[int, int, int], StockLevel] = {}


def _stock(figures: Mapping[str, Any]) -> dict[str, StockLevel]:
    """A candidate's stock from its recorded ``{sku: [on_hand, reserved, safety_stock]}``:
    :func:`level_of` of each, its common case written inline (a cold re-run at 200 candidates
    reads some 900 levels)."""
    levels = _LEVELS
    stock: dict[str, StockLevel] = {}
    for sku, row in figures.items():
        level = None
        if row.__class__ is list and len(row) == 3:
            on_hand, reserved, safety_stock = row
            if on_hand.__class__ is reserved.__class__ is safety_stock.__class__ is int:
                level = levels.get((on_hand, reserved, safety_stock))
        stock[sku] = level_of(*row) if level is None else level
    return stock


def level_of(on_hand: int, reserved: int, safety_stock: int) -> StockLevel:
    """A stock level made once per distinct figures (immutable, so shared): decoded inputs and
    routing's candidates take one per candidate and SKU, most of them the same figures."""
    if on_hand.__class__ is int and reserved.__class__ is int and safety_stock.__class__ is int:
        figures = (on_hand, reserved, safety_stock)
        level = _LEVELS.get(figures)
        if level is None:
            if len(_LEVELS) >= KEPT_LEVELS:
                _LEVELS.clear()
            level = _LEVELS[figures] = StockLevel(on_hand, reserved, safety_stock)
        return level
    return StockLevel(on_hand, reserved, safety_stock)


_definition_values: Callable[[CandidateSource], tuple[Any, ...]] = operator.attrgetter(
    *_DEFINITION_FIELDS
)


@functools.lru_cache(maxsize=4096)
def _definition(values: tuple[Any, ...]) -> tuple[str, dict[str, Any]]:
    """A source's definition as plain data and its digest, once per distinct definition."""
    plain = {name: _plain(value) for name, value in zip(_DEFINITION_FIELDS, values, strict=True)}
    return definition_digest(plain), plain


def _plain(value: object) -> Any:
    if isinstance(value, CostModel):
        return {
            "base": str(value.base),
            "per_unit": str(value.per_unit),
            "per_km": str(value.per_km),
            "currency": value.currency,
        }
    if isinstance(value, frozenset | set):
        return sorted(str(v) for v in value)
    if isinstance(value, Decimal):
        return str(value)
    if isinstance(value, datetime):
        return value.isoformat()
    if isinstance(value, str):
        return str(value)  # a StrEnum member as its plain value
    return value


# Sources share their cost models (a carrier's tariff): one made and validated per distinct
# figures, as written ("4.50" and "4.5" are two: they are recorded and shown as written).
_COSTS: dict[tuple[str, str, str, str], CostModel] = {}


def _cost(base: Any, per_unit: Any, per_km: Any, currency: Any) -> CostModel:
    key = (base, per_unit, per_km, currency)
    model = _COSTS.get(key)  # only figures written as text are kept (a Decimal equals none)
    if model is not None:
        return model
    if not all(part.__class__ is str for part in key):  # a Decimal given: not shared
        return CostModel(Decimal(base), Decimal(per_unit), Decimal(per_km), currency)
    if len(_COSTS) >= 4096:
        _COSTS.clear()
    model = _COSTS[key] = CostModel(Decimal(base), Decimal(per_unit), Decimal(per_km), currency)
    return model


def candidate_from(
    definition: Mapping[str, Any],
    active: bool,
    stock: Mapping[str, StockLevel],
    used_today: int = 0,
) -> CandidateSource:
    """A source's definition (as registered, or as recorded) as decide() takes it."""
    cost = definition["cost"]
    # In the order of CandidateSource's fields: a tenth less than by keywords (a cold re-run
    # makes one per recorded definition).
    return CandidateSource(
        definition["source_id"],
        definition["kind"],
        definition["lat"],
        definition["lon"],
        definition["country"],
        frozenset(definition["ships_to"]),
        frozenset(definition["delivery_methods"]),
        definition["daily_capacity"],
        used_today,
        _cost(cost["base"], cost["per_unit"], cost["per_km"], cost["currency"]),
        definition["lead_time_days"],
        definition.get("priority", 0),
        active,
        frozenset(definition.get("demand_classes", [])),
        stock,
    )
