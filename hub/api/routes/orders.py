"""Orders: capture (POST) and status (GET)."""

import asyncio
import logging
from typing import Annotated
from uuid import UUID

from fastapi import APIRouter, Depends, Request, Response
from pydantic import BaseModel, Field

from hub.api import settling
from hub.api.body import parse_json, read_limited
from hub.api.deps import CALLER_HEADERS, HubDep, caller_of, require
from hub.api.problems import ProblemError, channel_mismatch, invalid_submission, not_found
from hub.api.ratelimit import check_rate
from hub.services.access import Principal
from hub.services.capture import SUBMITTED, CaptureService, ChannelMismatch, InvalidSubmission
from hub.services.decision_records import explanation_of
from hub.services.decisions import order_decisions
from hub.services.intake import Outcome, PlaceResult
from hub.services.order_reads import order_row
from projections.order_status import OrderStatusRow
from schemas.api import DecisionPublic, OrderDecisionsPublic, OrderPublic, SubmissionReceipt
from schemas.problems import Problem
from schemas.submission import OrderSubmission

router = APIRouter(prefix="/v1/orders", tags=["orders"])
log = logging.getLogger(__name__)

Reader = Annotated[Principal, Depends(require("orders:read"))]


@router.post(
    "",
    status_code=202,
    response_model=SubmissionReceipt,
    openapi_extra={
        "parameters": CALLER_HEADERS,
        "requestBody": {
            "required": True,
            "content": {"application/json": {"schema": OrderSubmission.model_json_schema()}},
        },
    },
    responses={
        200: {"description": "The same order was submitted before; nothing new recorded"},
        400: {"description": "Malformed JSON"},
        409: {"description": "Same channel and external id, different content"},
        413: {"description": "Body too large"},
        422: {"description": "Invalid submission, field by field"},
    },
)
async def submit_order(request: Request) -> Response:
    """Capture an order. 202 once it is durable (event store, or Kafka with acks=all)."""
    # Its caller read here, not as dependencies: the hot route (see `caller_of`).
    hub, correlation_id, principal = await caller_of(request, "orders:submit")
    capture: CaptureService = request.app.state.capture
    # Before the rate (a shed order costs its channel nothing) and before the body is read.
    request.app.state.admission.check("orders")
    await check_rate(request, hub, principal)
    raw = await read_limited(request, hub.settings.max_body_bytes)
    text, payload = parse_json(raw)  # not JSON at all: a 400, and nothing to keep
    try:
        captured = await capture.capture_order(text, payload, principal, correlation_id)
    except InvalidSubmission as refused:
        raise _invalid(refused) from None
    except ChannelMismatch as mismatch:
        raise channel_mismatch(mismatch) from None
    if captured.result is None:
        return submitted_answer(captured.command.order_id, captured.command.digest)
    return _answer(captured.result)


@router.get("/{order_id}", response_model=OrderPublic, responses={404: {"description": "Unknown"}})
async def get_order(order_id: UUID, hub: HubDep, principal: Reader) -> OrderPublic:
    """The order's current status from the read model, else from its stored events (an order
    acknowledged a moment ago may not be in the view yet: `hub.services.order_reads`)."""
    row = await asyncio.to_thread(
        order_row, hub.order_status.get, hub.store.events_of, str(order_id)
    )
    if row is None or not principal.may_see_channel(row.channel):
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
async def get_decision(order_id: UUID, hub: HubDep, principal: Reader) -> dict[str, object]:
    """The latest routing decision: the explanation in words and in full."""
    order = await asyncio.to_thread(hub.intake.find, order_id)
    if order is None or not principal.may_see_channel(order.channel) or order.decision is None:
        raise not_found(f"decision for order {order_id}")
    return {
        "order_id": str(order_id),
        "status": order.status.value,
        "explanation": explanation_of(order),
        "decision": order.decision.plain(),
    }


@router.get(
    "/{order_id}/decisions",
    response_model=OrderDecisionsPublic,
    responses={404: {"description": "Unknown order"}},
)
async def list_decisions(order_id: UUID, hub: HubDep, principal: Reader) -> OrderDecisionsPublic:
    """Every routing decision of the order, oldest first: when, why (trigger), by which policy
    version, with which outcome and digests, and the decision itself."""
    found = await asyncio.to_thread(order_decisions, hub.store, order_id)
    if found is None or not principal.may_see_channel(found.channel):
        raise not_found(f"order {order_id}")
    return OrderDecisionsPublic(
        order_id=str(order_id),
        decisions=[DecisionPublic.model_validate(d.to_dict()) for d in found.decisions],
    )


class ReleaseHold(BaseModel):
    note: str = Field(min_length=1, max_length=500)


@router.post("/{order_id}/release-hold")
async def release_hold(
    order_id: UUID,
    body: ReleaseHold,
    hub: HubDep,
    principal: Annotated[Principal, Depends(require("orders:act"))],
) -> dict[str, object]:
    """Release a held order (recorded with the user as actor); orchestration resumes."""
    await asyncio.to_thread(hub.ops.release_hold, order_id, body.note, principal.actor)
    await settling.delivered_quietly(hub)
    return {"order_id": str(order_id), "released_by": principal.actor}


@router.get("/{order_id}/raw", responses={404: {"description": "Unknown"}})
async def get_raw_payload(order_id: UUID, hub: HubDep, principal: Reader) -> Response:
    """The payload exactly as the channel sent it."""
    order = await asyncio.to_thread(hub.intake.find, order_id)
    if order is None or not principal.may_see_channel(order.channel):
        raise not_found(f"order {order_id}")
    return Response(order.raw_payload, media_type="text/plain; charset=utf-8")


def _invalid(refused: InvalidSubmission) -> ProblemError:
    """422 naming every field's reason, and the rejected submission that keeps the payload."""
    problem = invalid_submission(refused.problems)
    problem.problem.extra["rejection_id"] = refused.rejection_id
    return problem


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


def _json(receipt: SubmissionReceipt, status: int, order_id: UUID) -> Response:
    # The bytes JSONResponse would write (compact, UTF-8), serialised by pydantic in one step.
    return Response(
        receipt.model_dump_json(),
        status_code=status,
        headers={"Location": f"/v1/orders/{order_id}"},
        media_type="application/json",
    )


def submitted_answer(order_id: UUID, digest: str) -> Response:
    """The 202 of an order handed to the intake workers: the bytes `_json` writes for its
    receipt, made without the model. Building `SubmissionReceipt` and its JSON was most of the
    answer's ~20 µs; an order id (a UUID) and a digest (hex) need no escaping in JSON."""
    oid = str(order_id)
    body = b"".join((_SUBMITTED_HEAD, oid.encode(), _SUBMITTED_MIDDLE, digest.encode(), _TAIL))
    return Response(
        body, status_code=202, headers={"Location": f"/v1/orders/{oid}"}, media_type=_JSON_TYPE
    )


_SUBMITTED_HEAD = b'{"order_id":"'
_SUBMITTED_MIDDLE = f'","outcome":"{SUBMITTED}","status":"{SUBMITTED}","digest":"'.encode()
_TAIL = b'","reasons":[]}'
_JSON_TYPE = "application/json"


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
