"""Followers of the recorded history: what one is, and the two that act on what they see —
the orchestrator (what starts, or restarts, routing an order) and billing."""

import logging
import time
from collections.abc import Callable, Collection, Sequence
from typing import Protocol
from uuid import UUID

from hub.collector import collector_paused
from hub.services.fulfillment import FulfillmentService
from hub.services.orchestration import OrchestrationResult, OrchestrationService
from projections.backorders import SqlBackorderView
from projections.positions import SparsePositions
from projections.sqldb import SqlDatabase
from schemas.envelope import EventEnvelope
from schemas.event_types import EventType

log = logging.getLogger(__name__)


class Follower(Protocol):
    """Follows the history in order, from its own positions, whatever carries the events
    (embedded delivery or a worker's Kafka consumer)."""

    def apply(self, envelopes: Sequence[EventEnvelope], positions: dict[str, int]) -> None: ...

    def positions(self) -> dict[str, int]: ...


FOLLOWER = "orchestrator"
# Events after which an order may be routable: new, released from hold.
ORDER_TRIGGERS = frozenset(
    {
        EventType.ORDER_ACCEPTED,
        EventType.ORDER_HOLD_RELEASED,
        EventType.ORDER_SHIPMENT_REJECTED,
        EventType.ORDER_CHANGED,
        EventType.ORDER_REROUTE_REQUESTED,
    }
)
# Stock events after which more may be available for the waiting orders.
STOCK_TRIGGERS = frozenset(
    {
        EventType.STOCK_ITEM_REGISTERED,
        EventType.STOCK_ITEM_COUNTED,
        EventType.STOCK_ITEM_ADJUSTED,
        EventType.STOCK_ITEM_RELEASED,
        EventType.STOCK_ITEM_CONSUMED,
    }
)
# New orders decided and saved together: long enough to share a commit, short enough that a
# conflict (the whole chunk then goes one by one) or a poison order costs little.
ROUTE_CHUNK = 50
# How often a worker's orchestrator and billing write their positions (SparsePositions).
WORKER_POSITIONS_SECONDS = 1.0


class OrchestrationFollower:
    """Routes accepted orders, and re-routes waiting orders when their SKU's stock changes.

    Re-delivery is harmless: orchestrating an order that is no longer routable is a no-op.
    """

    # The only events it acts on: neither a worker's consumer nor embedded delivery decodes
    # the others for it.
    event_types: frozenset[str] = ORDER_TRIGGERS | STOCK_TRIGGERS

    def __init__(
        self,
        orchestration: OrchestrationService,
        backorders: SqlBackorderView,
        db: SqlDatabase,
        demand_classes: Sequence[str],
        positions_every: float = 0.0,
        sweep_every: float = 0.0,
    ) -> None:
        self._orchestration = orchestration
        self._backorders = backorders
        self._rank = {name: i for i, name in enumerate(demand_classes)}
        # Written at most every `positions_every` seconds (0: with every batch).
        self._positions = SparsePositions(db, FOLLOWER, positions_every)
        self.results: list[OrchestrationResult] = []
        # Told before each chunk: a sign of life in a long pass, for whoever watches the pass
        # for hangs (the embedded routing process's parent, hub.embedded.routing_process).
        self.progress: Callable[[], None] = _unwatched
        # Embedded, the backorder sweep runs before a batch once due (a worker runs it on a
        # timer, `sweep_every` 0): it also forgets the orders no longer waiting, which nothing
        # else does for one cancelled while it waited. `sweep_clock`: seconds, for tests.
        self.sweep_every = sweep_every
        self.sweep_clock: Callable[[], float] = time.monotonic
        self._next_sweep = self.sweep_clock() + sweep_every

    def apply(self, envelopes: Sequence[EventEnvelope], positions: dict[str, int]) -> None:
        if self.sweep_every and self.sweep_clock() >= self._next_sweep:
            self._sweep_in_lane()
        # New orders first, in arrival order; then the orders waiting for any SKU whose stock
        # rose, as one batch decided against shared stock, best demand class first.
        triggered = [UUID(env.subject) for env in envelopes if env.type in ORDER_TRIGGERS]
        skus = list(
            dict.fromkeys(
                env.data["sku"]
                for env in envelopes
                if env.type in STOCK_TRIGGERS and _may_have_freed_stock(env)
            )
        )
        # New orders in chunks, each decided against one view of stock and saved in one
        # transaction: a commit per chunk instead of per order (2-3x the orders/s of one by one
        # on PostgreSQL, see benchmarks/README.md). Intake runs in its own worker role now, so a
        # chunk's save no longer holds it up.
        self._run_chunked(list(dict.fromkeys(triggered)))
        if skus:
            self._wake(skus)
        self._positions.save(positions)

    def _sweep_in_lane(self) -> None:
        """The sweep, before the batch's own decisions (the backorder view, a step ahead in the
        same lane, has seen the batches before). Its failure is logged, not the batch's: the
        next one due tries again, as a worker's timer does. Due again `sweep_every` after it
        ends, so a long sweep is not followed by another at once."""
        try:
            self.sweep_backorders()
        except Exception:
            log.exception("backorder sweep failed; the next one due will try again")
        self._next_sweep = self.sweep_clock() + self.sweep_every

    def _wake(self, skus: list[str]) -> int:
        """Decide again the orders waiting for these SKUs that the raise may move: not those
        whose last decision here saw nothing since that could change it (waiting_orders: the
        raise was at a source a rule excludes for it, or it was seen already). Returns how many
        were decided."""
        # Who waits for each SKU, read at once (the view does not change during the pass);
        # then the orders decided here that the view may not list yet (its consumer can be
        # behind this one's: the sweep alone would find them), after those it lists. Asked
        # before the view: one that leaves them in between left at a sweep's `keep`, which
        # found the view listing it, so the view's read lists it too (the other way round, an
        # order could be in neither read).
        unlisted = self._orchestration.waiting.unlisted(skus)
        listed = self._backorders.waiters_of(skus, self._rank)
        waiting: dict[str, list[tuple[str, Collection[str]]]] = {
            sku: list(orders) for sku, orders in listed.items()
        }
        for sku, orders in unlisted.items():
            known = {o for o, _ in waiting.get(sku, ())}
            waiting.setdefault(sku, []).extend(o for o in orders if o[0] not in known)
        if not waiting:
            return 0
        self._orchestration.supply.refresh()  # raised_since must see the raise
        unchanged = self._orchestration.waiting.unchanged
        done: set[str] = set()  # decided on a view that has every raise of the batch
        for sku in skus:
            # Chunked too, best demand class first (each chunk sees what the ones before it
            # reserved): thousands waiting for one SKU are no single endless pass.
            movable = [
                o
                for o, waits in waiting.get(sku, [])
                if o not in done and not unchanged(UUID(o), waits)
            ]
            done.update(movable)
            self._run_chunked([UUID(o) for o in movable])
        return len(done)

    def positions(self) -> dict[str, int]:
        return self._positions.read()

    def noted(self, positions: dict[str, int]) -> bool:
        """`apply` of a batch with no event for it, when that would only keep its positions for
        a later write (a worker's): kept, and True; False when they are due to be written
        (then `apply` it). Cheap enough for the worker's event loop, which so hands no thread
        the batches of order events and stock reservations that wake nobody."""
        return self._positions.note(positions)

    def sweep_backorders(self) -> int:
        """Try the waiting orders again that could now move. Across processes the backorder
        view can lag the stock event that should have woken an order; a periodic sweep bounds
        how long it waits. An order whose every waiting SKU has no free unit anywhere (by the
        supply view, brought up to date first) cannot move and is left alone, and so is one
        this process decided on a view since which nothing it is decided on changed
        (hub.services.waiting_orders): a sweep costs what can change, not every waiting
        order."""
        self.progress()
        orchestration = self._orchestration
        supply, waiting = orchestration.supply, orchestration.waiting
        supply.refresh()
        free: dict[str, bool] = {}
        movable: list[UUID] = []
        known: list[UUID] = []
        for waiting_id, skus in self._backorders.all_waiting(self._rank):
            known.append(order_id := UUID(waiting_id))
            may_move = any(free.setdefault(sku, supply.any_free(sku)) for sku in skus)
            if may_move and not waiting.unchanged(order_id, skus):
                movable.append(order_id)
        waiting.keep(known)
        self._run_chunked(movable)
        return len(movable)

    def _run_chunked(self, order_ids: list[UUID]) -> None:
        for start in range(0, len(order_ids), ROUTE_CHUNK):
            self._run_many(order_ids[start : start + ROUTE_CHUNK])

    def _run_many(self, order_ids: list[UUID]) -> None:
        self.progress()
        # A chunk's objects (orders read, candidates, decisions, records, events) live until
        # its save and die with it: collections during a chunk scanned them and promoted them
        # to the older generations, whose growth then set off full collections walking the
        # whole heap (the supply view: ~100 ms each on 100 sources x 10,000 SKUs). Paused, a
        # chunk (at most ROUTE_CHUNK orders) is collected once, after it (hub.collector).
        with collector_paused():
            results = self._orchestration.orchestrate_many(order_ids)
        for result in results:
            if result.outcome not in ("skipped", "unchanged"):
                log.info("order %s: %s", result.order_id, result.outcome)
            self.results.append(result)
        del self.results[:-100]

    def _run(self, order_id: UUID) -> None:
        result = self._orchestration.orchestrate(order_id)
        if result.outcome not in ("skipped", "unchanged"):
            log.info("order %s: %s (attempt %d)", order_id, result.outcome, result.attempts)
        self.results.append(result)
        del self.results[:-100]


def _unwatched() -> None:
    pass


def _may_have_freed_stock(env: EventEnvelope) -> bool:
    if env.type == EventType.STOCK_ITEM_ADJUSTED:
        return int(env.data.get("delta", 0)) > 0
    if env.type == EventType.STOCK_ITEM_CONSUMED:
        return int(env.data.get("freed", 0)) > 0  # shipped less than was reserved
    return True


# A delivery (or a failed one) reported before the shipment itself still means it left.
LEFT = frozenset({"shipped", "delivery_failed", "delivered"})


def uninvoiced(envelopes: Sequence[EventEnvelope]) -> list[tuple[UUID, str]]:
    """The shipments these events say left, less those whose invoice is among them."""
    invoiced = {
        (env.subject, env.data["shipment_id"])
        for env in envelopes
        if env.type == EventType.ORDER_INVOICE_ISSUED
    }
    return [
        (UUID(env.subject), env.data["shipment_id"])
        for env in envelopes
        if env.type == EventType.ORDER_SHIPMENT_PROGRESSED
        and env.data["state"] in LEFT
        and (env.subject, env.data["shipment_id"]) not in invoiced
    ]


class BillingFollower:
    """Invoices each shipment once it has shipped (the ERP reads them on the billing topic).

    A source's update that says the goods left invoices the shipment in the same save (hub.
    services.fulfillment_batch), so nearly every shipment comes with its invoice right behind
    it in the log: those are passed over without a read. The rest have their orders read, and
    a shipment invoiced already is left: a batch cut between the two, a delivery reported
    after the shipment (its invoice went with the shipment, in an earlier batch: one read, no
    save, as before), a log an earlier release wrote, a shipment that could not be priced."""

    name = "billing"
    # The only ones it reads: the shipments, and the invoices that say one needs nothing.
    event_types = frozenset({EventType.ORDER_SHIPMENT_PROGRESSED, EventType.ORDER_INVOICE_ISSUED})

    def __init__(
        self, fulfillment: FulfillmentService, db: SqlDatabase, positions_every: float = 0.0
    ) -> None:
        self._fulfillment = fulfillment
        # On a worker at most every `positions_every` seconds: a batch with no shipment to
        # invoice (nearly every one) committed a transaction for them alone.
        self._positions = SparsePositions(db, self.name, positions_every)

    def apply(self, envelopes: Sequence[EventEnvelope], positions: dict[str, int]) -> None:
        # The batch's shipments together: their orders read in one query, saved in one commit.
        self._fulfillment.invoice_shipments(uninvoiced(envelopes))
        self._positions.save(positions)

    def positions(self) -> dict[str, int]:
        return self._positions.read()

    def noted(self, positions: dict[str, int]) -> bool:
        """`apply` of a batch with no shipment or invoice event, when that would only keep its
        positions for a later write (a worker's): kept, and True (the orchestrator's `noted`).
        Nearly every batch of the projections role is such; each was handed a thread for
        nothing."""
        return self._positions.note(positions)
