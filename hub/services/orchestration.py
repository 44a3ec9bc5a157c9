"""Orchestration: fetch the order and its candidate sources, decide(), reserve, record.

Stock is reserved on the StockItem aggregates in the same event-store transaction that records
the order's `Routed`. Two orders that pick the same item conflict on its version; the loser
re-reads and decides again, so the last unit is never taken twice.
"""

import dataclasses
import hashlib
import json
import logging
import random
import time
from collections.abc import Callable, Mapping
from dataclasses import dataclass, field
from datetime import date, datetime
from decimal import Decimal
from typing import Any
from uuid import NAMESPACE_OID, UUID, uuid5

from eventsourcing.persistence import IntegrityError

from aggregates import Order
from aggregates.errors import StockError
from aggregates.order import ROUTABLE, OrderStatus
from aggregates.source import FulfillmentSource
from aggregates.stock import StockItem
from hub.services.catalog import CatalogService
from hub.services.lookup import find
from hub.services.policies import PolicyService
from hub.store import OrderStore
from orchestration_policies import (
    CandidateSource,
    CostModel,
    Decision,
    LineToRoute,
    OrderToRoute,
    OverSplitLimit,
    Policy,
    StockLevel,
    decide,
    default_policy,
    explain_text,
    select_policy,
)

log = logging.getLogger(__name__)
ORCHESTRATOR = "system:orchestrator"
MAX_ATTEMPTS = 20


@dataclass(frozen=True)
class OrchestrationResult:
    order_id: UUID
    outcome: str  # routed | backordered | held | unroutable | skipped
    status: str
    attempts: int
    decision_digest: str | None = None


class OrchestrationService:
    def __init__(
        self,
        store: OrderStore,
        catalog: CatalogService,
        policies: PolicyService,
        clock: Callable[[], datetime],
        shipments_on: Callable[[date], dict[str, int]] = lambda _day: {},
    ) -> None:
        self._store = store
        self._catalog = catalog
        self._policies = policies
        self._clock = clock
        self._shipments_on = shipments_on

    def orchestrate(self, order_id: UUID) -> OrchestrationResult:
        """Route the order if it is routable; anything else is left alone (idempotent)."""
        for attempt in range(1, MAX_ATTEMPTS + 1):
            order = find(self._store, order_id, Order)
            if order is None or order.status not in ROUTABLE:
                status = order.status.value if order is not None else "unknown"
                return OrchestrationResult(order_id, "skipped", status, attempt)
            try:
                batch = self._batch()
                result = self._plan(order, batch, attempt)
                self._store.save(order, *batch.touched.values())
                return result
            except (IntegrityError, StockError) as conflict:
                # Someone else reserved, counted, or routed this very order meanwhile: re-read
                # and decide again (an order routed by the other worker is then skipped).
                log.info("order %s: %s; deciding again (attempt %d)", order_id, conflict, attempt)
                # Jittered backoff, so that workers racing for the same stock fall out of step.
                time.sleep(random.uniform(0, 0.005 * attempt))
        raise RuntimeError(f"order {order_id}: stock kept changing over {MAX_ATTEMPTS} attempts")

    def orchestrate_many(self, order_ids: list[UUID]) -> list[OrchestrationResult]:
        """Route many orders with one view of sources and stock and one event-store save.

        Orders are decided one after the other against the same in-memory stock, so each sees
        what the ones before it reserved. If the save conflicts with another writer, each order
        is orchestrated on its own instead (re-reading everything).
        """
        unique = list(dict.fromkeys(order_ids))
        if len(unique) <= 1:
            return [self.orchestrate(order_id) for order_id in unique]
        batch = self._batch()
        orders, results = [], []
        try:
            for order_id in unique:
                order = find(self._store, order_id, Order)
                if order is None or order.status not in ROUTABLE:
                    status = order.status.value if order is not None else "unknown"
                    results.append(OrchestrationResult(order_id, "skipped", status, 1))
                    continue
                results.append(self._plan(order, batch, 1))
                orders.append(order)
            if orders:
                self._store.save(*orders, *batch.touched.values())
            return results
        except (IntegrityError, StockError) as conflict:
            log.info("batch of %d orders: %s; one by one instead", len(unique), conflict)
            return [self.orchestrate(order_id) for order_id in unique]

    def _batch(self) -> "_Batch":
        now = self._clock()
        return _Batch(
            now=now,
            sources=self._catalog.list_sources(),
            policies=self._policies.active_policies(),
            used_today=dict(self._shipments_on(now.date())),
        )

    def _plan(self, order: Order, batch: "_Batch", attempt: int) -> OrchestrationResult:
        """Decide and apply the decision to the order and the batch's stock; no save."""
        now = batch.now
        to_route = order_to_route(order)
        candidates = self._candidates(to_route, batch)
        policy = select_policy(to_route, batch.policies, now) or default_policy()
        if order.holds_released or order.pinned_source:
            policy = policy.model_copy(update={"holds": ()})
        if order.split_limit_released:
            # A person released the order held over the split limit: the rest ships.
            policy = policy.model_copy(update={"over_split_limit": OverSplitLimit.SHIP_REST})
        if order.pinned_source:
            # An ops user chose the source: every other one is out of the running.
            others = {s.source_id for s in batch.sources} - {order.pinned_source}
            excluded = sorted({*policy.excluded_sources, *others})
            policy = policy.model_copy(update={"excluded_sources": tuple(excluded)})
        if order.rejected_sources:
            # A source that refused this order's shipment is not asked again.
            excluded = sorted({*policy.excluded_sources, *order.rejected_sources})
            policy = policy.model_copy(update={"excluded_sources": tuple(excluded)})
        decision = decide(to_route, candidates, policy, now)
        recorded = json.loads(decision.to_json())

        if decision.held is not None:
            order.put_on_hold(
                decision.held.rule,
                decision.held.reason,
                ORCHESTRATOR,
                now,
                decision=recorded,
                explanation=explain_text(decision),
                decision_digest=decision.digest(),
                inputs_digest=inputs_digest(to_route, candidates, now),
            )
            return OrchestrationResult(order.id, "held", order.status.value, attempt)

        waiting = {line.line_id: line.quantity for line in decision.backordered}
        unroutable = _unroutable_reason(decision)
        if (
            order.status is OrderStatus.BACKORDERED
            and not decision.shipments
            and waiting == order.waiting
            and unroutable is None
        ):
            # Still nothing to ship: record nothing (a sweep must not grow the log).
            return OrchestrationResult(order.id, "unchanged", order.status.value, attempt)

        shipments = []
        for source_id, lines in sorted(decision.shipments.items()):
            shipment_id = str(
                uuid5(NAMESPACE_OID, f"{order.id}:{order.routing_attempts}:{source_id}")
            )
            for line in lines:
                item = batch.items[(source_id, line.sku)]
                assert item is not None, "decide() only allocates stock that exists"
                item.reserve(
                    reservation_key(order.id, shipment_id, line.line_id), line.quantity, at=now
                )
                batch.touched[(source_id, line.sku)] = item
            batch.used_today[source_id] = batch.used_today.get(source_id, 0) + 1
            shipments.append(
                {
                    "shipment_id": shipment_id,
                    "source_id": source_id,
                    "lines": [line._asdict() for line in lines],
                }
            )
        order.route(
            decision=recorded,
            decision_digest=decision.digest(),
            explanation=explain_text(decision),
            inputs_digest=inputs_digest(to_route, candidates, now),
            shipments=shipments,
            waiting=waiting,
            unroutable_reason=unroutable,
            actor=ORCHESTRATOR,
            now=now,
        )
        return OrchestrationResult(
            order.id, order.status.value, order.status.value, attempt, decision.digest()
        )

    def _candidates(self, order: OrderToRoute, batch: "_Batch") -> list[CandidateSource]:
        skus = sorted({line.sku for line in order.lines})
        candidates = []
        for source in batch.sources:
            stock: dict[str, StockLevel] = {}
            for sku in skus:
                key = (source.source_id, sku)
                if key not in batch.items:
                    batch.items[key] = self._catalog.find_stock(source.source_id, sku)
                item = batch.items[key]
                if item is not None:
                    stock[sku] = StockLevel(item.on_hand, item.reserved, item.safety_stock)
            candidates.append(
                candidate_from(
                    source.definition,
                    source.active,
                    stock,
                    batch.used_today.get(source.source_id, 0),
                )
            )
        return candidates


@dataclass
class _Batch:
    """What a batch of decisions shares: one read of the catalog, and stock as it is being
    reserved, so the second order of a batch sees what the first one took."""

    now: datetime
    sources: list[FulfillmentSource]
    policies: list[Policy]
    used_today: dict[str, int]
    items: dict[tuple[str, str], StockItem | None] = field(default_factory=dict)
    touched: dict[tuple[str, str], StockItem] = field(default_factory=dict)


def reservation_key(order_id: UUID, shipment_id: str, line_id: str) -> str:
    """One reservation per shipment line: a line split or re-routed gets a key per shipment."""
    return f"{order_id}:{shipment_id}:{line_id}"


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


def candidate_from(
    definition: dict[str, Any],
    active: bool,
    stock: dict[str, StockLevel],
    used_today: int = 0,
) -> CandidateSource:
    cost = definition["cost"]
    return CandidateSource(
        source_id=definition["source_id"],
        kind=definition["kind"],
        lat=definition["lat"],
        lon=definition["lon"],
        country=definition["country"],
        ships_to=frozenset(definition["ships_to"]),
        delivery_methods=frozenset(definition["delivery_methods"]),
        daily_capacity=definition["daily_capacity"],
        used_today=used_today,
        cost=CostModel(
            base=Decimal(cost["base"]),
            per_unit=Decimal(cost["per_unit"]),
            per_km=Decimal(cost["per_km"]),
            currency=cost["currency"],
        ),
        lead_time_days=definition["lead_time_days"],
        priority=definition.get("priority", 0),
        active=active,
        demand_classes=frozenset(definition.get("demand_classes", [])),
        stock=stock,
    )


def inputs_digest(order: OrderToRoute, candidates: list[CandidateSource], now: datetime) -> str:
    """sha256 of everything decide() saw, so a recorded decision can be checked by re-running."""
    facts = {
        "now": now.isoformat(),
        "order": _plain(order),
        "candidates": sorted((_plain(c) for c in candidates), key=lambda c: str(c["source_id"])),
    }
    canonical = json.dumps(facts, sort_keys=True, separators=(",", ":"), default=str)
    return hashlib.sha256(canonical.encode()).hexdigest()


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


def _unroutable_reason(decision: Decision) -> str | None:
    """Why some lines can be neither shipped nor wait for stock; None when all are placed."""
    if decision.rejected:
        return decision.rejected
    waiting = {line.line_id for line in decision.backordered}
    stuck = sorted(
        {f"{u.line_id}: {u.reason.value}" for u in decision.unallocated if u.line_id not in waiting}
    )
    if stuck:
        return "; ".join(stuck)
    if not decision.shipments and not decision.backordered:
        return "no source can ship this order"
    return None
