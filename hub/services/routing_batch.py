"""What a batch of decisions shares while it is decided: one view of supply and the stock it
has reserved so far, the inputs records, and what its waiting orders saw (orchestration)."""

from dataclasses import dataclass, field
from datetime import UTC, datetime
from uuid import UUID

from eventsourcing.domain import Aggregate
from eventsourcing.persistence import StoredEvent

from aggregates.order import Order, OrderStatus
from aggregates.stock import StockItem
from hub.services.reserved_events import TotalsItem
from hub.services.stock_reservations import Key, Reservation
from hub.services.supply_view import Source
from hub.services.waiting_orders import Waited, fixed_exclusions, sku_tuple
from orchestration_policies import CandidateSource, Decision, OrderToRoute, Policy


@dataclass
class RoutingBatch:
    """What a batch of decisions shares: one refresh of the view, and the reservations being
    made, so that the second order of a batch sees what the first one took."""

    now: datetime
    policies: list[Policy]
    used_today: dict[str, int]
    by_totals: bool = True  # items may be known by the view's totals (stock_reservations)
    reservations: list[Reservation] = field(default_factory=list)
    pending: dict[Key, int] = field(default_factory=dict)  # units reserved by the batch so far
    # Items reserved on, once saved (known by totals: their events in stored form).
    touched: dict[Key, StockItem | TotalsItem] = field(default_factory=dict)
    records: dict[UUID, Aggregate] = field(default_factory=dict)  # inputs the decisions name
    # Orders' routings written straight to their stored form (routed_events), by order.
    stored: dict[UUID, list[StoredEvent]] = field(default_factory=dict)
    # Sources as candidates without stock, with the source and the shipments used today they
    # were made from: the orchestrator's, kept from one batch to the next (`stockless`).
    stockless: dict[str, tuple[Source, int, CandidateSource]] = field(default_factory=dict)
    # The view's position and generation the orders are decided on; None if a policy reads
    # the clock (then no waiting order is skipped by the sweep).
    seen: tuple[int, int] | None = None
    # The policies' rules whose verdict on a source stock may change (waiting_orders).
    moving: frozenset[str] = frozenset()
    waits: dict[UUID, Waited | None] = field(default_factory=dict)  # known once saved

    def waited(self, order: OrderToRoute, decision: Decision, status: OrderStatus) -> Waited | None:
        """What the sweep and the wake-ups may skip the order on, if it waits (None: decide
        it again)."""
        if self.seen is None or status is not OrderStatus.BACKORDERED:
            return None
        skus = sku_tuple(line.sku for line in order.lines)
        waiting = sku_tuple(line.sku for line in decision.backordered)
        day = self.now.astimezone(UTC).date()
        excluded = fixed_exclusions(decision, self.moving)
        return Waited(self.seen[0], self.seen[1], day, skus, waiting, excluded)

    def parked(self, order: Order | None) -> Waited | None:
        """An order not routable now (held, shipped, cancelled) that the backorder view may still
        list as waiting (a hold keeps the lines an earlier routing left waiting): no raise can
        make it routable, only an order event (a release, a change, a rejection), which is
        decided without asking `WaitingOrders`. So the wake-ups and the sweep skip it while
        the SKUs it waits for, the sources, the policies and the day stay (None: decide it
        again). Each was read from the store and skipped at every restock of its SKUs and every
        sweep (benchmarks/README.md, orchhist8)."""
        if self.seen is None or order is None:
            return None
        skus = {line.line_id: line.sku for line in order.submission.lines}
        waiting = sku_tuple(skus[line] for line in order.waiting if line in skus)
        day = self.now.astimezone(UTC).date()
        return Waited(self.seen[0], self.seen[1], day, (), waiting)


def stockless(source: Source, batch: RoutingBatch) -> CandidateSource:
    """The source as a candidate holding none of the order: one per source (as the view has
    it) and shipments used today, shared by the orders deciding against it (candidates are
    frozen). A backorder sweep decides each waiting order against every source, and copying
    ~100 candidates per order was most of the sweep's CPU (py-spy, benchmarks/README.md,
    orch4); new orders no holder may ship are decided so too, about one a batch, so the copies
    are kept from batch to batch (one per source: bounded by the network), not made again for
    each (~490 an order on 500 sources, orch9)."""
    used = batch.used_today.get(source.source_id, 0)
    known = batch.stockless.get(source.source_id)
    if known is None or known[0] is not source or known[1] != used:
        known = batch.stockless[source.source_id] = (source, used, source.candidate({}, used))
    return known[2]
