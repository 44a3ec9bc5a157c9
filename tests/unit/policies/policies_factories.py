"""Small factories with readable defaults for the orchestration policy tests."""

from __future__ import annotations

import copy
from collections.abc import Mapping
from datetime import UTC, datetime
from decimal import Decimal
from typing import Any

from orchestration_policies import (
    CandidateSource,
    CostModel,
    DeliveryMethod,
    LineToRoute,
    OrderToRoute,
    Policy,
    SourceKind,
    StockLevel,
)

NOW = datetime(2024, 5, 1, 12, 0, tzinfo=UTC)

PARIS = (48.8566, 2.3522)
VERSAILLES = (48.8049, 2.1204)
LILLE = (50.6292, 3.0573)
LYON = (45.7640, 4.8357)
MARSEILLE = (43.2965, 5.3698)
BRUSSELS = (50.8503, 4.3517)

BASE_POLICY: dict[str, Any] = {
    "id": "test-policy",
    "version": 1,
    "name": "Test policy",
    "ranking": {
        "weights": {
            "distance_km": 1.0,
            "shipping_cost": 0.0,
            "lead_time_days": 0.0,
            "capacity_left": 0.0,
            "source_priority": 0.0,
            "stock_depth": 0.0,
        }
    },
    "split": {"allowed": True, "max_shipments": 3, "ship_complete": False, "split_penalty": 0.5},
    "backorder": "allow",
}


def _merge(base: dict[str, Any], extra: Mapping[str, Any]) -> dict[str, Any]:
    out = copy.deepcopy(base)
    for key, value in extra.items():
        if isinstance(value, Mapping) and isinstance(out.get(key), dict):
            out[key] = _merge(out[key], value)
        else:
            out[key] = value
    return out


def policy_document(**overrides: Any) -> dict[str, Any]:
    return _merge(BASE_POLICY, overrides)


def make_policy(**overrides: Any) -> Policy:
    return Policy.model_validate(policy_document(**overrides))


def make_order(
    *lines: tuple[str, int] | LineToRoute,
    order_id: str = "order-1",
    at: tuple[float, float] | None = PARIS,
    **overrides: Any,
) -> OrderToRoute:
    built = tuple(
        line if isinstance(line, LineToRoute) else LineToRoute(f"L{i + 1}", line[0], line[1])
        for i, line in enumerate(lines or (("RED-CHAIR", 1),))
    )
    fields: dict[str, Any] = {
        "order_id": order_id,
        "channel": "web",
        "country": "FR",
        "demand_class": "standard",
        "delivery_method": DeliveryMethod.STANDARD,
        "total": Decimal("199.90"),
        "currency": "EUR",
        "lines": built,
        "placed_at": datetime(2024, 5, 1, 9, 30, tzinfo=UTC),
        "ship_to_lat": at[0] if at else None,
        "ship_to_lon": at[1] if at else None,
        "payment_state": "authorized",
    }
    fields.update(overrides)
    return OrderToRoute(**fields)


def make_source(
    source_id: str,
    *,
    at: tuple[float, float] = PARIS,
    stock: Mapping[str, int | StockLevel] | None = None,
    kind: SourceKind = SourceKind.WAREHOUSE,
    cost: tuple[str, str, str] = ("5.00", "0.50", "0.00"),
    currency: str = "EUR",
    **overrides: Any,
) -> CandidateSource:
    levels = {
        sku: level if isinstance(level, StockLevel) else StockLevel(on_hand=level)
        for sku, level in (stock if stock is not None else {"RED-CHAIR": 10}).items()
    }
    fields: dict[str, Any] = {
        "source_id": source_id,
        "kind": kind,
        "lat": at[0],
        "lon": at[1],
        "country": "FR",
        "ships_to": frozenset({"FR", "BE"}),
        "delivery_methods": frozenset(DeliveryMethod),
        "daily_capacity": 100,
        "used_today": 0,
        "cost": CostModel(Decimal(cost[0]), Decimal(cost[1]), Decimal(cost[2]), currency),
        "lead_time_days": 1,
        "priority": 0,
        "active": True,
        "demand_classes": frozenset(),
        "stock": levels,
    }
    fields.update(overrides)
    return CandidateSource(**fields)


def shipped(decision: Any) -> dict[str, list[tuple[str, int]]]:
    """{source_id: [(sku, qty), ...]} for compact assertions."""
    return {
        source_id: [(line.sku, line.quantity) for line in lines]
        for source_id, lines in decision.shipments.items()
    }
