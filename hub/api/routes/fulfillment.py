"""Fulfillment: sources report on their shipments; orders are cancelled before they ship."""

import asyncio
from typing import Annotated, Any, Literal
from uuid import UUID

from fastapi import APIRouter, Depends, Header, Request
from pydantic import BaseModel, Field, StrictInt, ValidationError

from aggregates import Order
from aggregates.errors import CancelLinesError, OrderError
from aggregates.order_request_keys import RequestKey, RequestKeyReusedError
from aggregates.order_values import ReturnLine as Returned
from hub.api import settling
from hub.api.body import parse_json, read_limited
from hub.api.deps import HubDep, PrincipalDep, require
from hub.api.params import ReferencePath
from hub.api.problems import ProblemError, invalid_body, not_found
from hub.bootstrap import Hub
from hub.services.access import Principal
from hub.services.fulfillment_updates import Parked
from hub.services.intake import RejectSubmission, json_digest, submission_digest
from schemas.channels import Role
from schemas.fulfillment import FulfillmentUpdate
from schemas.problems import FieldProblem, Problem
from schemas.submission import OrderSubmission
from schemas.types import MAX_QUANTITY, LineId, Money

router = APIRouter(tags=["fulfillment"])


@router.post(
    "/v1/fulfillment/updates",
    openapi_extra={
        "requestBody": {
            "required": True,
            "content": {"application/json": {"schema": FulfillmentUpdate.model_json_schema()}},
        }
    },
)
async def post_update(
    request: Request,
    hub: HubDep,
    principal: Annotated[Principal, Depends(require("fulfillment:update"))],
) -> dict[str, Any]:
    """Accepted, rejected, picked, packed, shipped (carrier, tracking), delivered, failed.

    Repeated or stale updates answer `applied: false`. A refused one is parked (listed with the
    rejected submissions) and answered 422 with the reason.
    """
    raw_bytes = await read_limited(request, hub.settings.max_body_bytes)
    text, payload = parse_json(raw_bytes)
    claimed = payload.get("source_id") if isinstance(payload, dict) else None
    if principal.role is Role.SOURCE and claimed != principal.source_id:
        raise ProblemError(
            Problem(
                type="/problems/forbidden",
                title="A source reports on its own shipments only",
                status=403,
                errors=[
                    FieldProblem(
                        field="source_id",
                        message=f"must be {principal.source_id!r}",
                        code="source_mismatch",
                    )
                ],
            )
        )
    # Applied with the updates other sources sent meanwhile (hub.services.fulfillment_updates).
    (result,) = await hub.updates.place([text])
    if isinstance(result, ValueError):  # not JSON: parse_json let none of those through
        raise result
    await settling.delivered_quietly(hub)
    if isinstance(result, Parked):
        raise ProblemError(
            Problem(
                type="/problems/update-refused",
                title=f"The update was refused and parked: {result.reason}",
                status=422,
                errors=[FieldProblem.model_validate(p) for p in result.problems],
            )
        )
    return {
        "order_id": str(result.order_id),
        "shipment_id": result.shipment_id,
        "applied": result.applied,
        "order_status": result.order_status,
    }


class CancelOrder(BaseModel):
    reason: str = Field(min_length=1, max_length=500)
    lines: dict[LineId, Annotated[StrictInt, Field(gt=0, le=MAX_QUANTITY)]] | None = Field(
        default=None,
        description="line_id → units to cancel; the whole order (what has not shipped) when "
        "left out. Once part of the order shipped, the units of every line not shipped",
    )


IdempotencyKey = Annotated[
    str | None,
    Header(
        alias="Idempotency-Key",
        min_length=1,
        max_length=255,
        description="The client's key for this request: sent again with the same request "
        "(a retry after a timeout), the first answer and nothing recorded; with another "
        "request to the same order, 422. Kept with the order's events.",
    ),
]


@router.post("/v1/orders/{order_id}/cancel", status_code=202)
async def cancel_order(
    order_id: UUID,
    body: CancelOrder,
    hub: HubDep,
    principal: PrincipalDep,
    idempotency_key: IdempotencyKey = None,
) -> dict[str, Any]:
    """Cancel what has not shipped: open shipments are withdrawn (their sources confirm or
    refuse; the order is `cancelling` until they do), waiting lines dropped, their stock
    released. Before anything shipped, `lines` cancels some units and the rest is routed
    again. Once part of the order shipped, the rest is cancelled and the order ends as what
    shipped (invoiced for that alone); `lines` must then name that whole rest. A whole-order
    cancel asked again is answered 202 with nothing recorded and no shipment withdrawn; a
    cancel of some `lines` asked again is a new cancel unless it carries the same
    `Idempotency-Key` (then the first answer's `withdrawn_shipments`, nothing recorded).
    `status` is the order's after the request. 409 when everything shipped (only a return is
    possible) or a line shipped in full; 422 for a line the order lacks, more units than
    ordered, or a key sent before with another request."""
    order = await _order_to_act_on(hub, principal, order_id, "cancel")
    digest = json_digest({"command": "cancel", "reason": body.reason, "lines": body.lines})
    request = _keyed(idempotency_key, digest)
    try:
        if body.lines:
            withdrawn = await asyncio.to_thread(
                hub.fulfillment.cancel_lines,
                order_id,
                body.lines,
                body.reason,
                principal.actor,
                request,
            )
        else:
            withdrawn = await asyncio.to_thread(
                hub.fulfillment.cancel_order, order_id, body.reason, principal.actor, request
            )
    except CancelLinesError as error:
        raise ProblemError(
            Problem(
                type="/problems/cancel-refused",
                title=str(error),
                status=error.status,
                errors=[
                    FieldProblem(
                        field=f"lines.{error.line_id}", message=str(error), code=error.code
                    )
                ],
            )
        ) from None
    except RequestKeyReusedError as error:
        raise _key_reused(error) from None
    return await _withdrawn_answer(hub, order, withdrawn)


async def _order_to_act_on(hub: Hub, principal: Principal, order_id: UUID, verb: str) -> Order:
    """The order a channel (its own) or a user with `orders:act` cancels or changes."""
    order = await asyncio.to_thread(hub.intake.find, order_id)
    if order is None or not principal.may_see_channel(order.channel):
        raise not_found(f"order {order_id}")
    if principal.role is not Role.CHANNEL and "orders:act" not in principal.scopes:
        raise ProblemError(
            Problem(type="/problems/forbidden", title=f"May not {verb} orders", status=403)
        )
    return order


def _keyed(key: str | None, digest: str) -> RequestKey | None:
    return None if key is None else RequestKey(key, digest)


def _key_reused(error: RequestKeyReusedError) -> ProblemError:
    # 422 as the IETF draft on the Idempotency-Key header answers a key sent with another
    # request: the request cannot be processed as sent.
    return ProblemError(
        Problem(
            type="/problems/idempotency-key-reused",
            title=str(error),
            status=422,
            errors=[FieldProblem(field="Idempotency-Key", message=str(error), code="key_reused")],
        )
    )


async def _withdrawn_answer(hub: Hub, order: Order, withdrawn: list[str]) -> dict[str, Any]:
    """The answer of a cancel or change: the shipments withdrawn and the order's status once
    what it recorded was delivered (read again: the status before it is not the answer)."""
    await settling.delivered_quietly(hub)
    after = await asyncio.to_thread(hub.intake.find, order.id)
    status = (after or order).status.value
    return {"order_id": str(order.id), "withdrawn_shipments": withdrawn, "status": status}


class ReturnLine(BaseModel):
    line_id: LineId
    quantity: StrictInt = Field(gt=0, le=MAX_QUANTITY)


class RequestReturn(BaseModel):
    lines: list[ReturnLine] = Field(min_length=1)
    reason: str = Field(min_length=1, max_length=500)


class ReceiveReturn(BaseModel):
    disposition: Literal["restock", "write_off"]
    source_id: str | None = Field(default=None, description="Where restocked goods go")


class Refund(BaseModel):
    amount: Money
    reason: str = Field(min_length=1, max_length=500)


Actor = Annotated[Principal, Depends(require("orders:act"))]


@router.post("/v1/orders/{order_id}/returns", status_code=201)
async def request_return(
    order_id: UUID, body: RequestReturn, hub: HubDep, principal: PrincipalDep
) -> dict[str, Any]:
    """Authorise a return (RMA) of shipped units; the channel of the order may ask for it."""
    order = await asyncio.to_thread(hub.intake.find, order_id)
    if order is None or not principal.may_see_channel(order.channel):
        raise not_found(f"order {order_id}")
    if principal.role is not Role.CHANNEL and "orders:act" not in principal.scopes:
        raise ProblemError(
            Problem(type="/problems/forbidden", title="May not open returns", status=403)
        )
    lines = [Returned(line.line_id, line.quantity) for line in body.lines]
    rma_id = await asyncio.to_thread(
        hub.fulfillment.request_return, order_id, lines, body.reason, principal.actor
    )
    await settling.delivered_quietly(hub)
    return {"order_id": str(order_id), "rma_id": rma_id}


@router.post("/v1/orders/{order_id}/returns/{rma_id}/receive")
async def receive_return(
    order_id: UUID, rma_id: ReferencePath, body: ReceiveReturn, hub: HubDep, principal: Actor
) -> dict[str, Any]:
    """The goods are back: restock them at a source, or write them off."""
    await asyncio.to_thread(
        hub.fulfillment.receive_return,
        order_id,
        rma_id,
        body.disposition,
        body.source_id,
        principal.actor,
    )
    await settling.delivered_quietly(hub)
    return {"order_id": str(order_id), "rma_id": rma_id, "disposition": body.disposition}


@router.post("/v1/orders/{order_id}/refunds", status_code=201)
async def refund(order_id: UUID, body: Refund, hub: HubDep, principal: Actor) -> dict[str, Any]:
    """Refund part of what was captured; more than was paid is refused, and the refused
    request is kept with the exceptions (rejected submissions) with its reason."""
    try:
        await asyncio.to_thread(
            hub.fulfillment.refund, order_id, body.amount, body.reason, principal.actor
        )
    except OrderError as error:
        problem = {"field": "amount", "message": str(error), "code": "refund_refused"}
        await asyncio.to_thread(
            hub.intake.record_rejections,
            [
                RejectSubmission(
                    channel=f"refunds:{order_id}",
                    raw_payload=body.model_dump_json(),
                    format="refund",
                    reason="refund_refused",
                    problems=[problem],
                    actor=principal.actor,
                    external_id=str(order_id),
                )
            ],
        )
        await settling.delivered_quietly(hub)
        raise ProblemError(
            Problem(
                type="/problems/refund-refused",
                title="The refund was refused",
                status=422,
                errors=[FieldProblem.model_validate(problem)],
            )
        ) from None
    await settling.delivered_quietly(hub)
    return {"order_id": str(order_id), "refunded": str(body.amount)}


@router.put(
    "/v1/orders/{order_id}",
    status_code=202,
    openapi_extra={
        "requestBody": {
            "required": True,
            "content": {"application/json": {"schema": OrderSubmission.model_json_schema()}},
        }
    },
)
async def change_order(
    order_id: UUID,
    request: Request,
    hub: HubDep,
    principal: PrincipalDep,
    idempotency_key: IdempotencyKey = None,
) -> dict[str, Any]:
    """A new revision (address, quantities, lines) before shipment: open shipments are
    withdrawn and the revised order is routed again. After shipment only a return is possible.
    With an `Idempotency-Key` sent before with the same revision, the first answer and nothing
    recorded; with another request to the same order, 422."""
    order = await _order_to_act_on(hub, principal, order_id, "change")
    text, payload = parse_json(await read_limited(request, hub.settings.max_body_bytes))
    try:
        submission = OrderSubmission.model_validate(payload)
    except ValidationError as error:
        raise invalid_body(error) from None
    digest = json_digest({"command": "change", "submission": submission_digest(submission)})
    try:
        withdrawn = await asyncio.to_thread(
            hub.fulfillment.change_order,
            order_id,
            submission,
            text,
            principal.actor,
            _keyed(idempotency_key, digest),
        )
    except RequestKeyReusedError as error:
        raise _key_reused(error) from None
    return await _withdrawn_answer(hub, order, withdrawn)
