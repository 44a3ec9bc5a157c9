"""What decide() is given for an order, and the digest of all it saw.

The order to route is built from the order aggregate (the lines still to place, with the
sources of its live shipments, so the split limit holds for its life); the inputs digest
lets a recorded decision be checked by re-running it.
"""

import dataclasses
import functools
import hashlib
import json
from collections.abc import Mapping
from datetime import datetime
from decimal import Decimal
from typing import Any

from aggregates import Order
from orchestration_policies import CandidateSource, DeliveryMethod, LineToRoute, OrderToRoute


def order_to_route(order: Order) -> OrderToRoute:
    sub = order.submission
    pending = order.lines_to_route()
    prices = {line.line_id: line.unit_price for line in sub.lines}
    return OrderToRoute(
        order_id=str(order.id),
        channel=sub.channel,
        country=sub.ship_to.country,
        demand_class=sub.customer.demand_class,
        delivery_method=DeliveryMethod(sub.delivery_method),
        total=sum((prices[lid] * qty for lid, (_, qty) in pending.items()), Decimal(0)),
        currency=sub.currency,
        lines=tuple(
            LineToRoute(line_id=lid, sku=sku, quantity=qty)
            for lid, (sku, qty) in sorted(pending.items())
        ),
        placed_at=sub.placed_at,
        ship_to_lat=sub.ship_to.lat,
        ship_to_lon=sub.ship_to.lon,
        promised_by=sub.promised_by,
        payment_state=sub.payment_state.value,
        live_shipment_sources=order.live_shipment_sources(),
    )


def inputs_digest(order: OrderToRoute, candidates: list[CandidateSource], now: datetime) -> str:
    """sha256 of everything decide() saw, so a recorded decision can be checked by re-running."""
    facts = {
        "now": now.isoformat(),
        "order": _plain(order),
        "candidates": sorted((_plain_candidate(c) for c in candidates), key=_by_source_id),
    }
    canonical = json.dumps(facts, sort_keys=True, separators=(",", ":"), default=str)
    return hashlib.sha256(canonical.encode()).hexdigest()


def _by_source_id(candidate: dict[str, Any]) -> str:
    return str(candidate["source_id"])


# What changes from one order to the next; the rest of a source is the same for every order.
_PER_ORDER = ("stock", "used_today")
_SOURCE_FIELDS = tuple(
    f.name for f in dataclasses.fields(CandidateSource) if f.init and f.name not in _PER_ORDER
)


def _plain_candidate(candidate: CandidateSource) -> dict[str, Any]:
    """`_plain(candidate)`, with the source's own part computed once per distinct source."""
    plain = dict(_plain_source(tuple(getattr(candidate, name) for name in _SOURCE_FIELDS)))
    plain["stock"] = _plain(candidate.stock)
    plain["used_today"] = candidate.used_today
    return plain


@functools.lru_cache(maxsize=4096)
def _plain_source(values: tuple[Any, ...]) -> dict[str, Any]:
    return {name: _plain(value) for name, value in zip(_SOURCE_FIELDS, values, strict=True)}


def _plain(value: object) -> Any:
    """Inputs as plain data: constructor fields only, so derived caches never change a digest."""
    if dataclasses.is_dataclass(value) and not isinstance(value, type):
        return {f.name: _plain(getattr(value, f.name)) for f in dataclasses.fields(value) if f.init}
    if isinstance(value, Mapping):
        return {str(k): _plain(v) for k, v in sorted(value.items())}
    if isinstance(value, frozenset | set):
        return sorted(str(v) for v in value)
    if isinstance(value, tuple | list):
        return [_plain(v) for v in value]
    return value
