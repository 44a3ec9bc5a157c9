"""What decide() is given for an order: the order to route, from the order aggregate.

The lines still to place, with the sources of its live shipments, so the split limit holds
for its life. Everything decide() saw is recorded as `DecisionInputs`
(orchestration_policies.decision_inputs), whose digest the decision names.
"""

from datetime import datetime
from decimal import Decimal

from aggregates import Order
from orchestration_policies import LineToRoute, OrderToRoute


def order_to_route(order: Order) -> OrderToRoute:
    sub = order.submission
    pending = order.lines_to_route()
    prices = {line["line_id"]: Decimal(line["unit_price"]) for line in sub["lines"]}
    return OrderToRoute(
        order_id=str(order.id),
        channel=sub["channel"],
        country=sub["ship_to"]["country"],
        demand_class=sub["customer"].get("demand_class", "standard"),
        delivery_method=sub.get("delivery_method", "standard"),
        total=sum((prices[lid] * qty for lid, (_, qty) in pending.items()), Decimal(0)),
        currency=sub["currency"],
        lines=tuple(
            LineToRoute(line_id=lid, sku=sku, quantity=qty)
            for lid, (sku, qty) in sorted(pending.items())
        ),
        placed_at=datetime.fromisoformat(sub["placed_at"]),
        ship_to_lat=sub["ship_to"].get("lat"),
        ship_to_lon=sub["ship_to"].get("lon"),
        promised_by=datetime.fromisoformat(sub["promised_by"]) if sub.get("promised_by") else None,
        payment_state=sub.get("payment_state", "pending"),
        live_shipment_sources=order.live_shipment_sources(),
    )
