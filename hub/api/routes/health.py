"""Liveness and readiness."""

import asyncio

from fastapi import APIRouter, Request

from hub.api.deps import HubDep
from hub.embedded.routing_process import RoutingProcess
from hub.streaming.watchdog import ConsumerWatch

router = APIRouter(tags=["health"])


@router.get("/healthz")
async def healthz(hub: HubDep, request: Request) -> dict[str, object]:
    """The mode, how far the event store has got, and (distributed) whether the workers'
    consumer groups keep up: `degraded` when one has records waiting and has not committed
    for ORDERHUB_STALL_SECONDS; embedded, the routing process (`degraded` while it starts, or
    starts again after it died or was killed as hung: `hangs`; `silent_seconds` since its last
    sign of life). Fails if the store cannot be read."""
    position = await asyncio.to_thread(hub.store.max_position)
    body: dict[str, object] = {
        "status": "ok",
        "mode": "distributed" if hub.distributed else "embedded",
        "event_store_position": position,
    }
    routing = None if hub.delivery is None else hub.delivery.work
    if isinstance(routing, RoutingProcess) and routing.running:
        body["routing_process"] = routing.health()
        if not routing.ready.is_set():  # starting, or started again after it died or hung
            body["status"] = "degraded"
    watch: ConsumerWatch | None = getattr(request.app.state, "consumer_watch", None)
    if watch is not None:
        groups = watch.health()
        body["consumers"] = [h.as_dict() for h in groups]
        if any(h.stalled for h in groups):
            body["status"] = "degraded"
    return body
