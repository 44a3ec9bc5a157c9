"""Orchestration: fetch the order and its candidate sources, decide(), reserve, record.

Candidates come from the in-memory supply view (hub.services.supply_view): only the sources
holding some of the order's SKUs, so an order costs what its lines and their holders cost.
Stock is reserved on the few StockItem aggregates chosen (hub.services.stock_reservations), in
the same event-store transaction that records the order's `Routed`. The view may be stale; the
aggregates are the arbiter: two orders that pick the same item conflict on its version (or find
it short), and the loser refreshes the view and decides again, so the last unit is never taken
twice.
"""

import hashlib
import logging
import random
import threading
import time
from collections.abc import Callable
from dataclasses import dataclass
from datetime import UTC, datetime
from typing import Any
from uuid import NAMESPACE_OID, UUID

from eventsourcing.persistence import IntegrityError

from aggregates import Order
from aggregates.errors import StockError
from aggregates.order import ROUTABLE, OrderStatus
from aggregates.order_values import RequestedShipment, ShipmentLine
from hub.services.decision_records import decision_record, digest_of
from hub.services.lookup import find, find_many
from hub.services.policies import PolicyService
from hub.services.recorded_inputs import InputsRecorder
from hub.services.routed_events import RoutedOrderEvents
from hub.services.routing_batch import RoutingBatch as _Batch
from hub.services.routing_batch import stockless as _stockless
from hub.services.routing_inputs import order_to_route
from hub.services.stock_reservations import Reservation, StockItems
from hub.services.supply_view import SupplyView, candidate_from
from hub.services.waiting_orders import WaitingOrders, moving_rules, reads_clock, unfulfillable
from hub.store import OrderStore
from orchestration_policies import (
    CandidateSource,
    Decision,
    OrderToRoute,
    Policy,
    UnallocatedReason,
    decide,
    default_policy,
    select_policy,
)
from orchestration_policies.decision_inputs import (
    DecisionInputs,
    PolicyRef,
    RoutingOverrides,
    definition_key,
    level_of,
)

log = logging.getLogger(__name__)
ORCHESTRATOR = "system:orchestrator"
MAX_ATTEMPTS = 20

__all__ = ["OrchestrationResult", "OrchestrationService", "candidate_from", "order_to_route"]


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
        policies: PolicyService,
        clock: Callable[[], datetime],
        supply: SupplyView | None = None,
    ) -> None:
        self._store, self._policies, self._clock = store, policies, clock
        self.supply = supply or SupplyView(store)
        self.recorder = InputsRecorder(store)
        self._items = StockItems(store, self.supply)
        self._routed = RoutedOrderEvents(store)
        self.waiting = WaitingOrders(self.supply, clock)  # what the backorder sweep may skip
        # The policies in force at a policy generation, and whether one of them reads the clock.
        self._active: tuple[int, list[Policy], bool, frozenset[str]] | None = None
        self._definitions_seen = -1  # the view's generation whose definitions were looked up
        self._stockless: dict[str, Any] = {}  # sources as candidates without stock (_stockless)
        # One decision at a time per process: the view and what is kept are shared, and concurrent
        # deciders in one process would only conflict with each other in the store.
        self._lock = threading.RLock()

    def orchestrate(self, order_id: UUID) -> OrchestrationResult:
        """Route the order if it is routable; anything else is left alone (idempotent)."""
        with self._lock:
            return self._orchestrate(order_id)

    def _orchestrate(self, order_id: UUID) -> OrchestrationResult:
        for attempt in range(1, MAX_ATTEMPTS + 1):
            order = find(self._store, order_id, Order)
            if order is None or order.status not in ROUTABLE:
                status = order.status.value if order is not None else "unknown"
                self.waiting.decided(order_id, None)
                return OrchestrationResult(order_id, "skipped", status, attempt)
            # After a conflict, the items are loaded: the store's own, whatever the view knows.
            batch = self._batch(by_totals=attempt == 1)
            try:
                result = self._plan(order, batch, attempt)
                self._save(batch, order)
                self._saved(batch)
                return result
            except (IntegrityError, StockError) as conflict:
                # Someone else reserved, counted, or routed this very order (or recorded the
                # same inputs) meanwhile: refresh and decide again (an order routed by the other
                # worker is then skipped).
                self._forget(batch)
                log.info("order %s: %s; deciding again (attempt %d)", order_id, conflict, attempt)
                # Jittered backoff, so that workers racing for the same stock fall out of step.
                time.sleep(random.uniform(0, 0.005 * attempt))
        raise RuntimeError(f"order {order_id}: stock kept changing over {MAX_ATTEMPTS} attempts")

    def orchestrate_many(self, order_ids: list[UUID]) -> list[OrchestrationResult]:
        """Route many orders with one view of sources and stock and one event-store save.

        Orders are decided one after the other against the same in-memory stock, so each sees
        what the ones before it reserved. If the save conflicts with another writer, each order
        is orchestrated on its own instead (re-reading everything). The orders are read in one
        query, and the stock items their decisions reserve on in another.
        """
        with self._lock:
            return self._orchestrate_many(order_ids)

    def _orchestrate_many(self, order_ids: list[UUID]) -> list[OrchestrationResult]:
        unique = list(dict.fromkeys(order_ids))
        if len(unique) <= 1:
            return [self._orchestrate(order_id) for order_id in unique]
        batch = self._batch()
        orders, results = [], []
        try:
            found = find_many(self._store, unique, Order)
            for order_id in unique:
                order = found.get(order_id)
                if order is None or order.status not in ROUTABLE:
                    status = order.status.value if order is not None else "unknown"
                    results.append(OrchestrationResult(order_id, "skipped", status, 1))
                    batch.waits[order_id] = batch.parked(order)
                    continue
                results.append(self._plan(order, batch, 1))
                orders.append(order)
            if orders:
                self._save(batch, *orders)
            self._saved(batch)
            return results
        except (IntegrityError, StockError) as conflict:
            self._forget(batch)
            log.info("batch of %d orders: %s; one by one instead", len(unique), conflict)
            return [self._orchestrate(order_id) for order_id in unique]

    def _batch(self, by_totals: bool = True) -> _Batch:
        supply = self.supply
        supply.refresh()
        if self._definitions_seen != supply.generation:  # a source event, a restore
            self._definitions_seen = supply.generation
            self.recorder.look_up(definition_key(s.template) for s in supply.sources())
        now = self._clock()
        policies, timeless, moving = self._active_policies()
        return _Batch(
            now=now,
            policies=policies,
            used_today=supply.shipments_on(now.astimezone(UTC).date()),
            by_totals=by_totals,
            # What the view was when the batch's orders were decided: if none of their SKUs
            # gains units after it, a waiting order need not be decided again (waiting_orders).
            seen=(supply.position, supply.generation) if timeless else None,
            moving=moving,
            stockless=self._stockless,
        )

    def _active_policies(self) -> tuple[list[Policy], bool, frozenset[str]]:
        """Read from the store again only after the view saw a policy event; whether no
        condition of theirs (nor of the default policy) reads the clock, and which of their
        rules may change their verdict on a source with its stock (waiting_orders)."""
        generation = self.supply.policy_generation
        if self._active is None or self._active[0] != generation:
            active = self._policies.active_policies()
            every = [*active, default_policy()]
            self._active = (generation, active, not reads_clock(every), moving_rules(every))
        return self._active[1:]

    def _plan(self, order: Order, batch: _Batch, attempt: int) -> OrchestrationResult:
        """Decide and apply the decision to the order and the batch's stock; no save."""
        now = batch.now
        to_route = order_to_route(order)
        candidates = self._holders_of(to_route, batch)
        holders = {c.source_id for c in candidates}
        registered = self.supply.source_count()
        overrides = overrides_of(order)
        decision = self._decide(overrides, to_route, candidates, batch)
        if _nowhere_eligible(decision) and len(candidates) < registered:
            # No holder may ship: whether some other source could (it is eligible but empty,
            # so the lines wait for stock) or none at all (unroutable) takes them all.
            candidates = self._with_every_source(candidates, batch)
            decision = self._decide(overrides, to_route, candidates, batch)
        recorded = decision_record(decision, holders, registered - len(candidates))
        digest, canonical = digest_of(recorded)
        inputs = DecisionInputs(
            order=to_route,
            candidates=tuple(candidates),
            policy=PolicyRef(decision.policy_id, decision.policy_version),
            now=now,
            overrides=overrides,
            sources_not_given=registered - len(candidates),
        )

        if decision.held is not None:
            order.put_on_hold(
                decision.held.rule,
                decision.held.reason,
                ORCHESTRATOR,
                now,
                decision=recorded,
                explanation="",  # derived from the record when read
                decision_digest=digest,
                inputs_digest=self.recorder.record(inputs, batch.records),
            )
            batch.waits[order.id] = None
            return OrchestrationResult(order.id, "held", order.status.value, attempt)

        waiting = {line.line_id: line.quantity for line in decision.backordered}
        unroutable = _unroutable_reason(decision)
        stuck = unfulfillable(to_route, decision, candidates, batch.moving)
        if (
            order.status is OrderStatus.BACKORDERED
            and not decision.shipments
            and waiting == order.waiting
            and unroutable is None
            and stuck == order.unfulfillable
        ):
            # Still nothing to ship: record nothing (a sweep must not grow the log).
            batch.waits[order.id] = batch.waited(to_route, decision, order.status)
            return OrchestrationResult(order.id, "unchanged", order.status.value, attempt)

        shipments: list[RequestedShipment] = []
        named = f"{order.id}:{order.routing_attempts}:"
        for source_id, lines in sorted(decision.shipments.items()):
            shipment_id = shipment_uuid(named + source_id)
            for line in lines:
                # Made on the items when the batch is saved (see _save); later orders of the
                # batch see these units as reserved already.
                key = reservation_key(order.id, shipment_id, line.line_id)
                batch.reservations.append(Reservation(source_id, line.sku, key, line.quantity))
                pending = batch.pending.get((source_id, line.sku), 0)
                batch.pending[(source_id, line.sku)] = pending + line.quantity
            batch.used_today[source_id] = batch.used_today.get(source_id, 0) + 1
            shipments.append(
                RequestedShipment(
                    shipment_id, source_id, tuple(ShipmentLine(*line) for line in lines)
                )
            )
        digests = (digest, self.recorder.record(inputs, batch.records))
        routing = (recorded, digests, shipments, waiting, unroutable, stuck, canonical)
        status = self._route(order, batch, routing)
        batch.waits[order.id] = batch.waited(to_route, decision, status)
        return OrchestrationResult(order.id, status.value, status.value, attempt, digest)

    def _route(self, order: Order, batch: _Batch, routing: tuple[Any, ...]) -> OrderStatus:
        """The routing recorded: its stored events written straight (routed_events), saved
        with the batch, where they may be; else by the aggregate. The order's new status."""
        recorded, digests, shipments, waiting, unroutable, stuck, canonical = routing
        args = (recorded, digests, shipments, waiting, unroutable, ORCHESTRATOR, batch.now)
        direct = self._routed.events_of(order, *args, stuck, canonical)
        if direct is not None:
            batch.stored[order.id], status = direct
            return status
        order.route(
            decision=recorded,
            decision_digest=digests[0],
            explanation="",  # derived from the record when read (decision_records)
            inputs_digest=digests[1],
            shipments=shipments,
            waiting=waiting,
            unroutable_reason=unroutable,
            actor=ORCHESTRATOR,
            now=batch.now,
            unfulfillable=stuck,
        )
        return order.status

    def _decide(
        self,
        overrides: RoutingOverrides,
        to_route: OrderToRoute,
        candidates: list[CandidateSource],
        batch: _Batch,
    ) -> Decision:
        policy = select_policy(to_route, batch.policies, batch.now) or default_policy()
        return decide(to_route, candidates, overrides.applied_to(policy, candidates), batch.now)

    def _holders_of(self, order: OrderToRoute, batch: _Batch) -> list[CandidateSource]:
        """The sources holding some of the order's SKUs, with their stock of them: as the view
        has it, less what this batch's decisions have reserved of it."""
        pending = batch.pending
        candidates = []
        skus = {line.sku for line in order.lines}
        for source, held in self.supply.held_by(skus):
            source_id = source.source_id
            levels = {
                sku: level_of(
                    h.on_hand, h.reserved + pending.get((source_id, sku), 0), h.safety_stock
                )
                for sku, h in held.items()
            }
            candidates.append(source.candidate(levels, batch.used_today.get(source_id, 0)))
        return candidates

    def _with_every_source(
        self, holders: list[CandidateSource], batch: _Batch
    ) -> list[CandidateSource]:
        known = {c.source_id for c in holders}
        return holders + [
            _stockless(source, batch)
            for source in self.supply.sources()
            if source.source_id not in known
        ]

    def _save(self, batch: _Batch, *orders: Order) -> None:
        """The reservations made on the items (a stale view offered stock an item no longer
        has: InsufficientStockError, and the orders are decided again on a refreshed view),
        then the orders, the items and the inputs they name: one transaction."""
        self._items.reserve(batch.reservations, batch.touched, batch.now, batch.by_totals)
        # An order routed straight is followed by its stored events (OrderStore.save takes
        # them among the aggregates, as it takes an item known by its totals).
        routed = [part for o in orders for part in (o, batch.stored.get(o.id)) if part is not None]
        self._store.save(*routed, *batch.touched.values(), *batch.records.values())
        self.recorder.saved(batch.records)

    def _saved(self, batch: _Batch) -> None:
        """The batch's orders as saved: which of them wait, and on what view."""
        for order_id, waited in batch.waits.items():
            self.waiting.decided(order_id, waited)

    def _forget(self, batch: _Batch) -> None:
        """After a save that did not happen: which of its inputs records the store holds."""
        self.recorder.settle(batch.records)


def overrides_of(order: Order) -> RoutingOverrides:
    """What the order's own history changes in its policy: a person released a hold or the
    split limit, or chose the source; sources that refused a shipment are not asked again."""
    return RoutingOverrides(
        holds_released=order.holds_released,
        split_limit_released=order.split_limit_released,
        pinned_source=order.pinned_source,
        rejected_sources=tuple(order.rejected_sources),
    )


def shipment_uuid(name: str) -> str:
    """``str(uuid5(NAMESPACE_OID, name))`` without the UUID object: the sha1 of the namespace
    and the name in hex, its version digit 5 and its variant bits 10 set (RFC 4122), written
    8-4-4-4-12 (uuid5 and UUID.__str__ were 1 % of routing an order)."""
    h = hashlib.sha1(_OID + name.encode(), usedforsecurity=False).hexdigest()
    return f"{h[:8]}-{h[8:12]}-5{h[13:16]}-{_VARIANT[h[16]]}{h[17:20]}-{h[20:32]}"


_OID = NAMESPACE_OID.bytes
# The 17th hex digit with its two high bits set to 10 (the RFC 4122 variant).
_VARIANT = {f"{n:x}": f"{(n & 0x3) | 0x8:x}" for n in range(16)}


def reservation_key(order_id: UUID, shipment_id: str, line_id: str) -> str:
    """One reservation per shipment line: a line split or re-routed gets a key per shipment."""
    return f"{order_id}:{shipment_id}:{line_id}"


def _nowhere_eligible(decision: Decision) -> bool:
    """decide() found no source that may ship any of the order (stock aside)."""
    return any(u.reason is UnallocatedReason.NO_ELIGIBLE_SOURCE for u in decision.unallocated)


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
