"""Capture in each channel's native format: web-shop webhooks, marketplace feeds, POS and
call-center entry, EDI X12 850, CSV bulk uploads (and canonical JSON)."""

from typing import Annotated, Any

from fastapi import APIRouter, Depends, Request
from fastapi.responses import JSONResponse

from connectors.channels import UnparseablePayload
from hub.api.body import read_limited
from hub.api.deps import CaptureDep, CorrelationDep, HubDep, require
from hub.api.guard import JSON_TYPES, NATIVE_TYPES
from hub.api.problems import ProblemError, channel_mismatch
from hub.api.ratelimit import charge_rate, check_rate
from hub.services.access import Principal
from hub.services.capture import (
    Captured,
    ChannelMismatch,
    Item,
    NoChannelNamed,
    WrongFormat,
)
from hub.services.intake import RejectSubmission
from schemas.problems import FieldProblem, Problem

router = APIRouter(prefix="/v1/intake", tags=["intake"])


@router.post(
    "/{format}",
    status_code=202,
    responses={
        200: {"description": "Per-item results: some orders were not taken"},
        202: {"description": "Every order was taken"},
    },
    openapi_extra={
        "requestBody": {
            "required": True,
            "content": {
                media_type: {"schema": {} if media_type in JSON_TYPES else {"type": "string"}}
                for media_type in NATIVE_TYPES
            },
        }
    },
)
async def submit_native(
    format: str,
    request: Request,
    hub: HubDep,
    capture: CaptureDep,
    correlation_id: CorrelationDep,
    principal: Annotated[Principal, Depends(require("orders:submit"))],
    channel: str | None = None,
) -> JSONResponse:
    """Submit orders in a channel's own format; one payload may carry many orders.

    202 when every order was taken, 200 with per-item results otherwise; a payload with one
    order that is refused answers 422 like the canonical endpoint.
    """
    try:
        definition = await capture.channel_for(principal, channel, format)
    except NoChannelNamed as error:
        raise _problem(422, str(error), "channel") from None
    except ChannelMismatch as mismatch:
        raise channel_mismatch(mismatch) from None
    except WrongFormat as error:
        raise _problem(415, str(error), "format") from None
    # Its orders go where the canonical route's go: shed the same way (hub.api.admission).
    request.app.state.admission.check("intake")
    await check_rate(request, hub, principal)
    # CSV bulk uploads may be larger than any other body.
    bulk = format == "csv"
    limit = hub.settings.max_bulk_body_bytes if bulk else hub.settings.max_body_bytes
    raw = await read_limited(request, limit)
    try:
        items = await capture.capture_native(definition, raw, principal, correlation_id)
    except UnparseablePayload as error:
        raise ProblemError(
            Problem(
                type="/problems/malformed-body",
                title=f"The body is not {format}",
                status=400,
                detail=str(error),
            )
        ) from None
    await charge_rate(request, hub, principal, len(items))
    if len(items) == 1 and isinstance(items[0], RejectSubmission):
        raise ProblemError(
            Problem(
                type="/problems/invalid-submission",
                title="The submission is not valid",
                status=422,
                errors=[FieldProblem.model_validate(p) for p in items[0].problems],
            )
        )
    results = [_result(index, item) for index, item in enumerate(items)]
    status = 202 if all(isinstance(i, Captured) and i.taken for i in items) else 200
    return JSONResponse({"channel": definition.channel_id, "results": results}, status_code=status)


def _result(index: int, item: Item) -> dict[str, Any]:
    if isinstance(item, RejectSubmission):
        return {
            "index": index,
            "external_id": item.external_id,
            "outcome": "rejected",
            "problems": item.problems,
        }
    return {
        "index": index,
        "external_id": item.command.submission.external_id,
        "order_id": str(item.command.order_id),
        "outcome": item.outcome,
        "status": item.status,
    }


def _problem(status: int, title: str, field: str) -> ProblemError:
    return ProblemError(
        Problem(
            title=title,
            status=status,
            errors=[FieldProblem(field=field, message=title, code="value")],
        )
    )
