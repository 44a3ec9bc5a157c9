"""One order: what it is, why it went where it went, what happened to it, and the actions
(release a hold, cancel, re-route to a chosen source)."""

import asyncio
from dataclasses import dataclass
from decimal import Decimal
from typing import Any
from uuid import UUID

from fastapi import APIRouter, Request, Response
from fastapi.responses import HTMLResponse

from aggregates import Order
from hub.api.console.auth import Actor, Reader, may_act
from hub.api.console.formatting import duration
from hub.api.console.web import (
    ConsoleRoute,
    FieldMissing,
    PageError,
    field,
    hub_of,
    perform,
    read_form,
    render,
    see_other,
    with_message,
)
from hub.bootstrap import Hub
from hub.services.decision_records import explanation_of
from hub.services.ops_queries import age
from projections.audit_trail import AuditEntry
from projections.exception_rules import ExceptionRow
from projections.exceptions import ExceptionQuery
from projections.order_rows import FINAL_STATUSES, OrderStatusRow

router = APIRouter(route_class=ConsoleRoute)
NOT_REROUTABLE = FINAL_STATUSES | {"placed", "cancelling"}


@dataclass(frozen=True)
class OrderView:
    order_id: str
    row: OrderStatusRow | None
    order: Order | None
    exceptions: list[ExceptionRow]
    trail: list[AuditEntry]
    sources: list[tuple[str, str]]

    @property
    def status(self) -> str:
        if self.order is not None:
            return str(self.order.status.value)
        return self.row.status if self.row else "unknown"

    @property
    def submission(self) -> dict[str, Any]:
        # The page shows the submission as submitted: its JSON, as the raw view does.
        return self.order.submission.model_dump(mode="json") if self.order is not None else {}


def order_uuid(order_id: str) -> UUID:
    try:
        return UUID(order_id)
    except ValueError:
        raise PageError(404, "Order not found", f"{order_id!r} is not an order id.") from None


def load(hub: Hub, order_id: UUID) -> OrderView | None:
    row = hub.order_status.get(str(order_id))
    order = hub.intake.find(order_id)
    if row is None and order is None:
        return None
    exceptions = hub.exceptions.queue(
        ExceptionQuery(order_id=str(order_id), state="all", limit=200)
    ).rows
    sources = [
        (
            s.source_id,
            str(s.definition.get("name") or s.source_id) + ("" if s.active else " (paused)"),
        )
        for s in hub.catalog.list_sources()
    ]
    return OrderView(
        str(order_id), row, order, exceptions, hub.audit.trail(str(order_id)), sorted(sources)
    )


def _header(view: OrderView) -> dict[str, Any]:
    row, sub = view.row, view.submission
    if row is not None:
        total, currency = row.total, row.currency
    else:
        lines = sub.get("lines", [])
        total = str(sum((Decimal(x["unit_price"]) * x["quantity"] for x in lines), Decimal(0)))
        currency = sub.get("currency", "")
    return {
        "external_id": row.external_id if row else view.order.external_id if view.order else "",
        "channel": row.channel if row else sub.get("channel", ""),
        "customer": row.customer_id if row else sub.get("customer", {}).get("id", ""),
        "total": total,
        "currency": currency,
        "promised_by": row.promised_by if row else sub.get("promised_by") or "",
        "placed_at": row.placed_at if row else sub.get("placed_at", ""),
        "updated_at": row.updated_at if row else "",
        "delivery_method": sub.get("delivery_method", row.delivery_method if row else ""),
        "payment_state": sub.get("payment_state", ""),
        "ship_to": sub.get("ship_to", {}),
        "reasons": list(row.reasons) if row else [],
    }


def _shipments(order: Order | None) -> list[dict[str, Any]]:
    if order is None:
        return []
    return [
        {
            "id": sid,
            "source_id": s.source_id,
            "state": s.state.value,
            "withdrawn": sid in order.withdrawing,
            "lines": s.lines,
            "carrier": s.carrier,
            "tracking": s.tracking,
        }
        for sid, s in sorted(order.shipments.items(), key=lambda i: i[1].sequence)
    ]


@router.get("/orders/{order_id}")
async def order_page(order_id: str, request: Request, principal: Reader) -> HTMLResponse:
    hub = hub_of(request)
    uid = order_uuid(order_id)
    view = await asyncio.to_thread(load, hub, uid)
    if view is None:
        raise PageError(404, "Order not found", f"There is no order {uid}.")
    now = hub.clock()
    status = view.status
    header = _header(view)
    open_exceptions = [e for e in view.exceptions if e.is_open]
    return render(
        request,
        "order.html",
        title=f"Order {header['external_id']}",
        view=view,
        status=status,
        header=header,
        lines=[
            {**line, "amount": str(Decimal(str(line["unit_price"])) * int(line["quantity"]))}
            for line in view.submission.get("lines", [])
        ],
        open_exceptions=[(e, duration(age(e, now))) for e in open_exceptions],
        resolved_exceptions=[(e, duration(age(e, now))) for e in view.exceptions if not e.is_open],
        explanation=explanation_of(view.order) if view.order else None,
        shipments=_shipments(view.order),
        trail=view.trail,
        may_act=may_act(principal),
        can_release=status == "held",
        can_cancel=status not in FINAL_STATUSES and status != "cancelling",
        can_reroute=status not in NOT_REROUTABLE,
        back=f"/console/orders/{uid}",
    )


async def _order_action(
    request: Request, order_id: str, fields: dict[str, tuple[str, int]]
) -> tuple[Hub, UUID, str, dict[str, str] | Response]:
    """The order (404 when unknown), where to go back to, and the required fields' values (or
    the redirect that says which one is missing)."""
    hub = hub_of(request)
    uid = order_uuid(order_id)
    back = f"/console/orders/{uid}"
    form = await read_form(request)
    if await asyncio.to_thread(hub.intake.find, uid) is None:
        raise PageError(404, "Order not found", f"There is no order {uid}.")
    try:
        values = {name: field(form, name, what, size) for name, (what, size) in fields.items()}
    except FieldMissing as error:
        return hub, uid, back, see_other(with_message(back, error=str(error)))
    return hub, uid, back, values


@router.post("/orders/{order_id}/release-hold")
async def release_hold(order_id: str, request: Request, principal: Actor) -> Response:
    hub, uid, back, values = await _order_action(
        request, order_id, {"note": ("a note saying why the hold is released", 500)}
    )
    if isinstance(values, Response):
        return values
    return await perform(
        hub,
        lambda: hub.ops.release_hold(uid, values["note"], principal.actor),
        back,
        "Hold released: the order goes to routing again.",
    )


@router.post("/orders/{order_id}/cancel")
async def cancel(order_id: str, request: Request, principal: Actor) -> Response:
    hub, uid, back, values = await _order_action(
        request, order_id, {"reason": ("the reason for cancelling", 500)}
    )
    if isinstance(values, Response):
        return values
    return await perform(
        hub,
        lambda: hub.fulfillment.cancel_order(uid, values["reason"], principal.actor),
        back,
        "Cancellation requested: open shipments are withdrawn.",
    )


@router.post("/orders/{order_id}/reroute")
async def reroute(order_id: str, request: Request, principal: Actor) -> Response:
    hub, uid, back, values = await _order_action(
        request,
        order_id,
        {"source_id": ("the source to send it to", 128), "reason": ("the reason", 500)},
    )
    if isinstance(values, Response):
        return values
    return await perform(
        hub,
        lambda: hub.ops.reroute(uid, values["source_id"], values["reason"], principal.actor),
        back,
        f"Re-routing to {values['source_id']} requested.",
    )
