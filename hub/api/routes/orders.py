"""Orders: capture (POST) and status (GET)."""

import asyncio
import logging
from uuid import UUID, uuid4

from fastapi import APIRouter, Request, Response
from fastapi.responses import JSONResponse
from pydantic import BaseModel, Field, ValidationError

from hub.api.body import parse_json, read_limited
from hub.api.deps import ActorDep, GatewayDep, HubDep
from hub.api.problems import ProblemError, invalid_body, not_found
from hub.bootstrap import Hub
from hub.services.intake import Outcome, PlaceResult, RejectSubmission, SubmitOrder
from projections.order_status import OrderStatusRow
from schemas.api import OrderPublic, SubmissionReceipt
from schemas.problems import Problem
from schemas.submission import OrderSubmission

router = APIRouter(prefix="/v1/orders", tags=["orders"])
log = logging.getLogger(__name__)

CORRELATION_HEADER = "X-Correlation-Id"


@router.post(
    "",
    status_code=202,
    response_model=SubmissionReceipt,
    openapi_extra={
        "requestBody": {
            "required": True,
            "content": {"application/json": {"schema": OrderSubmission.model_json_schema()}},
        }
    },
    responses={
        200: {"description": "The same order was submitted before; nothing new recorded"},
        400: {"description": "Malformed JSON"},
        409: {"description": "Same channel and external id, different content"},
        413: {"description": "Body too large"},
        422: {"description": "Invalid submission, field by field"},
    },
)
async def submit_order(request: Request, hub: HubDep, gateway: GatewayDep) -> Response:
    """Capture an order. 202 once it is durable (event store, or Kafka with acks=all)."""
    raw = await read_limited(request, hub.settings.max_body_bytes)
    text, payload = parse_json(raw)
    try:
        submission = OrderSubmission.model_validate(payload)
    except ValidationError as error:
        problem = invalid_body(error)
        ident = payload if isinstance(payload, dict) else {}
        channel = str(ident.get("channel") or "unknown")
        rejection = RejectSubmission(
            channel=channel,
            raw_payload=text,
            format="canonical",
            reason="invalid_submission",
            problems=[p.model_dump() for p in problem.problem.errors],
            actor=f"channel:{channel}",
            external_id=str(ident["external_id"]) if ident.get("external_id") else None,
        )
        ids = await asyncio.to_thread(hub.intake.record_rejections, [rejection])
        await deliver_quietly(hub)
        problem.problem.extra["rejection_id"] = str(ids[0])
        raise problem from None
    command = SubmitOrder(
        submission=submission,
        raw_payload=text,
        actor=f"channel:{submission.channel}",
        correlation_id=request.headers.get(CORRELATION_HEADER) or str(uuid4()),
    )
    if gateway is not None:
        existing = await asyncio.to_thread(hub.intake.check_existing, command)
        if existing is not None:
            return _answer(existing)
        await gateway.submit(command)
        receipt = SubmissionReceipt(
            order_id=str(command.order_id),
            outcome="submitted",
            status="submitted",
            digest=command.digest,
        )
        return _json(receipt, 202, command.order_id)
    result = await asyncio.to_thread(hub.intake.place_order, command)
    await deliver_quietly(hub)
    return _answer(result)


@router.get("/{order_id}", response_model=OrderPublic, responses={404: {"description": "Unknown"}})
async def get_order(order_id: UUID, hub: HubDep) -> OrderPublic:
    """The order's current status from the read model."""
    row = await asyncio.to_thread(hub.order_status.get, str(order_id))
    if row is None:
        raise ProblemError(
            Problem(
                type="/problems/not-found",
                title="No such order",
                status=404,
                detail=f"order {order_id} is not known (yet)",
            )
        )
    return _public(row)


@router.get("/{order_id}/decision", responses={404: {"description": "Not decided yet"}})
async def get_decision(order_id: UUID, hub: HubDep) -> dict[str, object]:
    """The latest routing decision: the explanation in words and in full."""
    order = await asyncio.to_thread(hub.intake.find, order_id)
    if order is None or order.decision is None:
        raise not_found(f"decision for order {order_id}")
    return {
        "order_id": str(order_id),
        "status": order.status.value,
        "explanation": order.explanation,
        "decision": order.decision,
    }


class ReleaseHold(BaseModel):
    note: str = Field(min_length=1, max_length=500)


@router.post("/{order_id}/release-hold")
async def release_hold(
    order_id: UUID, body: ReleaseHold, hub: HubDep, actor: ActorDep
) -> dict[str, object]:
    """Release a held order (recorded with the user as actor); orchestration resumes."""
    await asyncio.to_thread(hub.ops.release_hold, order_id, body.note, actor)
    await asyncio.to_thread(hub.deliver)
    return {"order_id": str(order_id), "released_by": actor}


async def deliver_quietly(hub: Hub) -> None:
    """The order is recorded: a follower's failure must not turn that into an error answer.
    Undelivered events are caught up on the next command or at start-up."""
    try:
        await asyncio.to_thread(hub.deliver)
    except Exception:
        log.exception("in-process delivery failed; it will be retried")


def _answer(result: PlaceResult) -> Response:
    if result.outcome is Outcome.CONFLICT:
        raise ProblemError(
            Problem(
                type="/problems/submission-conflict",
                title="An order with this channel and external id exists with other content",
                status=409,
                detail="Submit a change through the change endpoint, or use a new external id.",
                extra={
                    "order_id": str(result.order_id),
                    "existing_digest": result.existing_digest,
                    "submitted_digest": result.digest,
                },
            ),
            headers={"Location": f"/v1/orders/{result.order_id}"},
        )
    receipt = SubmissionReceipt(
        order_id=str(result.order_id),
        outcome=result.outcome.value,
        status=result.status,
        digest=result.digest,
        reasons=list(result.reasons),
    )
    return _json(receipt, 202 if result.outcome is Outcome.CREATED else 200, result.order_id)


def _json(receipt: SubmissionReceipt, status: int, order_id: UUID) -> JSONResponse:
    return JSONResponse(
        receipt.model_dump(mode="json"),
        status_code=status,
        headers={"Location": f"/v1/orders/{order_id}"},
    )


def _public(row: OrderStatusRow) -> OrderPublic:
    return OrderPublic(
        order_id=row.order_id,
        channel=row.channel,
        external_id=row.external_id,
        status=row.status,
        customer_id=row.customer_id,
        demand_class=row.demand_class,
        country=row.country,
        currency=row.currency,
        total=row.total,
        line_count=row.line_count,
        placed_at=row.placed_at,
        received_at=row.received_at,
        updated_at=row.updated_at,
        version=row.version,
        reasons=list(row.reasons),
    )
