"""Channels and their credentials (admin)."""

import asyncio

from fastapi import APIRouter, Depends, Request, Response

from connectors.topics import ensure_topics
from hub.api.deps import ActorDep, HubDep, require
from hub.api.params import ChannelIdPath
from hub.api.problems import ProblemError
from hub.services.access import KeyExpiryError
from schemas.channels import ChannelDefinition, IssueKey, KeyIssued, KeyRotated, RotateKey
from schemas.problems import FieldProblem, Problem

router = APIRouter(tags=["channels"])


@router.put(
    "/v1/channels/{channel_id}",
    dependencies=[Depends(require("channels:write"))],
    response_model=ChannelDefinition,
)
async def put_channel(
    channel_id: ChannelIdPath,
    definition: ChannelDefinition,
    hub: HubDep,
    actor: ActorDep,
    request: Request,
    response: Response,
) -> ChannelDefinition:
    """Register a channel (201) or redefine it (200). Distributed: its topic is created."""
    if definition.channel_id != channel_id:
        raise ProblemError(
            Problem(
                title="The body's channel_id differs from the path",
                status=422,
                errors=[
                    FieldProblem(
                        field="channel_id", message=f"must be {channel_id!r}", code="value"
                    )
                ],
            )
        )
    created = await asyncio.to_thread(hub.access.register_channel, definition, actor)
    request.app.state.rate_limiter.forget_limit(channel_id)  # its new limit, from now on
    settings = hub.settings
    if settings.kafka_bootstrap is not None:
        await ensure_topics(
            settings.kafka_bootstrap,
            {settings.channel_topic(channel_id): settings.topic_partitions},
            settings.topic_replication,
        )
    response.status_code = 201 if created else 200
    return definition


@router.get(
    "/v1/channels",
    dependencies=[Depends(require("channels:read"))],
    response_model=list[ChannelDefinition],
)
async def list_channels(hub: HubDep) -> list[ChannelDefinition]:
    return await asyncio.to_thread(hub.access.channels)


@router.get(
    "/v1/channels/{channel_id}",
    dependencies=[Depends(require("channels:read"))],
    response_model=ChannelDefinition,
)
async def get_channel(channel_id: ChannelIdPath, hub: HubDep) -> ChannelDefinition:
    return await asyncio.to_thread(hub.access.channel, channel_id)


@router.post(
    "/v1/keys",
    status_code=201,
    dependencies=[Depends(require("channels:write"))],
    response_model=KeyIssued,
)
async def issue_key(body: IssueKey, hub: HubDep, actor: ActorDep) -> KeyIssued:
    """Issue an API key; the secret is in this answer only (the hub keeps its hash). With
    `expires_at` (time zone required, in the future) it stops working then."""
    try:
        return await asyncio.to_thread(hub.access.issue_key, body, actor)
    except KeyExpiryError as error:
        raise ProblemError(
            Problem(
                title="The key would never work",
                status=422,
                errors=[FieldProblem(field="expires_at", message=str(error), code="value")],
            )
        ) from None


@router.post(
    "/v1/keys/{key_id}/rotate",
    dependencies=[Depends(require("channels:write"))],
    response_model=KeyRotated,
)
async def rotate_key(
    key_id: str, hub: HubDep, actor: ActorDep, body: RotateKey | None = None
) -> KeyRotated:
    """A new secret for the same key id, role, channel or source and expiry, shown in this
    answer only. The previous secret stops now, or after `grace_seconds` (at most a week)."""
    grace = body.grace_seconds if body is not None else 0
    return await asyncio.to_thread(hub.access.rotate_key, key_id, grace, actor)


@router.delete(
    "/v1/keys/{key_id}", status_code=204, dependencies=[Depends(require("channels:write"))]
)
async def revoke_key(key_id: str, hub: HubDep, actor: ActorDep) -> Response:
    """Revoke a key and end its console sessions; `bootstrap` revokes ORDERHUB_ADMIN_API_KEY
    (for good: only a different value set by the operator works again)."""
    await asyncio.to_thread(hub.access.revoke_key, key_id, actor)
    return Response(status_code=204)
