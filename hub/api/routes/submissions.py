"""Rejected submissions: what could not become an order, why, and the payload as it came."""

import asyncio
from typing import Any

from fastapi import APIRouter, Query

from hub.api.deps import HubDep
from schemas.types import UtcDatetime

router = APIRouter(prefix="/v1/submissions", tags=["submissions"])


@router.get("/rejected")
async def rejected_submissions(
    hub: HubDep,
    channel: str | None = None,
    since: UtcDatetime | None = None,
    until: UtcDatetime | None = None,
    limit: int = Query(default=100, ge=1, le=1000),
) -> list[dict[str, Any]]:
    """Newest first; filter by channel and by time recorded (since inclusive, until exclusive)."""
    rows = await asyncio.to_thread(hub.rejected.search, channel, since, until, limit)
    return [row.__dict__ for row in rows]
