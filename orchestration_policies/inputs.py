"""Plain values the orchestrator gathers before calling :func:`decide` (fetch first, then compute).

They are frozen dataclasses rather than pydantic models on purpose: ``decide()`` reads their
attributes hundreds of times per call and the validation done here is the little that protects
the arithmetic (quantities positive, money in ``Decimal``, times timezone-aware).
"""

from __future__ import annotations

import functools
import re
from collections.abc import Mapping
from dataclasses import dataclass, field
from datetime import datetime
from decimal import Decimal
from enum import StrEnum
from types import MappingProxyType
from typing import Any

from orchestration_policies.geo import Radians, radians_of
from schemas.regions import expand

__all__ = [
    "AttributeValue",
    "CandidateSource",
    "CostModel",
    "DeliveryMethod",
    "LineToRoute",
    "OrderToRoute",
    "SourceKind",
    "StockLevel",
]

AttributeValue = str | int | bool | float

_COUNTRY = re.compile(r"^[A-Z]{2}$")
_CURRENCY = re.compile(r"^[A-Z]{3}$")
_CENT = Decimal("0.01")


class DeliveryMethod(StrEnum):
    STANDARD = "standard"
    EXPRESS = "express"
    CLICK_AND_COLLECT = "click_and_collect"
    SAME_DAY = "same_day"


class SourceKind(StrEnum):
    WAREHOUSE = "warehouse"
    STORE = "store"
    DROPSHIP = "dropship"


_KINDS = {kind.value: kind for kind in SourceKind}  # SourceKind(text), without the enum's call


def _check_country(value: str, what: str) -> None:
    if not _COUNTRY.match(value):
        raise ValueError(f"{what} must be an ISO 3166 alpha-2 code in upper case, got {value!r}")


def _check_currency(value: str, what: str) -> None:
    if not _CURRENCY.match(value):
        raise ValueError(f"{what} must be an ISO 4217 code in upper case, got {value!r}")


def _check_money(value: object, what: str) -> None:
    # A float here would make totals and costs drift; callers must convert at the edge.
    if not isinstance(value, Decimal) or not value.is_finite():
        raise ValueError(f"{what} must be a finite Decimal, got {value!r}")


@dataclass(frozen=True, slots=True)
class LineToRoute:
    line_id: str
    sku: str
    quantity: int

    def __post_init__(self) -> None:
        if not self.line_id or not self.sku:
            raise ValueError("line_id and sku must not be empty")
        if isinstance(self.quantity, bool) or self.quantity < 1:
            raise ValueError(f"line {self.line_id}: quantity must be >= 1, got {self.quantity!r}")


@dataclass(frozen=True, slots=True)
class StockLevel:
    on_hand: int
    reserved: int = 0
    safety_stock: int = 0
    # max(0, on_hand - reserved - safety_stock), computed once: decide() reads it per source.
    available: int = field(init=False, compare=False)

    def __post_init__(self) -> None:
        if min(self.on_hand, self.reserved, self.safety_stock) < 0:
            raise ValueError("stock figures must not be negative")
        available = max(0, self.on_hand - self.reserved - self.safety_stock)
        object.__setattr__(self, "available", available)


@dataclass(frozen=True, slots=True)
class CostModel:
    """Shipping cost = base + per_unit x units + per_km x distance, in ``currency``."""

    base: Decimal
    per_unit: Decimal
    per_km: Decimal
    currency: str
    # Float mirrors exist only so ranking (a score, not a charge) stays cheap for hundreds of
    # candidates; every amount that is reported as money is computed from the Decimals.
    base_f: float = field(init=False, repr=False, compare=False)
    per_unit_f: float = field(init=False, repr=False, compare=False)
    per_km_f: float = field(init=False, repr=False, compare=False)

    def __post_init__(self) -> None:
        for name in ("base", "per_unit", "per_km"):
            _check_money(getattr(self, name), f"cost.{name}")
        _check_currency(self.currency, "cost.currency")
        object.__setattr__(self, "base_f", float(self.base))
        object.__setattr__(self, "per_unit_f", float(self.per_unit))
        object.__setattr__(self, "per_km_f", float(self.per_km))

    def shipping_cost(self, units: int, distance_km: float | None) -> Decimal:
        """Estimated charge for one shipment; an unknown distance adds no per-km part."""
        cost = self.base + self.per_unit * units
        if distance_km is not None:
            cost += self.per_km * Decimal(repr(round(distance_km, 3)))
        return cost.quantize(_CENT)

    def ranking_cost(self, units: int, distance_km: float | None) -> float:
        return self.base_f + self.per_unit_f * units + self.per_km_f * (distance_km or 0.0)


@dataclass(frozen=True, slots=True)
class CandidateSource:
    """A fulfilment source as seen at decision time, with its stock for the ordered SKUs."""

    source_id: str
    kind: SourceKind
    lat: float
    lon: float
    country: str
    ships_to: frozenset[str]  # country codes, "*" (everywhere) or regions (schemas.regions)
    delivery_methods: frozenset[DeliveryMethod]
    daily_capacity: int
    used_today: int
    cost: CostModel
    lead_time_days: int
    priority: int = 0
    active: bool = True
    demand_classes: frozenset[str] = frozenset()
    stock: Mapping[str, StockLevel] = field(default_factory=dict)
    position: Radians = field(init=False, repr=False, compare=False)
    # ships_to resolved once: decide() checks every candidate against the order's country.
    ships_everywhere: bool = field(init=False, repr=False, compare=False)
    ship_countries: frozenset[str] = field(init=False, repr=False, compare=False)
    # Its definition as an inputs record holds it, and that definition's digest: worked out
    # the first time it is recorded (orchestration_policies.decision_inputs) and carried by
    # its restocked copies, whose definition is the same (a copy per candidate per order).
    recorded_definition: tuple[str, dict[str, Any]] | None = field(
        init=False, repr=False, compare=False
    )

    def __post_init__(self) -> None:
        if not self.source_id:
            raise ValueError("source_id must not be empty")
        # The messages are formatted only when a check fails: a cold re-run makes a candidate
        # per recorded definition (hundreds), and routing copies one per order.
        if not _COUNTRY.match(self.country):
            _check_country(self.country, f"source {self.source_id}: country")
        if not (-90.0 <= self.lat <= 90.0 and -180.0 <= self.lon <= 180.0):
            raise ValueError(f"source {self.source_id}: lat/lon out of range")
        if self.daily_capacity < 0 or self.used_today < 0 or self.lead_time_days < 0:
            raise ValueError(f"source {self.source_id}: capacity and lead time must be >= 0")
        kind = self.kind
        if kind.__class__ is not SourceKind:
            found = _KINDS.get(kind) if kind.__class__ is str else None
            object.__setattr__(self, "kind", SourceKind(kind) if found is None else found)
        object.__setattr__(self, "ships_to", frozenset(self.ships_to))
        everywhere, countries = _expanded(self.ships_to)
        object.__setattr__(self, "ships_everywhere", everywhere)
        object.__setattr__(self, "ship_countries", countries)
        methods = _methods(frozenset(self.delivery_methods))
        object.__setattr__(self, "delivery_methods", methods)
        object.__setattr__(self, "demand_classes", frozenset(self.demand_classes))
        # A read-only copy: the caller's dict may change after the values were gathered.
        object.__setattr__(self, "stock", MappingProxyType(dict(self.stock)))
        object.__setattr__(self, "position", radians_of(self.lat, self.lon))
        object.__setattr__(self, "recorded_definition", None)

    def restocked(self, stock: Mapping[str, StockLevel], used_today: int) -> CandidateSource:
        """A copy with other stock (a read-only view of ``stock``, which the copy then owns) and
        shipments used today, not validated again (what is derived depends on neither): decoded
        inputs make one per candidate per decision."""
        return _restocked_copy(self, MappingProxyType(stock), used_today)

    def ships_to_country(self, country: str) -> bool:
        return self.ships_everywhere or country in self.ship_countries

    @property
    def capacity_left(self) -> int:
        """Shipments this source can still take today (capacity counts shipments, not units)."""
        return max(0, self.daily_capacity - self.used_today)


# Sources share a few shipping areas and method sets: each distinct one resolved once (re-runs
# and what-if build a candidate per recorded definition).
_expanded = functools.lru_cache(maxsize=1024)(expand)


@functools.lru_cache(maxsize=256)
def _methods(methods: frozenset[str]) -> frozenset[DeliveryMethod]:
    return frozenset(DeliveryMethod(m) for m in methods)


# The slots a copy sets, in the class's order (checked below: a field added to the class
# must be added here).
_COPIED = (
    "source_id",
    "kind",
    "lat",
    "lon",
    "country",
    "ships_to",
    "delivery_methods",
    "daily_capacity",
    "used_today",
    "cost",
    "lead_time_days",
    "priority",
    "active",
    "demand_classes",
    "stock",
    "position",
    "ships_everywhere",
    "ship_countries",
    "recorded_definition",
)
if CandidateSource.__slots__ != _COPIED:
    raise TypeError(f"CandidateSource's slots changed: {CandidateSource.__slots__}")
# Each slot set through its own descriptor (the frozen class's __setattr__ refuses).
(
    _set_source_id,
    _set_kind,
    _set_lat,
    _set_lon,
    _set_country,
    _set_ships_to,
    _set_delivery_methods,
    _set_daily_capacity,
    _set_used_today,
    _set_cost,
    _set_lead_time_days,
    _set_priority,
    _set_active,
    _set_demand_classes,
    _set_stock,
    _set_position,
    _set_ships_everywhere,
    _set_ship_countries,
    _set_recorded_definition,
) = (CandidateSource.__dict__[name].__set__ for name in _COPIED)


def _restocked_copy(
    source: CandidateSource, stock: Mapping[str, StockLevel], used_today: int
) -> CandidateSource:
    """``source`` copied slot by slot but ``stock`` and ``used_today`` (given), one statement a
    slot: a loop over the slots' setters took twice as long (a cold re-run at 200 candidates
    makes 200 copies)."""
    copy = object.__new__(CandidateSource)
    _set_source_id(copy, source.source_id)
    _set_kind(copy, source.kind)
    _set_lat(copy, source.lat)
    _set_lon(copy, source.lon)
    _set_country(copy, source.country)
    _set_ships_to(copy, source.ships_to)
    _set_delivery_methods(copy, source.delivery_methods)
    _set_daily_capacity(copy, source.daily_capacity)
    _set_used_today(copy, used_today)
    _set_cost(copy, source.cost)
    _set_lead_time_days(copy, source.lead_time_days)
    _set_priority(copy, source.priority)
    _set_active(copy, source.active)
    _set_demand_classes(copy, source.demand_classes)
    _set_stock(copy, stock)
    _set_position(copy, source.position)
    _set_ships_everywhere(copy, source.ships_everywhere)
    _set_ship_countries(copy, source.ship_countries)
    _set_recorded_definition(copy, source.recorded_definition)
    return copy


@dataclass(frozen=True, slots=True)
class OrderToRoute:
    order_id: str
    channel: str
    country: str
    demand_class: str
    delivery_method: DeliveryMethod
    total: Decimal
    currency: str
    lines: tuple[LineToRoute, ...]
    placed_at: datetime
    ship_to_lat: float | None = None
    ship_to_lon: float | None = None
    promised_by: datetime | None = None
    payment_state: str = "authorized"
    attributes: Mapping[str, AttributeValue] = field(default_factory=dict)
    # The source of each of the order's live shipments from earlier decisions (one entry per
    # shipment): the policy's shipment limit holds for the order's life, not per decision.
    live_shipment_sources: tuple[str, ...] = ()

    def __post_init__(self) -> None:
        # The messages are formatted only when a check fails (orders are read back by the
        # hundred thousand in a what-if run).
        if not _COUNTRY.match(self.country):
            _check_country(self.country, f"order {self.order_id}: country")
        if not _CURRENCY.match(self.currency):
            _check_currency(self.currency, f"order {self.order_id}: currency")
        if not isinstance(self.total, Decimal) or not self.total.is_finite():
            _check_money(self.total, f"order {self.order_id}: total")
        method = self.delivery_method
        if method.__class__ is not DeliveryMethod:
            object.__setattr__(self, "delivery_method", DeliveryMethod(method))
        object.__setattr__(self, "lines", tuple(self.lines))
        if not self.lines:
            raise ValueError(f"order {self.order_id}: at least one line is required")
        ids = [line.line_id for line in self.lines]
        if len(set(ids)) != len(ids):
            raise ValueError(f"order {self.order_id}: line ids must be unique")
        for name in ("placed_at", "promised_by"):
            value = getattr(self, name)
            if value is not None and value.utcoffset() is None:
                raise ValueError(f"order {self.order_id}: {name} must be timezone-aware")
        if (self.ship_to_lat is None) != (self.ship_to_lon is None):
            raise ValueError(f"order {self.order_id}: give both ship_to_lat and ship_to_lon")
        for key, value in self.attributes.items():
            if not isinstance(value, str | int | bool | float):
                raise ValueError(f"order {self.order_id}: attribute {key!r} must be a scalar")
        object.__setattr__(self, "attributes", MappingProxyType(dict(self.attributes)))
        object.__setattr__(self, "live_shipment_sources", tuple(self.live_shipment_sources))

    @property
    def has_ship_to(self) -> bool:
        return self.ship_to_lat is not None and self.ship_to_lon is not None

    @property
    def units(self) -> int:
        return sum(line.quantity for line in self.lines)
