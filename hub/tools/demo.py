"""Demo data: a few sources, stock and orders from several channels, so that a newcomer's
first `orderhub serve --demo` shows a console with something in every view — orders routed,
shipped and late, held for payment, waiting for stock, unroutable, and a refused submission.

Everything goes through the hub's own services (nothing is written behind their back), so
the events, the audit trail and the exceptions are the real thing.
"""

import json
import random
from datetime import datetime, timedelta
from typing import Any

from hub.bootstrap import Hub
from hub.services.intake import RejectSubmission, SubmitOrder
from projections.order_query import OrderQuery
from schemas.fulfillment import FulfillmentUpdate, UpdateKind
from schemas.sources import SourceDefinition, StockSnapshot
from schemas.submission import OrderSubmission

ACTOR = "system:demo"
SOURCES = [
    ("wh-lyon", "Lyon DC", "warehouse", 45.75, 4.85, "FR", 2),
    ("wh-paris", "Paris DC", "warehouse", 48.86, 2.35, "FR", 1),
    ("store-lille", "Lille store", "store", 50.63, 3.06, "FR", 0),
    ("dropship-berlin", "Berlin supplier", "dropship", 52.52, 13.40, "DE", 3),
]
# SKU → (unit price, stock per source); GREEN-SOFA is nowhere, so its orders wait.
SKUS = {
    "RED-CHAIR": ("19.90", {"wh-lyon": 400, "wh-paris": 200, "store-lille": 20}),
    "BLUE-LAMP": ("5.00", {"wh-lyon": 300, "wh-paris": 300, "dropship-berlin": 500}),
    "OAK-TABLE": ("249.00", {"wh-paris": 40, "dropship-berlin": 60}),
    "GREY-RUG": ("89.50", {"wh-lyon": 30, "store-lille": 5}),
    "GREEN-SOFA": ("899.00", {}),
}
CHANNELS = ["web-shop", "marketplace", "pos-lyon", "call-center", "b2b-edi"]
CITIES = [
    ("Lyon", "69002", "FR", 45.757, 4.832),
    ("Paris", "75011", "FR", 48.857, 2.379),
    ("Lille", "59000", "FR", 50.629, 3.057),
    ("Marseille", "13001", "FR", 43.296, 5.370),
    ("Berlin", "10115", "DE", 52.532, 13.384),
]
CUSTOMERS = ["CUST-ADA", "CUST-GRACE", "CUST-ALAN", "CUST-KATE", "CUST-LINUS", "CUST-BARBARA"]


def seed(hub: Hub, orders: int = 60, rng_seed: int = 7) -> int:
    """Fill an empty hub; returns the number of orders placed (0 when it had orders already)."""
    if hub.order_status.search(OrderQuery(limit=1)).rows:
        return 0
    rng = random.Random(rng_seed)
    now = hub.clock()
    for source_id, name, kind, lat, lon, country, lead in SOURCES:
        hub.catalog.register_source(_source(source_id, name, kind, lat, lon, country, lead), ACTOR)
    for sku, (_, levels) in SKUS.items():
        for source_id, on_hand in levels.items():
            hub.catalog.apply_stock(
                StockSnapshot(source_id=source_id, sku=sku, on_hand=on_hand), ACTOR
            )
    commands = [_order(i, rng, now) for i in range(orders)]
    hub.intake.place_orders(commands)
    hub.intake.record_rejections([_refused(now)])
    hub.deliver()
    _progress(hub, commands, rng, now)
    hub.jeopardy.tick()
    hub.deliver()
    return len(commands)


def _source(
    source_id: str, name: str, kind: str, lat: float, lon: float, country: str, lead: int
) -> SourceDefinition:
    return SourceDefinition.model_validate(
        {
            "source_id": source_id,
            "name": name,
            "kind": kind,
            "lat": lat,
            "lon": lon,
            "country": country,
            "ships_to": ["FR", "DE", "BE"],
            "delivery_methods": ["standard", "express"]
            + (["click_and_collect"] if kind == "store" else []),
            "daily_capacity": 500,
            "cost": {"base": "4.00", "per_unit": "0.50", "per_km": "0.01", "currency": "EUR"},
            "lead_time_days": lead,
        }
    )


def _order(i: int, rng: random.Random, now: datetime) -> SubmitOrder:
    channel = CHANNELS[i % len(CHANNELS)]
    city, postal, country, lat, lon = CITIES[rng.randrange(len(CITIES))]
    skus = rng.sample(sorted(set(SKUS) - {"GREEN-SOFA"}), k=rng.choice([1, 1, 2, 3]))
    if i % 13 == 5:
        skus = ["GREEN-SOFA"]  # nobody has it: the order waits for stock
    placed = now - timedelta(hours=rng.uniform(2, 48))
    payload: dict[str, Any] = {
        "channel": channel,
        "external_id": f"{channel.upper()[:3]}-{1000 + i}",
        "placed_at": placed.isoformat(),
        "customer": {"id": CUSTOMERS[i % len(CUSTOMERS)], "name": "Demo Customer"},
        "ship_to": {
            "name": "Demo Customer",
            "line1": f"{i} rue de la Demo",
            "city": city,
            "postal_code": postal,
            "country": "US" if i % 17 == 9 else country,  # nobody ships there: unroutable
            "lat": lat,
            "lon": lon,
        },
        "lines": [
            {
                "line_id": str(n + 1),
                "sku": sku,
                "quantity": rng.randint(1, 3),
                "unit_price": SKUS[sku][0],
            }
            for n, sku in enumerate(skus)
        ],
        "currency": "EUR",
        "payment_state": "pending" if i % 11 == 3 else "authorized",
        "delivery_method": rng.choice(["standard", "standard", "express"]),
    }
    if i % 7 == 2:
        # Promised soon: these orders run into jeopardy or are late already.
        payload["promised_by"] = (now + timedelta(hours=rng.uniform(-6, 20))).isoformat()
        payload["placed_at"] = (now - timedelta(hours=30)).isoformat()
    text = json.dumps(payload)
    return SubmitOrder(
        submission=OrderSubmission.model_validate(payload),
        raw_payload=text,
        actor=f"channel:{channel}",
        correlation_id=f"demo-{i}",
    )


def _refused(now: datetime) -> RejectSubmission:
    payload = '{"channel": "marketplace", "external_id": "MKT-BAD-1", "lines": []}'
    return RejectSubmission(
        channel="marketplace",
        raw_payload=payload,
        format="canonical",
        reason="invalid_submission",
        problems=[
            {"field": "lines", "message": "at least one line is needed", "code": "too_short"}
        ],
        actor="channel:marketplace",
        external_id="MKT-BAD-1",
    )


def _progress(hub: Hub, commands: list[SubmitOrder], rng: random.Random, now: datetime) -> None:
    """Move some shipments on, as warehouses would have reported them."""
    for i, command in enumerate(commands):
        if i % 7 == 2:
            continue  # the promised-soon orders stay unshipped
        order = hub.intake.find(command.order_id)
        if order is None:
            continue
        steps = [UpdateKind.ACCEPTED, UpdateKind.PICKED, UpdateKind.SHIPPED, UpdateKind.DELIVERED]
        reach = rng.randrange(len(steps) + 1)
        for shipment_id, shipment in sorted(order.shipments.items()):
            if i % 19 == 4:
                reach, steps = (
                    3,
                    [UpdateKind.ACCEPTED, UpdateKind.SHIPPED, UpdateKind.DELIVERY_FAILED],
                )
            for n, kind in enumerate(steps[:reach]):
                hub.fulfillment.apply_update(
                    FulfillmentUpdate(
                        order_id=command.order_id,
                        shipment_id=shipment_id,
                        source_id=shipment.source_id,
                        kind=kind,
                        at=hub.clock(),
                        carrier="DemoPost" if kind is UpdateKind.SHIPPED else None,
                        tracking=f"DP{i:04d}{n}" if kind is UpdateKind.SHIPPED else None,
                    )
                )
        hub.deliver()
