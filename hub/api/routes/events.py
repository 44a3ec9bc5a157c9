"""One published event, whole: where a claim check's `ce_dataref` points (connectors.claim_check).

The relay publishes an event over the topics' record limit as its headers and this reference;
a consumer outside the hub reads the event here, as a CloudEvent in structured mode.
"""

import asyncio
from typing import Annotated

import orjson
from fastapi import APIRouter, Depends, Path
from fastapi.responses import Response

from hub.api.deps import HubDep, require
from hub.api.problems import forbidden, not_found
from hub.services.access import Principal
from schemas.channels import Role
from schemas.event_types import UNPUBLISHED

router = APIRouter(prefix="/v1/events", tags=["events"])

CLOUDEVENT_JSON = "application/cloudevents+json"


@router.get(
    "/{subject}/{sequence}",
    response_class=Response,
    responses={
        200: {
            "description": "The event as a CloudEvent in structured mode",
            "content": {CLOUDEVENT_JSON: {}},
        },
        403: {"description": "A channel's credential (it reads its own orders only)"},
        404: {"description": "No published event has this subject and sequence"},
        422: {"description": "The sequence is not a whole number from 1"},
    },
)
async def published_event(
    hub: HubDep,
    principal: Annotated[Principal, Depends(require("orders:read"))],
    subject: str,
    sequence: Annotated[int, Path(ge=1, le=2**63 - 1)],
) -> Response:
    """The event `subject` #`sequence` as the relay publishes it (`ce_subject`,
    `ce_sequence`): the records on the hub's topics carry every channel's events, so this is
    for the roles that see them all, not for a channel."""
    if principal.role is Role.CHANNEL:
        raise forbidden("A channel's credential reads its own orders, not the hub's events")
    envelope = await asyncio.to_thread(hub.store.event_at, subject, sequence)
    if envelope is None or envelope.type.startswith(UNPUBLISHED):
        raise not_found(f"event {subject} #{sequence}")
    body = orjson.dumps(envelope.model_dump(mode="json"), option=orjson.OPT_SORT_KEYS)
    return Response(body, media_type=CLOUDEVENT_JSON)
