"""An order to route as recorded with a decision's inputs (``decision_inputs``), and back.

Money is a decimal string, times ISO 8601, lines ``[line_id, sku, quantity]``.
"""

from collections.abc import Mapping
from datetime import datetime
from decimal import Decimal
from typing import Any

from orchestration_policies.inputs import LineToRoute, OrderToRoute

__all__ = ["order_from_plain", "order_plain"]


def order_plain(order: OrderToRoute) -> dict[str, Any]:
    return {
        "order_id": order.order_id,
        "channel": order.channel,
        "country": order.country,
        "demand_class": order.demand_class,
        "delivery_method": str(order.delivery_method),
        "total": str(order.total),
        "currency": order.currency,
        "lines": [[line.line_id, line.sku, line.quantity] for line in order.lines],
        "placed_at": order.placed_at.isoformat(),
        "ship_to_lat": order.ship_to_lat,
        "ship_to_lon": order.ship_to_lon,
        "promised_by": order.promised_by.isoformat() if order.promised_by else None,
        "payment_state": order.payment_state,
        "attributes": dict(order.attributes),
        "live_shipment_sources": list(order.live_shipment_sources),
    }


def order_from_plain(plain: Mapping[str, Any]) -> OrderToRoute:
    promised = plain["promised_by"]
    return OrderToRoute(
        order_id=plain["order_id"],
        channel=plain["channel"],
        country=plain["country"],
        demand_class=plain["demand_class"],
        delivery_method=plain["delivery_method"],
        total=Decimal(plain["total"]),
        currency=plain["currency"],
        lines=tuple(LineToRoute(lid, sku, qty) for lid, sku, qty in plain["lines"]),
        placed_at=datetime.fromisoformat(plain["placed_at"]),
        ship_to_lat=plain["ship_to_lat"],
        ship_to_lon=plain["ship_to_lon"],
        promised_by=datetime.fromisoformat(promised) if promised else None,
        payment_state=plain["payment_state"],
        attributes=plain["attributes"],
        live_shipment_sources=tuple(plain["live_shipment_sources"]),
    )
