"""A consumed batch of the sources' updates applied together: each order and stock item read
once (one query each), the batch's events saved in one transaction.

One at a time, an update cost a thread hop, the order's load, its stock items' loads, a save
and a commit, about two per shipped order: the fulfillment role fell behind the orders that
ship (benchmarks/README.md, soak3). The batch gives the same result as applying its updates one
after the other in batch order: two updates of one order in a batch apply to the same object,
the second seeing the first, and so do two updates moving one stock item.

- A refused update (an unknown shipment, a confirmation of nothing withdrawn) is refused before
  anything is recorded on its order (`apply_to_order`): the others apply, and what the caller
  keeps about the refusals is saved in the same transaction.
- Redelivered, an update the order has applied is stale and changes nothing (the order's
  shipment states only move forward): a batch read again after a crash applies nothing twice,
  and a crash before the commit recorded nothing.
- An update that says the goods left invoices the shipment (`Invoice`: the service's
  `FulfillmentService._invoice`, which billing's follower uses too) in the same save: the
  follower then finds the invoice beside the shipment in the log and reads no order for it (a
  delivery reported in a later batch still costs it a read, as before). Before, it
  read the order again and saved again for every shipment, a second load, save and commit per
  shipment, and met the next update of the same order as a conflict (42 % of the embedded
  routing process's busy time in a soak that ships, benchmarks/README.md inline18). A shipment
  that left without an invoice (a log written by an earlier release, or one that cannot be
  priced, `_invoiced`) is still the follower's.
- A conflict fails the whole save. A stock item saved meanwhile (orchestration reserving the
  row for another order: at a few hundred orders/s nearly every batch of 500 met one between
  its read and its save) is read again alone and the batch's stock moves made again on it, in
  batch order, the orders' events kept as written (`_save`); an order saved meanwhile (the
  service desk, billing's follower) has the batch read again whole and applied to the fresh
  state (`retried`). Before, every conflict read the whole batch again, up to 5 times, and the
  consumer then retried that 3 times before applying the batch one update at a time.
"""

import logging
from collections.abc import Callable, Sequence
from dataclasses import dataclass
from datetime import datetime
from typing import NamedTuple
from uuid import UUID

from eventsourcing.domain import Aggregate
from eventsourcing.persistence import IntegrityError, StoredEvent

from aggregates import Order
from aggregates.errors import DomainError, unknown_shipment
from aggregates.ids import stock_item_id
from aggregates.stock import StockItem
from hub.multi_get import select_events_of_many
from hub.services.conflicts import retried
from hub.services.kept_stock import KeptStock
from hub.services.lookup import find_many
from hub.services.orchestration import reservation_key
from hub.store import OrderStore
from schemas.fulfillment import FulfillmentUpdate, UpdateKind

log = logging.getLogger(__name__)

# Updates that mean the goods left the building (a delivery may be reported before shipping).
LEFT = frozenset({UpdateKind.SHIPPED, UpdateKind.DELIVERED, UpdateKind.DELIVERY_FAILED})
# What to save with a batch about the updates it refused (their index in the batch and why).
KeepRefused = Callable[[list[tuple[int, DomainError]]], Sequence[Aggregate]]
# Records a left shipment's invoice on its order, unsaved; False when it was invoiced already.
Invoice = Callable[[Order, str], bool]
BATCH_ATTEMPTS = 5
# Saves of a batch whose stock items alone were saved meanwhile, each on the items read again.
STOCK_ATTEMPTS = 10
# Updates that move stock: the others need no stock item read.
MOVES_STOCK = LEFT | {UpdateKind.REJECTED, UpdateKind.CANCELLATION_CONFIRMED}


@dataclass(frozen=True)
class UpdateResult:
    order_id: UUID
    shipment_id: str
    applied: bool
    order_status: str


def apply_updates(
    store: OrderStore,
    stock: KeptStock,
    updates: Sequence[FulfillmentUpdate],
    keep_refused: KeepRefused | None = None,
    invoice: Invoice | None = None,
) -> list[UpdateResult | DomainError]:
    """One entry per update, in order: its result, or the domain error that refused it."""
    return retried(
        f"a batch of {len(updates)} fulfillment updates",
        lambda: _apply(store, stock, updates, keep_refused, invoice),
        BATCH_ATTEMPTS,
    )


def _apply(
    store: OrderStore,
    stock: KeptStock,
    updates: Sequence[FulfillmentUpdate],
    keep_refused: KeepRefused | None,
    invoice: Invoice | None,
) -> list[UpdateResult | DomainError]:
    orders = find_many(store, (u.order_id for u in updates), Order)
    batch = _Batch(orders, stock.load(_stock_ids(orders, updates)), invoice)
    results = [batch.apply(update) for update in updates]
    kept: Sequence[Aggregate] = ()
    if keep_refused is not None:
        kept = keep_refused([(i, r) for i, r in enumerate(results) if isinstance(r, DomainError)])
    if batch.changed or batch.touched or kept:
        _save(store, stock, batch, store.written(*batch.changed.values(), *kept))
    return results


def _save(store: OrderStore, stock: KeptStock, batch: "_Batch", written: list[StoredEvent]) -> None:
    """The orders' events (in their stored form, kept for another attempt: a failed save has
    taken them from the orders) and the stock items moved, in one transaction. When it fails
    and no order was saved meanwhile, the items are read again and moved again; an order saved
    meanwhile fails it for `retried` to read the whole batch again."""
    touched = batch.touched
    for _ in range(STOCK_ATTEMPTS - 1):
        try:
            store.save(written, *touched.values())
        except IntegrityError:
            if _saved_meanwhile(store, written):
                raise
            fresh = stock.load(move.item_id for move in batch.moves)
            touched = {item.id: item for item in apply_moves(batch.moves, fresh.get)}
            continue
        stock.keep(touched.values())
        return
    store.save(written, *touched.values())
    stock.keep(touched.values())


def _saved_meanwhile(store: OrderStore, written: list[StoredEvent]) -> bool:
    """Whether another writer saved one of these aggregates at a version this save wrote."""
    first: dict[UUID, int] = {}
    for event in written:
        key = UUID(str(event.originator_id))
        first[key] = min(first.get(key, event.originator_version), event.originator_version)
    return bool(select_events_of_many(store.recorder, {i: v - 1 for i, v in first.items()}))


class _Batch:
    """The batch's orders and stock items as read, and those its updates changed."""

    def __init__(
        self, orders: dict[UUID, Order], items: dict[UUID, StockItem], invoice: Invoice | None
    ) -> None:
        self.orders, self.items, self._invoice = orders, items, invoice
        self.changed: dict[UUID, Order] = {}
        self.touched: dict[UUID, StockItem] = {}
        self.moves: list[StockMove] = []  # every applied update's, in batch order

    def apply(self, update: FulfillmentUpdate) -> UpdateResult | DomainError:
        order = self.orders.get(update.order_id)
        try:
            if order is None:
                raise unknown_shipment(update.order_id, update.shipment_id, update.source_id)
            applied = apply_to_order(order, update)
        except DomainError as refused:
            return refused
        if applied:
            self.changed[order.id] = order
            moves = stock_moves(order, update)
            self.moves += moves
            self.touched.update((i.id, i) for i in apply_moves(moves, self.items.get))
            if update.kind in LEFT and self._invoice is not None:
                _invoiced(self._invoice, order, update.shipment_id)
        return UpdateResult(order.id, update.shipment_id, applied, order.status.value)


def _invoiced(invoice: Invoice, order: Order, shipment_id: str) -> None:
    """The shipment's invoice recorded beside the update that says it left, unless it cannot
    be priced: a shipment withdrawn by a change that dropped one of its lines, then shipped all
    the same, names a line the revised order no longer has. The goods left all the same, so
    the update is recorded and the invoice left to billing's follower, which parks it for a
    person as it did before. The invoice is worked out whole before anything is recorded."""
    try:
        invoice(order, shipment_id)
    except (KeyError, DomainError, ArithmeticError) as error:
        log.warning(
            "shipment %s of order %s left without an invoice (%r); billing's follower has it",
            shipment_id,
            order.id,
            error,
        )


def _stock_ids(orders: dict[UUID, Order], updates: Sequence[FulfillmentUpdate]) -> set[UUID]:
    """The stock items the batch's updates may move: the lines of each named shipment at the
    update's source (a shipment's lines never change)."""
    wanted: set[UUID] = set()
    for update in updates:
        order = orders.get(update.order_id)
        if order is None or update.kind not in MOVES_STOCK:
            continue
        shipment = order.shipments.get(update.shipment_id)
        if shipment is None or shipment.source_id != update.source_id:
            continue
        wanted.update(stock_item_id(update.source_id, line.sku) for line in shipment.lines)
    return wanted


StockFinder = Callable[[UUID], StockItem | None]


def apply_to_order(order: Order, update: FulfillmentUpdate) -> bool:
    """The update recorded on the order, unsaved; False when stale or repeated. A refusal
    (a domain error) is raised before anything is recorded on the order."""
    return order.apply_update(
        update.shipment_id,
        update.source_id,
        update.kind,
        actor=f"source:{update.source_id}",
        at=update.at,
        carrier=update.carrier,
        tracking=update.tracking,
        shipped_lines=update.lines or None,
        reason=update.reason,
    )


class StockMove(NamedTuple):
    """What an applied update does to one reserved line's stock item."""

    item_id: UUID
    key: str  # the reservation's
    shipped: int | None  # units consumed; None: the reservation released
    at: datetime
    reason: str


def stock_moves(order: Order, update: FulfillmentUpdate) -> list[StockMove]:
    """The reservations an applied update consumes or releases, one per line of its shipment."""
    shipment = order.shipments[update.shipment_id]
    if update.kind in LEFT:
        shipped = {s.line_id: s.quantity for s in shipment.shipped_lines or ()}
        reason = "not shipped"
    elif update.kind in (UpdateKind.REJECTED, UpdateKind.CANCELLATION_CONFIRMED):
        shipped, reason = {}, update.kind.value
    else:
        return []
    return [
        StockMove(
            stock_item_id(update.source_id, line.sku),
            reservation_key(order.id, update.shipment_id, line.line_id),
            shipped.get(line.line_id),
            update.at,
            reason,
        )
        for line in shipment.lines
    ]


def apply_moves(moves: Sequence[StockMove], item_of: "StockFinder") -> list[StockItem]:
    """The items these moves change, changed and unsaved, in order; `item_of` gives each item,
    the same object for the same id. A reservation not on its item is left (nothing was
    reserved: stock counted away meanwhile; or moved by an earlier update)."""
    touched: dict[UUID, StockItem] = {}
    for move in moves:
        item = item_of(move.item_id)
        if item is None or move.key not in item.reservations:
            continue
        if move.shipped is not None:
            item.consume(move.key, move.shipped, at=move.at)
        else:
            item.release(move.key, at=move.at, reason=move.reason)
        touched[move.item_id] = item
    return list(touched.values())
