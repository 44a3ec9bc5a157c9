"""Liveness and readiness."""

import asyncio

from fastapi import APIRouter

from hub.api.deps import HubDep

router = APIRouter(tags=["health"])


@router.get("/healthz")
async def healthz(hub: HubDep) -> dict[str, object]:
    """The mode and how far the event store has got; fails if the store cannot be read."""
    position = await asyncio.to_thread(hub.store.max_position)
    return {
        "status": "ok",
        "mode": "distributed" if hub.distributed else "embedded",
        "event_store_position": position,
    }
