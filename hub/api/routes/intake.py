"""Capture in each channel's native format: web-shop webhooks, marketplace feeds, POS and
call-center entry, EDI X12 850, CSV bulk uploads (and canonical JSON)."""

import asyncio
from typing import Annotated, Any
from uuid import uuid4

from fastapi import APIRouter, Depends, Request
from fastapi.responses import JSONResponse

from connectors.channels import UnparseablePayload
from hub.api.body import read_limited
from hub.api.capture import (
    CORRELATION_HEADER,
    charge_rate,
    check_may_submit_for,
    check_rate,
    record,
)
from hub.api.deps import GatewayDep, HubDep, require
from hub.api.guard import JSON_TYPES, NATIVE_TYPES
from hub.api.problems import ProblemError
from hub.services.access import Principal
from hub.services.channel_intake import translate
from hub.services.intake import Outcome, RejectSubmission, SubmitOrder
from schemas.channels import FORMATS, Role
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
    gateway: GatewayDep,
    principal: Annotated[Principal, Depends(require("orders:submit"))],
    channel: str | None = None,
) -> JSONResponse:
    """Submit orders in a channel's own format; one payload may carry many orders.

    202 when every order was taken, 200 with per-item results otherwise; a payload with one
    order that is refused answers 422 like the canonical endpoint.
    """
    channel_id = channel if channel is not None else principal.channel_id
    if channel_id is None:
        raise _problem(422, "Say which channel this is for: ?channel=<id>", "channel")
    check_may_submit_for(principal, channel_id)
    definition = await asyncio.to_thread(hub.access.channel, channel_id)
    if format not in FORMATS or definition.format != format:
        raise _problem(
            415,
            f"Channel {channel_id} sends {definition.format}, not {format}",
            "format",
        )
    await check_rate(request, hub, principal)
    # CSV bulk uploads may be larger than any other body.
    bulk = format == "csv"
    limit = hub.settings.max_bulk_body_bytes if bulk else hub.settings.max_body_bytes
    raw = await read_limited(request, limit)
    correlation = request.headers.get(CORRELATION_HEADER) or str(uuid4())
    operator = principal.label if principal.role is not Role.CHANNEL else None
    try:
        translated = translate(definition, raw, correlation, hub.clock(), operator)
    except UnparseablePayload as error:
        raise ProblemError(
            Problem(
                type="/problems/malformed-body",
                title=f"The body is not {format}",
                status=400,
                detail=str(error),
            )
        ) from None
    commands = [i for i in translated.items if isinstance(i, SubmitOrder)]
    rejections = [i for i in translated.items if isinstance(i, RejectSubmission)]
    await charge_rate(request, hub, principal, len(translated.items))
    results = await record(hub, gateway, commands, rejections)
    by_command = dict(zip((id(c) for c in commands), results, strict=True))

    items: list[dict[str, Any]] = []
    for index, item in enumerate(translated.items):
        if isinstance(item, RejectSubmission):
            items.append(
                {
                    "index": index,
                    "external_id": item.external_id,
                    "outcome": "rejected",
                    "problems": item.problems,
                }
            )
            continue
        result = by_command[id(item)]
        items.append(
            {
                "index": index,
                "external_id": item.submission.external_id,
                "order_id": str(item.order_id),
                "outcome": "submitted" if result is None else result.outcome.value,
                "status": "submitted" if result is None else result.status,
            }
        )
    if len(items) == 1 and items[0]["outcome"] == "rejected":
        raise ProblemError(
            Problem(
                type="/problems/invalid-submission",
                title="The submission is not valid",
                status=422,
                errors=[FieldProblem.model_validate(p) for p in items[0]["problems"]],
            )
        )
    taken = {"submitted", Outcome.CREATED.value}
    status = 202 if all(i["outcome"] in taken for i in items) else 200
    return JSONResponse({"channel": channel_id, "results": items}, status_code=status)


def _problem(status: int, title: str, field: str) -> ProblemError:
    return ProblemError(
        Problem(
            title=title,
            status=status,
            errors=[FieldProblem(field=field, message=title, code="value")],
        )
    )
