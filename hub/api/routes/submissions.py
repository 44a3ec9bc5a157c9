"""Rejected submissions: what could not become an order, why, and the payload as it came."""

import asyncio
from typing import Annotated, Any

from fastapi import APIRouter, Depends, Query

from hub.api.deps import HubDep, require
from hub.services.access import Principal
from schemas.channels import Role
from schemas.types import PlausibleTime

router = APIRouter(prefix="/v1/submissions", tags=["submissions"])


@router.get("/rejected")
async def rejected_submissions(
    hub: HubDep,
    principal: Annotated[Principal, Depends(require("submissions:read"))],
    channel: str | None = None,
    since: PlausibleTime | None = None,
    until: PlausibleTime | None = None,
    limit: int = Query(default=100, ge=1, le=1000),
) -> list[dict[str, Any]]:
    """Newest first; filter by channel and by time recorded (since inclusive, until exclusive)."""
    if principal.role is Role.CHANNEL:
        channel = principal.channel_id  # a channel sees its own rejections only
    rows = await asyncio.to_thread(hub.rejected.search, channel, since, until, limit)
    return [row.__dict__ for row in rows]
