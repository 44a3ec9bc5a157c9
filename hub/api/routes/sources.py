"""Fulfillment sources: register or redefine, pause, resume, read."""

import asyncio

from fastapi import APIRouter, Depends, Response

from hub.api import settling
from hub.api.deps import ActorDep, HubDep, require
from hub.api.params import SourceIdPath
from hub.api.problems import ProblemError, not_found
from schemas.problems import FieldProblem, Problem
from schemas.sources import PauseSource, SourceDefinition, SourcePublic

router = APIRouter(prefix="/v1/sources", tags=["sources"])


@router.put(
    "/{source_id}",
    dependencies=[Depends(require("sources:write"))],
    response_model=SourcePublic,
    status_code=200,
)
async def put_source(
    source_id: SourceIdPath,
    definition: SourceDefinition,
    hub: HubDep,
    actor: ActorDep,
    response: Response,
) -> SourcePublic:
    """Register a source (201) or redefine it (200); the path and body ids must agree."""
    if definition.source_id != source_id:
        raise ProblemError(
            Problem(
                title="The body's source_id differs from the path",
                status=422,
                errors=[
                    FieldProblem(field="source_id", message=f"must be {source_id!r}", code="value")
                ],
            )
        )
    created, _ = await asyncio.to_thread(hub.catalog.register_source, definition, actor)
    await settling.delivered(hub)
    response.status_code = 201 if created else 200
    return await get_source(source_id, hub)


@router.get("", dependencies=[Depends(require("sources:read"))], response_model=list[SourcePublic])
async def list_sources(hub: HubDep) -> list[SourcePublic]:
    sources = await asyncio.to_thread(hub.catalog.list_sources)
    return [
        SourcePublic(
            definition=SourceDefinition.model_validate(s.definition),
            active=s.active,
            pause_reason=s.pause_reason,
            version=s.version,
        )
        for s in sources
    ]


@router.get(
    "/{source_id}", dependencies=[Depends(require("sources:read"))], response_model=SourcePublic
)
async def get_source(source_id: SourceIdPath, hub: HubDep) -> SourcePublic:
    source = await asyncio.to_thread(hub.catalog.find_source, source_id)
    if source is None:
        raise not_found(f"source {source_id!r}")
    return SourcePublic(
        definition=SourceDefinition.model_validate(source.definition),
        active=source.active,
        pause_reason=source.pause_reason,
        version=source.version,
    )


@router.post(
    "/{source_id}/pause",
    dependencies=[Depends(require("sources:write"))],
    response_model=SourcePublic,
)
async def pause_source(
    source_id: SourceIdPath, body: PauseSource, hub: HubDep, actor: ActorDep
) -> SourcePublic:
    """A paused source is not chosen by orchestration until it is resumed."""
    await asyncio.to_thread(hub.catalog.pause_source, source_id, body.reason, actor)
    await settling.delivered(hub)
    return await get_source(source_id, hub)


@router.post(
    "/{source_id}/resume",
    dependencies=[Depends(require("sources:write"))],
    response_model=SourcePublic,
)
async def resume_source(source_id: SourceIdPath, hub: HubDep, actor: ActorDep) -> SourcePublic:
    await asyncio.to_thread(hub.catalog.resume_source, source_id, actor)
    await settling.delivered(hub)
    return await get_source(source_id, hub)
