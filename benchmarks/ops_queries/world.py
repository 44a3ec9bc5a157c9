"""The synthetic world the benchmark loads: channels, customers, SKUs, sources, orders."""

from __future__ import annotations

import json
import random
import uuid
from collections.abc import Sequence
from dataclasses import dataclass, field
from datetime import datetime, timedelta
from itertools import accumulate
from typing import Any

from projections.audit_trail import AuditEntry
from projections.exception_rules import KIND_SEVERITY, ExceptionRow
from projections.order_rows import SHIPPED_STATUSES, OrderFacts, OrderStatusRow, utc_text
from projections.stock_rows import StockLevel
from schemas.event_types import EventType

GOAL_MS = 50.0

# -- the synthetic world -----------------------------------------------------------------------

# (channel id, external id prefix, share of orders)
CHANNELS = [
    ("web", "WEB", 0.42),
    ("app", "APP", 0.25),
    ("marketplace", "MKT", 0.17),
    ("stores", "STO", 0.09),
    ("b2b", "B2B", 0.05),
    ("phone", "PHO", 0.02),
]
COUNTRIES = [("FR", "EUR", 40), ("DE", "EUR", 20), ("GB", "GBP", 12), ("ES", "EUR", 9)]
COUNTRIES += [("IT", "EUR", 8), ("BE", "EUR", 5), ("NL", "EUR", 4), ("US", "USD", 2)]
CITIES = ["paris", "lyon", "lille", "bordeaux", "koeln", "leeds", "madrid", "milano"]
STUCK = ("held", "backordered", "unroutable")
# Statuses by the order's age: (statuses, weights). Old orders are finished, a few stay stuck.
FRESH = (  # under 2 days
    (
        *("placed", "accepted", "routed", "in_fulfillment", "partially_shipped", "shipped"),
        *("held", "backordered", "unroutable", "rerouting", "cancelling", "cancelled", "rejected"),
    ),
    (1, 4, 10, 42, 2, 22, 4, 6, 2, 1, 0.5, 3, 2.5),
)
RECENT = (  # 2 to 14 days
    (
        *("in_fulfillment", "partially_shipped", "shipped", "delivered", "completed", "held"),
        *("backordered", "unroutable", "cancelled", "rejected", "returned", "partially_returned"),
    ),
    (4, 1.5, 30, 40, 12, 1.2, 3, 0.8, 3, 1.5, 1.5, 1),
)
OLD = (  # over 14 days
    (
        *("delivered", "completed", "shipped", "returned", "partially_returned", "cancelled"),
        *("rejected", "held", "backordered", "unroutable", "in_fulfillment"),
    ),
    (44, 42, 1.5, 3, 2, 4, 1.5, 0.4, 0.6, 0.3, 0.2),
)
HOLD_RULES = ["fraud_check: score 0.91", "credit_limit: over limit", "address: unverified"]
EXCEPTION_KINDS_RESOLVED = (
    (
        *("on_hold", "backordered", "delivery_failed", "jeopardy", "late", "unroutable"),
        "no_source_left",
    ),
    (25, 25, 15, 20, 8, 5, 2),
)
ASSIGNEES = ["", "", "", "user:alice", "user:bob", "user:chen", "user:dana"]


@dataclass
class Sample:
    """What the queries draw their parameters from: values that exist in the loaded data."""

    now: datetime
    orders: list[tuple[str, str, str, str, tuple[str, ...], tuple[str, ...]]] = field(
        default_factory=list
    )  # (order_id, channel, customer, external_id, skus, sources), every 50th order
    audited: list[str] = field(default_factory=list)
    exception_customers: list[str] = field(default_factory=list)
    exception_skus: list[str] = field(default_factory=list)
    exception_sources: list[str] = field(default_factory=list)
    exception_channels: list[str] = field(default_factory=list)
    skus: list[str] = field(default_factory=list)
    sources: list[str] = field(default_factory=list)
    counts: dict[str, int] = field(default_factory=dict)


def _uuid(rng: random.Random) -> str:
    return str(uuid.UUID(int=rng.getrandbits(128), version=4))


def _zipf(n: int, s: float) -> list[float]:
    return list(accumulate(1 / (k + 1) ** s for k in range(n)))


class World:
    def __init__(self, orders: int, seed: int, now: datetime) -> None:
        self.rng = random.Random(seed)
        self.now = now
        self.n_orders = orders
        self.customers = max(100, min(100_000, orders // 10))
        self.skus = [f"SKU-{i:05d}" for i in range(5_000)]
        rng = random.Random(seed + 1)
        rng.shuffle(self.skus)  # popularity is not alphabetical
        self.sku_weights = _zipf(len(self.skus), 1.0)
        dcs = [f"dc-{city}" for city in CITIES]
        stores = [f"store-{i:03d}" for i in range(1, 43)]
        self.sources = dcs + stores
        self.source_weights = list(accumulate([60 / len(dcs)] * len(dcs) + [1.0] * len(stores)))
        self.channel_weights = list(accumulate(share for _, _, share in CHANNELS))
        self.country_weights = list(accumulate(w for _, _, w in COUNTRIES))
        self.external_seq = {c: 0 for c, _, _ in CHANNELS}

    def _status(self, age_days: float) -> str:
        statuses, weights = FRESH if age_days < 2 else RECENT if age_days < 14 else OLD
        return self.rng.choices(statuses, weights)[0]

    def order(self, i: int) -> OrderStatusRow:
        rng = self.rng
        # Orders arrive in time order (so the table is, as a live one would be), a year of
        # them, and volume grows over the year: order i is the quantile i / N of the ages.
        age = max(0.0, 365 * (1 - i / self.n_orders) ** 1.3 - rng.random() / 100)
        placed = self.now - timedelta(days=age)
        placed = placed.replace(microsecond=0)
        channel, prefix, _ = CHANNELS[
            min(len(CHANNELS) - 1, _pick(self.channel_weights, rng.random()))
        ]
        self.external_seq[channel] += 1
        customer = f"cus-{int(self.customers * rng.random() ** 2.2):06d}"
        country, currency, _ = COUNTRIES[_pick(self.country_weights, rng.random())]
        n_lines = rng.choices((1, 2, 3, 4), (55, 25, 12, 8))[0]
        skus = tuple(sorted(set(rng.choices(self.skus, cum_weights=self.sku_weights, k=n_lines))))
        quantities = [rng.choice((1, 1, 1, 2, 2, 3)) for _ in range(n_lines)]
        units = sum(quantities)
        total = sum(rng.randrange(499, 25_000) * q for q in quantities)
        status = self._status(age)
        delivery = rng.choices(("standard", "express", "pickup"), (75, 20, 5))[0]
        promise = placed + timedelta(days={"standard": 4, "express": 1, "pickup": 2}[delivery])
        routed = status not in ("placed", "accepted", "held", "rejected", "unroutable")
        sources: tuple[str, ...] = ()
        shipments: dict[str, str] = {}
        if routed and status != "backordered":
            n_src = 2 if rng.random() < 0.08 else 1
            sources = tuple(
                sorted(set(rng.choices(self.sources, cum_weights=self.source_weights, k=n_src)))
            )
            state = {
                "shipped": "shipped",
                "delivered": "delivered",
                "completed": "delivered",
                "returned": "delivered",
                "partially_returned": "delivered",
                "cancelled": "cancelled",
                "cancelling": "accepted",
            }.get(status, "requested")
            shipments = {f"shp-{i:08d}-{k}": state for k in range(len(sources))}
        elif status in ("backordered", "unroutable") and rng.random() < 0.3:
            # A source refused the order's shipment: waiting for stock, or nowhere left to go.
            sources = (self.sources[_pick(self.source_weights, rng.random())],)
            shipments = {f"shp-{i:08d}-0": "rejected"}
        shipped = status in SHIPPED_STATUSES or status == "partially_shipped"
        shipped_units = units if shipped else 0
        facts = OrderFacts(
            invoiced=tuple(sorted(shipments)) if status == "completed" else (),
            shipments=shipments,
            waiting=status == "backordered",
            shipped_units=shipped_units,
        )
        reasons: tuple[str, ...] = ()
        if status == "held":
            reasons = (rng.choice(HOLD_RULES),)
        elif status == "backordered":
            reasons = (f"line-1: waiting for {skus[0]}",)
        elif status == "unroutable":
            reasons = (f"no source can ship {skus[0]} to {country}",)
        elif status == "rejected":
            reasons = ("ship_to.postal_code: not a valid postal code",)
        hours_to_ship = rng.lognormvariate(3.0, 0.6)
        updated = placed + timedelta(hours=min(age * 24, hours_to_ship * (3 if shipped else 1)))
        return OrderStatusRow(
            order_id=_uuid(rng),
            channel=channel,
            external_id=f"{prefix}-{self.external_seq[channel]:08d}",
            status=status,
            customer_id=customer,
            demand_class=rng.choices(("standard", "priority", "vip"), (85, 12, 3))[0],
            country=country,
            currency=currency,
            total=f"{total // 100}.{total % 100:02d}",
            line_count=n_lines,
            placed_at=utc_text(placed),  # as the view spells it
            received_at=(placed + timedelta(seconds=rng.randrange(1, 90))).isoformat(),
            updated_at=updated.isoformat(),
            version=3 + len(shipments) * 3 + (1 if status == "completed" else 0),
            digest=f"{rng.getrandbits(256):064x}",
            reasons=reasons,
            fulfillment=facts,
            delivery_method=delivery,
            promised_by=utc_text(promise),
            skus=skus,
            sources=sources,
            units_ordered=units,
            units_shipped=shipped_units,
            shipped_at=utc_text(placed + timedelta(hours=hours_to_ship)) if shipped else "",
            split=len(sources) > 1,
            distance_km=round(rng.uniform(3, 900), 3) if sources else None,
            backordered=status == "backordered" or rng.random() < 0.02,
        )

    def exceptions(self, row: OrderStatusRow) -> list[ExceptionRow]:
        """The order's exceptions: an open one for a stuck order, resolved ones for ~3.5 %."""
        rng = self.rng
        placed = datetime.fromisoformat(row.placed_at)
        found: list[ExceptionRow] = []
        kinds: list[tuple[str, bool]] = []
        if row.status in STUCK:
            kind = {"held": "on_hold", "backordered": "backordered"}.get(row.status, "unroutable")
            if kind == "unroutable" and row.sources:
                kind = "no_source_left"
            kinds.append((kind, True))
        elif row.status == "shipped" and rng.random() < 0.03:
            kinds.append(("delivery_failed", True))
        elif row.status in ("in_fulfillment", "routed") and rng.random() < 0.08:
            kinds.append((rng.choice(("jeopardy", "late")), rng.random() < 0.7))
        if rng.random() < 0.035:
            kinds.append((rng.choices(*EXCEPTION_KINDS_RESOLVED)[0], False))
        for n, (kind, is_open) in enumerate(kinds):
            opened = placed + timedelta(minutes=rng.randrange(1, 60 * 48))
            severity = KIND_SEVERITY[kind]
            if kind == "jeopardy":
                severity = rng.choice(("low", "medium", "high"))
            source = ""
            if kind in ("delivery_failed", "no_source_left") and row.sources:
                source = row.sources[0]
            elif kind in ("delivery_failed", "no_source_left"):
                source = self.sources[_pick(self.source_weights, rng.random())]
            resolved = "" if is_open else (opened + timedelta(hours=rng.randrange(1, 72)))
            found.append(
                ExceptionRow(
                    exception_id=f"{kind}:{row.order_id}:{row.version + n}",
                    kind=kind,
                    severity=severity,
                    order_id=row.order_id,
                    channel=row.channel,
                    customer_id=row.customer_id,
                    skus=row.skus[:1] if kind == "backordered" else row.skus,
                    source_id=source,
                    reason=row.reasons[0] if row.reasons else f"{kind.replace('_', ' ')}",
                    opened_at=opened.isoformat(),
                    resolved_at=resolved.isoformat() if isinstance(resolved, datetime) else "",
                    resolved_by="" if is_open else rng.choice(("system:hub", "user:alice")),
                    resolution="" if is_open else "resolved",
                    assignee=rng.choice(ASSIGNEES) if is_open else "",
                )
            )
        return found

    def submission_exceptions(self, count: int) -> list[ExceptionRow]:
        """Rejected and parked submissions: no order, a channel."""
        rng = self.rng
        rows = []
        for _ in range(count):
            kind = "parked" if rng.random() < 0.2 else "rejected_submission"
            opened = self.now - timedelta(days=365 * rng.random() ** 1.3)
            is_open = rng.random() < 0.2
            channel = CHANNELS[min(len(CHANNELS) - 1, _pick(self.channel_weights, rng.random()))]
            rows.append(
                ExceptionRow(
                    exception_id=f"{kind}:{_uuid(rng)}",
                    kind=kind,
                    severity=KIND_SEVERITY[kind],
                    order_id="",
                    channel=channel[0],
                    customer_id="",
                    skus=(),
                    source_id="",
                    reason="invalid: lines.0.quantity must be positive",
                    opened_at=opened.isoformat(),
                    resolved_at="" if is_open else (opened + timedelta(hours=2)).isoformat(),
                    resolved_by="" if is_open else "user:bob",
                    resolution="" if is_open else "resubmitted",
                )
            )
        return rows

    def audit(self, row: OrderStatusRow) -> list[AuditEntry]:
        rng = self.rng
        placed = datetime.fromisoformat(row.placed_at)
        channel_actor = f"channel:{row.channel}"
        steps: list[tuple[str, str, str, dict[str, Any]]] = [
            (
                EventType.ORDER_PLACED,
                channel_actor,
                f"Placed by channel {row.channel} as {row.external_id}: "
                f"{row.line_count} lines, {row.total} {row.currency}, "
                f"{row.delivery_method} delivery to {row.country}",
                {
                    "submission": {
                        "channel": row.channel,
                        "external_id": row.external_id,
                        "currency": row.currency,
                        "lines": [
                            {"line_id": f"line-{n}", "sku": sku, "quantity": 1}
                            for n, sku in enumerate(row.skus, 1)
                        ],
                    },
                    "received_at": row.received_at,
                    "digest": row.digest,
                },
            ),
            (EventType.ORDER_ACCEPTED, "system:hub", "Accepted: passed the intake checks", {}),
        ]
        if row.status == "held":
            steps.append((EventType.ORDER_HELD, "system:hub", f"Held: {row.reasons[0]}", {}))
        for source in row.sources:
            sid = f"shp-{rng.getrandbits(32):08x}"
            steps.append(
                (
                    EventType.ORDER_ROUTED,
                    "system:orchestrator",
                    f"Routed with policy default v3: {source} ships {row.units_ordered} units",
                    {"policy_id": "default", "policy_version": 3, "source_id": source},
                )
            )
            steps.append(
                (
                    EventType.ORDER_FULFILLMENT_REQUESTED,
                    "system:orchestrator",
                    f"Shipment {sid} requested from {source}",
                    {"shipment_id": sid, "source_id": source},
                )
            )
            for state in ("accepted", "picked", "shipped", "delivered"):
                if state in ("shipped", "delivered") and row.status not in SHIPPED_STATUSES:
                    break
                steps.append(
                    (
                        EventType.ORDER_SHIPMENT_PROGRESSED,
                        f"source:{source}",
                        f"Shipment {sid} {state} at {source}",
                        {"shipment_id": sid, "source_id": source, "state": state},
                    )
                )
        entries = []
        moment = placed
        for sequence, (type_, actor, summary, data) in enumerate(steps, 1):
            moment += timedelta(minutes=rng.randrange(1, 600))
            entries.append(
                AuditEntry(
                    order_id=row.order_id,
                    event_id=_uuid(rng),
                    sequence=sequence,
                    time=moment.isoformat(timespec="microseconds"),
                    actor=actor,
                    actor_kind=actor.partition(":")[0],
                    type=type_,
                    summary=summary,
                    data=json.dumps(data, sort_keys=True),
                )
            )
        return entries

    def stock(self, source: str, sku: str) -> StockLevel:
        rng = self.rng
        on_hand = 0 if rng.random() < 0.06 else rng.randrange(1, 400)
        safety = rng.choice((0, 0, 2, 5))
        held = {}
        if on_hand and rng.random() < 0.1:
            held = {_uuid(rng): rng.randrange(1, 3) for _ in range(rng.randrange(1, 4))}
        reserved = sum(held.values())
        moment = self.now - timedelta(minutes=rng.randrange(1, 60 * 24 * 30))
        return StockLevel(
            source_id=source,
            sku=sku,
            on_hand=on_hand,
            reserved=reserved,
            safety_stock=safety,
            available=max(0, on_hand - reserved - safety),
            updated_at=moment.strftime("%Y-%m-%dT%H:%M:%S.%fZ"),
            version=rng.randrange(1, 60),
        )


def _pick(cumulative: Sequence[float], u: float) -> int:
    target = u * cumulative[-1]
    low, high = 0, len(cumulative) - 1
    while low < high:
        mid = (low + high) // 2
        if cumulative[mid] < target:
            low = mid + 1
        else:
            high = mid
    return low
