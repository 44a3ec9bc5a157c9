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
- A conflict (the order or a stock item saved meanwhile, by orchestration or billing) fails
  the whole save: the batch is read again and applied to the fresh state (`retried`).
"""

from collections.abc import Callable, Sequence
from dataclasses import dataclass
from uuid import UUID

from eventsourcing.domain import Aggregate

from aggregates import Order
from aggregates.errors import DomainError, unknown_shipment
from aggregates.ids import stock_item_id
from aggregates.stock import StockItem
from hub.services.conflicts import retried
from hub.services.kept_stock import KeptStock
from hub.services.lookup import find_many
from hub.services.orchestration import reservation_key
from hub.store import OrderStore
from schemas.fulfillment import FulfillmentUpdate, UpdateKind

# Updates that mean the goods left the building (a delivery may be reported before shipping).
LEFT = frozenset({UpdateKind.SHIPPED, UpdateKind.DELIVERED, UpdateKind.DELIVERY_FAILED})
# What to save with a batch about the updates it refused (their index in the batch and why).
KeepRefused = Callable[[list[tuple[int, DomainError]]], Sequence[Aggregate]]
BATCH_ATTEMPTS = 5
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
) -> list[UpdateResult | DomainError]:
    """One entry per update, in order: its result, or the domain error that refused it."""
    return retried(
        f"a batch of {len(updates)} fulfillment updates",
        lambda: _apply(store, stock, updates, keep_refused),
        BATCH_ATTEMPTS,
    )


def _apply(
    store: OrderStore,
    stock: KeptStock,
    updates: Sequence[FulfillmentUpdate],
    keep_refused: KeepRefused | None,
) -> list[UpdateResult | DomainError]:
    orders = find_many(store, (u.order_id for u in updates), Order)
    batch = _Batch(orders, stock.load(_stock_ids(orders, updates)))
    results = [batch.apply(update) for update in updates]
    kept: Sequence[Aggregate] = ()
    if keep_refused is not None:
        kept = keep_refused([(i, r) for i, r in enumerate(results) if isinstance(r, DomainError)])
    if batch.changed or batch.touched or kept:
        store.save(*batch.changed.values(), *batch.touched.values(), *kept)
        stock.keep(batch.touched.values())
    return results


class _Batch:
    """The batch's orders and stock items as read, and those its updates changed."""

    def __init__(self, orders: dict[UUID, Order], items: dict[UUID, StockItem]) -> None:
        self.orders, self.items = orders, items
        self.changed: dict[UUID, Order] = {}
        self.touched: dict[UUID, StockItem] = {}

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
            self.touched.update((i.id, i) for i in stock_effects(order, update, self.items.get))
        return UpdateResult(order.id, update.shipment_id, applied, order.status.value)


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


def stock_effects(order: Order, update: FulfillmentUpdate, item_of: StockFinder) -> list[StockItem]:
    """The stock items an applied update moves (reservations consumed or released), changed
    and unsaved; `item_of` gives each item, the same object for the same id."""
    shipment = order.shipments[update.shipment_id]
    touched: dict[UUID, StockItem] = {}
    for line in shipment.lines:
        item_id = stock_item_id(update.source_id, line.sku)
        item = item_of(item_id)
        key = reservation_key(order.id, update.shipment_id, line.line_id)
        if item is None or key not in item.reservations:
            continue  # nothing was reserved (stock counted away meanwhile): nothing to move
        if update.kind in LEFT:
            shipped = {s.line_id: s.quantity for s in shipment.shipped_lines or ()}
            if line.line_id in shipped:
                item.consume(key, shipped[line.line_id], at=update.at)
            else:
                item.release(key, at=update.at, reason="not shipped")
        elif update.kind in (UpdateKind.REJECTED, UpdateKind.CANCELLATION_CONFIRMED):
            item.release(key, at=update.at, reason=update.kind.value)
        else:
            continue
        touched[item_id] = item
    return list(touched.values())
