"""Orchestration policies: validate, publish (a new version), roll back, read."""

import asyncio
from typing import Any

from fastapi import APIRouter, Depends, Request
from fastapi.responses import JSONResponse, PlainTextResponse
from pydantic import BaseModel

from hub.api.body import read_limited
from hub.api.deps import ActorDep, HubDep, require
from hub.api.guard import YAML_TYPES
from hub.api.params import PolicyIdPath, VersionPath
from hub.api.problems import ProblemError, not_found
from orchestration_policies import PolicyError
from schemas.problems import FieldProblem, Problem

router = APIRouter(prefix="/v1/policies", tags=["policies"])
YAML_BODY = {
    "requestBody": {
        "required": True,
        "content": {media_type: {"schema": {"type": "string"}} for media_type in YAML_TYPES},
    }
}


class RollBack(BaseModel):
    version: int


@router.post("/validate", dependencies=[Depends(require("policies:read"))], openapi_extra=YAML_BODY)
async def validate_policy(request: Request, hub: HubDep) -> dict[str, Any]:
    """Check a policy document (YAML) without publishing it."""
    text = await _document(request, hub)
    policy = await asyncio.to_thread(_checked, hub.policies.validate, text)
    return {"valid": True, "id": policy.id, "name": policy.name}


@router.post(
    "", dependencies=[Depends(require("policies:write"))], status_code=201, openapi_extra=YAML_BODY
)
async def publish_policy(request: Request, hub: HubDep, actor: ActorDep) -> JSONResponse:
    """Publish a policy document as the next version of its id; it becomes active."""
    text = await _document(request, hub)
    policy_id, version = await asyncio.to_thread(_checked, hub.policies.publish, text, actor)
    return JSONResponse(
        {"policy_id": policy_id, "version": version},
        status_code=201,
        headers={"Location": f"/v1/policies/{policy_id}/versions/{version}"},
    )


@router.get("", dependencies=[Depends(require("policies:read"))])
async def list_policies(hub: HubDep) -> list[dict[str, Any]]:
    summaries = await asyncio.to_thread(hub.policies.summaries)
    return [s.__dict__ for s in summaries]


@router.get(
    "/{policy_id}/versions/{version}",
    dependencies=[Depends(require("policies:read"))],
    response_class=PlainTextResponse,
)
async def policy_version(policy_id: PolicyIdPath, version: VersionPath, hub: HubDep) -> str:
    found = await asyncio.to_thread(hub.policies.document, policy_id, version)
    if found is None:
        raise not_found(f"policy {policy_id!r} version {version}")
    return found[1]


@router.post("/{policy_id}/rollback", dependencies=[Depends(require("policies:write"))])
async def roll_back(
    policy_id: PolicyIdPath, body: RollBack, hub: HubDep, actor: ActorDep
) -> dict[str, Any]:
    """Make an earlier version active again (recorded as an event with the actor)."""
    version = await asyncio.to_thread(
        _checked, hub.policies.roll_back, policy_id, body.version, actor
    )
    return {"policy_id": policy_id, "active_version": version}


async def _document(request: Request, hub: HubDep) -> str:
    raw = await read_limited(request, hub.settings.max_body_bytes)
    try:
        return raw.decode("utf-8")
    except UnicodeDecodeError:
        raise ProblemError(Problem(title="The policy is not UTF-8 text", status=400)) from None


def _checked(call: Any, *args: Any) -> Any:
    try:
        return call(*args)
    except PolicyError as error:
        raise ProblemError(
            Problem(
                type="/problems/invalid-policy",
                title="The policy is not valid; the active version stays active",
                status=422,
                errors=[
                    FieldProblem(
                        field=p.path or "(document)",
                        message=p.message,
                        code="policy",
                    )
                    for p in error.problems
                ],
            )
        ) from None
