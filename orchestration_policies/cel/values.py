"""The values CEL conditions see, built from the plain inputs of ``decide()``.

What a condition sees (names are fixed and documented for policy authors):

``order``
    order_id, channel, country, demand_class, delivery_method, payment_state, currency (strings);
    total (double); ship_to_lat, ship_to_lon (double); lines (list of maps with line_id, sku,
    quantity); line_count, units (int); skus (list of strings, in line order); placed_at,
    promised_by (timestamp); attributes (map).
``source`` (eligibility rules only)
    source_id, kind, country (strings); lat, lon, distance_km (double); ships_to,
    delivery_methods, demand_classes (sorted lists of strings); daily_capacity, used_today,
    capacity_left, lead_time_days, priority (int); active (bool); cost (map: base, per_unit,
    per_km as double, currency); stock (map keyed by the ordered SKUs only, each with on_hand,
    reserved, safety_stock, available as int).
``now``
    the decision time (timestamp).

A value that is unknown (no ship-to position, hence no distance; no promised date) is absent
from its map rather than null, because cel-python 0.5 cannot compare a double with null: guard
with ``has(source.distance_km)``. Attributes and stock are open maps; guard them with has() too.

Money (``Decimal``) is given to CEL as a double: conditions compare amounts against thresholds
(``order.total > 500.0``); no amount computed by CEL is ever charged. Write double literals
with a decimal point: cel-python rejects ``int > double`` comparisons.
"""

from __future__ import annotations

from collections.abc import Callable, Collection, Iterable
from datetime import UTC, datetime
from decimal import Decimal
from typing import Any, TypeAlias

from celpy import celtypes

from orchestration_policies.inputs import (
    CandidateSource,
    CostModel,
    DeliveryMethod,
    LineToRoute,
    OrderToRoute,
    SourceKind,
    StockLevel,
)

__all__ = [
    "COST_FIELDS",
    "MISSING",
    "ORDER_FIELDS",
    "SOURCE_FIELDS",
    "SOURCE_GETTERS",
    "STOCK_FIELDS",
    "OrderFacts",
    "Plain",
    "freeze",
    "resolve",
    "sample_order",
    "sample_source",
    "source_plain",
    "to_cel",
]

Plain: TypeAlias = "str | int | float | bool | datetime | list[Plain] | dict[str, Plain] | None"


def _order_plain(order: OrderToRoute) -> dict[str, Plain]:
    skus: list[Plain] = list(dict.fromkeys(line.sku for line in order.lines))
    lines: list[Plain] = [
        {"line_id": ln.line_id, "sku": ln.sku, "quantity": ln.quantity} for ln in order.lines
    ]
    plain: dict[str, Plain] = {
        "order_id": order.order_id,
        "channel": order.channel,
        "country": order.country,
        "demand_class": order.demand_class,
        "delivery_method": str(order.delivery_method),
        "payment_state": order.payment_state,
        "currency": order.currency,
        "total": float(order.total),
        "ship_to_lat": order.ship_to_lat,
        "ship_to_lon": order.ship_to_lon,
        "lines": lines,
        "line_count": len(order.lines),
        "units": order.units,
        "skus": skus,
        "placed_at": order.placed_at,
        "promised_by": order.promised_by,
        "attributes": dict(order.attributes),
    }
    return {k: v for k, v in plain.items() if v is not None}


def _cost_plain(cost: CostModel) -> dict[str, Plain]:
    return {
        "base": cost.base_f,
        "per_unit": cost.per_unit_f,
        "per_km": cost.per_km_f,
        "currency": cost.currency,
    }


def _stock_plain(
    source: CandidateSource, distance: float | None, skus: tuple[str, ...]
) -> dict[str, Plain]:
    out: dict[str, Plain] = {}
    for sku in skus:
        level = source.stock.get(sku)
        if level is not None:
            out[sku] = {
                "on_hand": level.on_hand,
                "reserved": level.reserved,
                "safety_stock": level.safety_stock,
                "available": level.available,
            }
    return out


def _sorted(values: Iterable[str]) -> list[Plain]:
    return list(sorted(values))


_SourceGetter = Callable[[CandidateSource, "float | None", tuple[str, ...]], Plain]

# Each getter returns exactly what the CEL map holds under that name, so a memo key built from
# getters always describes the activation the condition would have seen.
SOURCE_GETTERS: dict[str, _SourceGetter] = {
    "source_id": lambda s, d, k: s.source_id,
    "kind": lambda s, d, k: s.kind,  # a StrEnum: equal to, and hashed as, its string
    "country": lambda s, d, k: s.country,
    "lat": lambda s, d, k: s.lat,
    "lon": lambda s, d, k: s.lon,
    "distance_km": lambda s, d, k: d,
    "ships_to": lambda s, d, k: _sorted(s.ships_to),
    "delivery_methods": lambda s, d, k: _sorted(str(m) for m in s.delivery_methods),
    "demand_classes": lambda s, d, k: _sorted(s.demand_classes),
    "daily_capacity": lambda s, d, k: s.daily_capacity,
    "used_today": lambda s, d, k: s.used_today,
    "capacity_left": lambda s, d, k: s.capacity_left,
    "lead_time_days": lambda s, d, k: s.lead_time_days,
    "priority": lambda s, d, k: s.priority,
    "active": lambda s, d, k: s.active,
    "cost": lambda s, d, k: _cost_plain(s.cost),
    "stock": _stock_plain,
}

ORDER_FIELDS = frozenset(
    {
        "order_id", "channel", "country", "demand_class", "delivery_method", "payment_state",
        "currency", "total", "ship_to_lat", "ship_to_lon", "lines", "line_count", "units",
        "skus", "placed_at", "promised_by", "attributes",
    }
)  # fmt: skip
SOURCE_FIELDS = frozenset(SOURCE_GETTERS)
COST_FIELDS = frozenset({"base", "per_unit", "per_km", "currency"})
STOCK_FIELDS = frozenset({"on_hand", "reserved", "safety_stock", "available"})


def source_plain(
    source: CandidateSource,
    distance: float | None,
    skus: tuple[str, ...],
    fields: Collection[str] | None = None,
) -> Plain:
    """The source as a condition sees it: every field, or only `fields` (those it reads)."""
    out: dict[str, Plain] = {}
    for name, get in SOURCE_GETTERS.items():
        if fields is not None and name not in fields:
            continue
        value = get(source, distance, skus)
        if value is not None:
            out[name] = value
    return out


def to_cel(value: Plain) -> Any:
    """Convert a plain value to cel-python's types (bool before int: bool is an int in Python)."""
    if value is None:
        return None
    if isinstance(value, bool):
        return celtypes.BoolType(value)
    if isinstance(value, int):
        return celtypes.IntType(value)
    if isinstance(value, float):
        return celtypes.DoubleType(value)
    if isinstance(value, str):
        return celtypes.StringType(value)
    if isinstance(value, datetime):
        return celtypes.TimestampType(value)
    if isinstance(value, list):
        return celtypes.ListType([to_cel(v) for v in value])
    return celtypes.MapType({celtypes.StringType(k): to_cel(v) for k, v in value.items()})


class OrderFacts:
    """Per-call view of the order for conditions; built once per ``decide()``."""

    __slots__ = ("_cel", "keys", "now", "order", "plain", "skus")

    def __init__(self, order: OrderToRoute, now: datetime) -> None:
        self.order = order
        self.now = now
        self.plain = _order_plain(order)
        self.skus: tuple[str, ...] = tuple(dict.fromkeys(line.sku for line in order.lines))
        self._cel: Any = None
        self.keys: dict[object, object] = {}  # per condition: the order's part of its memo key

    def cel_order(self) -> Any:
        if self._cel is None:
            self._cel = to_cel(self.plain)
        return self._cel


# --- memo keys: the values a condition reads, made hashable -------------------------------

MISSING = object()


def resolve(value: object, segments: tuple[str, ...]) -> object:
    for seg in segments:
        if not isinstance(value, dict) or seg not in value:
            return MISSING
        value = value[seg]
    return value


def freeze(value: object) -> object:
    # The type is part of the key: 1, 1.0 and True are equal in Python but not in CEL.
    if isinstance(value, dict):
        return (dict, tuple(sorted((k, freeze(v)) for k, v in value.items())))
    if isinstance(value, list):
        return (list, tuple(freeze(v) for v in value))
    if isinstance(value, datetime):
        # Equal instants with different offsets give different getHours(): keep the offset.
        return (datetime, value.isoformat())
    return (value.__class__, value)


def sample_order() -> OrderToRoute:
    return OrderToRoute(
        order_id="sample-order",
        channel="web",
        country="FR",
        demand_class="standard",
        delivery_method=DeliveryMethod.STANDARD,
        total=Decimal("100.00"),
        currency="EUR",
        lines=(LineToRoute("1", "SAMPLE-SKU", 1),),
        placed_at=datetime(2024, 1, 1, tzinfo=UTC),
        ship_to_lat=48.85,
        ship_to_lon=2.35,
        promised_by=datetime(2024, 1, 3, tzinfo=UTC),
    )


def sample_source() -> CandidateSource:
    return CandidateSource(
        source_id="sample-source",
        kind=SourceKind.WAREHOUSE,
        lat=45.76,
        lon=4.84,
        country="FR",
        ships_to=frozenset({"FR"}),
        delivery_methods=frozenset({DeliveryMethod.STANDARD}),
        daily_capacity=10,
        used_today=1,
        cost=CostModel(Decimal("1"), Decimal("1"), Decimal("0.01"), "EUR"),
        lead_time_days=1,
        stock={"SAMPLE-SKU": StockLevel(on_hand=5)},
    )
