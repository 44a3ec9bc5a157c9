"""Fulfillment: apply what sources report, with the stock effects, in one event-store save;
cancel before shipment; invoice what shipped."""

from collections.abc import Callable, Iterable, Mapping, Sequence
from datetime import datetime
from decimal import Decimal
from typing import Any, TypeVar
from uuid import NAMESPACE_OID, UUID, uuid5

from eventsourcing.persistence import IntegrityError

from aggregates import Order
from aggregates.errors import DomainError, OrderError
from aggregates.ids import stock_item_id
from aggregates.order_request_keys import RequestKey
from aggregates.order_values import ReturnLine
from aggregates.order_withdrawals import check_line_quantities
from aggregates.stock import StockItem
from hub.services.fulfillment_batch import (
    KeepRefused,
    UpdateResult,
    apply_updates,
)
from hub.services.intake import submission_digest
from hub.services.kept_stock import KeptStock
from hub.services.lookup import UnknownOrderError, find, find_many
from hub.store import OrderStore
from schemas.fulfillment import FulfillmentUpdate
from schemas.submission import OrderSubmission

MAX_ATTEMPTS = 5
T = TypeVar("T")
BILLING = "system:billing"
CENT = Decimal("0.01")


def retry_on_conflict(command: Callable[[], T]) -> T:
    """Re-run a load-change-save command when another writer saved the order meanwhile."""
    for _ in range(MAX_ATTEMPTS - 1):
        try:
            return command()
        except IntegrityError:
            continue
    return command()


class FulfillmentService:
    def __init__(
        self,
        store: OrderStore,
        clock: Callable[[], datetime],
        tax_rates: Mapping[str, Decimal],
        stock: KeptStock | None = None,
    ) -> None:
        self._store = store
        self._clock = clock
        self._tax_rates = tax_rates
        # Stock items kept between batches of updates (the catalog's: the rows counted are
        # those shipped from).
        self._stock = stock if stock is not None else KeptStock(store)

    def apply_update(self, update: FulfillmentUpdate) -> UpdateResult:
        """Apply idempotently: a stale or repeated update changes nothing and is no error; a
        refused one raises its domain error, recording nothing.

        A batch of one (`apply_updates`): one code path for the API and the updates topic,
        its stock items the kept ones brought up to date by the events after them (each
        update read its items whole before: a sixth of the embedded hub's busy samples in a
        soak that ships; on PostgreSQL no difference was measured, benchmarks/README.md
        esoak17). A race lost past every retry raises `ConcurrentChangeError` ("try again",
        a 409), as the batch does; it was a RuntimeError, answered 500."""
        (result,) = self.apply_updates([update])
        if isinstance(result, DomainError):
            raise result
        return result

    def apply_updates(
        self, updates: Sequence[FulfillmentUpdate], keep_refused: KeepRefused | None = None
    ) -> list[UpdateResult | DomainError]:
        """Many updates as one batch, as if applied one after the other in order (hub.services.
        fulfillment_batch); refused ones answered with their domain error."""
        return apply_updates(self._store, self._stock, updates, keep_refused, self._invoice)

    def cancel_order(
        self, order_id: UUID, reason: str, actor: str, request: RequestKey | None = None
    ) -> list[str]:
        def cancel() -> list[str]:
            order = self._order(order_id)
            earlier = order.earlier_answer(request)
            if earlier is not None:
                return earlier
            withdrawn = order.request_cancellation(reason, actor, self._clock(), request)
            if order.pending_events:  # nothing when the rest was cancelled already
                self._store.save(order)
            return withdrawn

        return retry_on_conflict(cancel)

    def change_order(
        self,
        order_id: UUID,
        submission: OrderSubmission,
        raw_payload: str,
        actor: str,
        request: RequestKey | None = None,
    ) -> list[str]:
        """Revise an order before it ships; returns the shipments withdrawn for re-routing."""

        def change() -> list[str]:
            order = self._order(order_id)
            earlier = order.earlier_answer(request)
            if earlier is not None:
                return earlier
            if (submission.channel, submission.external_id) != (order.channel, order.external_id):
                raise OrderError("a change keeps the order's channel and external_id")
            digest = submission_digest(submission)
            withdrawn = order.change(submission, digest, raw_payload, actor, self._clock(), request)
            self._store.save(order)
            return withdrawn

        return retry_on_conflict(change)

    def cancel_lines(
        self,
        order_id: UUID,
        lines: Mapping[str, int],
        reason: str,
        actor: str,
        request: RequestKey | None = None,
    ) -> list[str]:
        """Cancel some units of some lines before they ship: the rest of the order is routed
        again as a new revision. Cancelling every unit cancels the order. Once part of the
        order shipped, the lines must name its whole unshipped rest (`Order.cancel_rest`).
        Asked again under the same key, the first answer (before the lines are checked: the
        order has fewer units now)."""
        order = self._order(order_id)
        earlier = order.earlier_answer(request)
        if earlier is not None:
            return earlier
        check_line_quantities(order, lines)
        if order.shipped_units():
            return retry_on_conflict(
                lambda: self._cancel_rest(order_id, lines, reason, actor, request)
            )
        if order.cancel_requested:
            # Every unit is being (or was) cancelled already: asked again, as the whole order.
            return self.cancel_order(order_id, reason, actor, request)
        kept = []
        for line in order.submission.lines:
            left = line.quantity - lines.get(line.line_id, 0)
            if left:
                kept.append(line.model_copy(update={"quantity": left}))
        if not kept:
            return self.cancel_order(order_id, reason, actor, request)
        revised = order.submission.model_copy(update={"lines": kept})
        return self.change_order(order_id, revised, revised.model_dump_json(), actor, request)

    def _cancel_rest(
        self,
        order_id: UUID,
        lines: Mapping[str, int],
        reason: str,
        actor: str,
        request: RequestKey | None,
    ) -> list[str]:
        order = self._order(order_id)
        earlier = order.earlier_answer(request)
        if earlier is not None:
            return earlier
        withdrawn = order.cancel_rest(reason, actor, self._clock(), lines, request)
        if order.pending_events:
            self._store.save(order)
        return withdrawn

    def invoice_shipment(self, order_id: UUID, shipment_id: str) -> bool:
        """Issue the invoice of a shipped shipment (once): lines, tax by country, totals."""
        return retry_on_conflict(lambda: self._invoice_shipment(order_id, shipment_id))

    def invoice_shipments(self, shipments: Iterable[tuple[UUID, str]]) -> int:
        """Invoice many shipped shipments (each once), as `invoice_shipment` does one: their
        orders read in one query and saved in one transaction (billing's follower read and
        committed once per shipment, a round trip each way and a commit). Returns how many
        invoices were issued by this call.

        A shipment already invoiced (a redelivered batch, or the delivery after the shipment)
        is skipped as before. If another writer saved one of the orders meanwhile (a source's
        update), the save fails whole and each shipment is invoiced again on its own, from
        fresh state; none is invoiced twice."""
        wanted = list(dict.fromkeys(shipments))
        if not wanted:  # most batches ship nothing: no read
            return 0
        orders = find_many(self._store, (order_id for order_id, _ in wanted), Order)
        changed: dict[UUID, Order] = {}
        issued = 0
        for order_id, shipment_id in wanted:
            order = orders.get(order_id)
            if order is not None and self._invoice(order, shipment_id):
                changed[order_id] = order
                issued += 1
        if not changed:
            return 0
        try:
            self._store.save(*changed.values())
        except IntegrityError:
            return sum(self.invoice_shipment(order_id, s) for order_id, s in wanted)
        return issued

    def _invoice_shipment(self, order_id: UUID, shipment_id: str) -> bool:
        order = find(self._store, order_id, Order)
        if order is None or not self._invoice(order, shipment_id):
            return False
        self._store.save(order)
        return True

    def _invoice(self, order: Order, shipment_id: str) -> bool:
        """Record the shipment's invoice (and the payment it captures) on the order, unsaved;
        False when it was invoiced already."""
        if shipment_id in order.invoices:
            return False
        shipment = order.shipments[shipment_id]
        prices = {line.line_id: line.unit_price for line in order.submission.lines}
        rate = self._tax_rates.get(order.submission.ship_to.country, Decimal(0))
        lines: list[dict[str, Any]] = []
        net = Decimal(0)
        for line in shipment.shipped_lines or shipment.lines:
            price = prices[line.line_id]
            amount = (price * line.quantity).quantize(CENT)
            net += amount
            lines.append(
                {
                    "line_id": line.line_id,
                    "sku": line.sku,
                    "quantity": line.quantity,
                    "unit_price": str(price),
                    "net": str(amount),
                }
            )
        tax = (net * rate).quantize(CENT)
        invoice: dict[str, Any] = {
            "invoice_id": str(uuid5(NAMESPACE_OID, f"invoice:{order.id}:{shipment_id}")),
            "lines": lines,
            "currency": order.submission.currency,
            "net_total": str(net),
            "tax_rate": str(rate),
            "tax_total": str(tax),
            "gross_total": str(net + tax),
        }
        now = self._clock()
        if not order.record_invoice(shipment_id, invoice, actor=BILLING, now=now):
            return False
        order.capture_payment(invoice["invoice_id"], invoice["gross_total"], BILLING, now)
        return True

    def request_return(
        self, order_id: UUID, lines: list[ReturnLine], reason: str, actor: str
    ) -> str:
        """Authorise a return (RMA) of shipped units; returns its id."""

        def request() -> str:
            order = self._order(order_id)
            rma_id = str(uuid5(NAMESPACE_OID, f"rma:{order_id}:{len(order.returns) + 1}"))
            order.request_return(rma_id, lines, reason, actor=actor, now=self._clock())
            self._store.save(order)
            return rma_id

        return retry_on_conflict(request)

    def receive_return(
        self, order_id: UUID, rma_id: str, disposition: str, source_id: str | None, actor: str
    ) -> None:
        """Goods received: restocked at a source (on-hand up) or written off, in one save."""
        order = self._order(order_id)
        now = self._clock()
        lines = order.receive_return(rma_id, disposition, source_id, actor=actor, now=now)
        items: dict[str, StockItem] = {}
        if source_id is not None:
            skus = {line.line_id: line.sku for line in order.submission.lines}
            for line in lines:
                sku = skus[line.line_id]
                item = items.get(sku) or find(self._store, stock_item_id(source_id, sku), StockItem)
                if item is None:
                    item = StockItem(
                        source_id=source_id, sku=sku, on_hand=0, safety_stock=0, at=now
                    )
                item.adjust(line.quantity, at=now, reason=f"return {rma_id}")
                items[sku] = item
        self._store.save(order, *items.values())

    def refund(self, order_id: UUID, amount: Decimal, reason: str, actor: str) -> None:
        def refund() -> None:
            order = self._order(order_id)
            order.refund(amount, reason, actor=actor, now=self._clock())
            self._store.save(order)

        retry_on_conflict(refund)

    def _order(self, order_id: UUID) -> Order:
        order = find(self._store, order_id, Order)
        if order is None:
            raise UnknownOrderError(order_id)
        return order
