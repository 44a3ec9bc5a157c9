"""Liveness and readiness."""

import asyncio

from fastapi import APIRouter, Request, Response
from prometheus_client import CONTENT_TYPE_LATEST, generate_latest

from hub.api.admission import Admission
from hub.api.deps import HubDep
from hub.bootstrap import Hub
from hub.embedded.routing_process import RoutingProcess
from hub.streaming.watchdog import ConsumerWatch

router = APIRouter(tags=["health"])


@router.get("/healthz")
async def healthz(hub: HubDep, request: Request) -> dict[str, object]:
    """The mode, how far the event store has got, and (distributed) whether the workers'
    consumer groups keep up: `degraded` when one has records waiting and has not committed
    for ORDERHUB_STALL_SECONDS; embedded, the routing process (`degraded` while it starts, or
    starts again after it died or was killed as hung: `hangs`; `silent_seconds` since its last
    sign of life; `views_process` likewise for the read models' process); `admission`:
    whether capture sheds (429) because routing is too far behind, and how far
    (hub.api.admission). Fails if the store cannot be read."""
    position = await asyncio.to_thread(hub.store.max_position)
    body: dict[str, object] = {
        "status": "ok",
        "mode": "distributed" if hub.distributed else "embedded",
        "event_store_position": position,
    }
    _lane_processes(hub, body)
    watch: ConsumerWatch | None = getattr(request.app.state, "consumer_watch", None)
    if watch is not None:
        groups = watch.health()
        body["consumers"] = [h.as_dict() for h in groups]
        if any(h.stalled for h in groups):
            body["status"] = "degraded"
    admission: Admission | None = getattr(request.app.state, "admission", None)
    if admission is not None and admission.enabled:
        body["admission"] = admission.verdict.as_dict()
    return body


def _lane_processes(hub: Hub, body: dict[str, object]) -> None:
    """Embedded: the routing and views processes, each `degraded` while it starts, or starts
    again after it died or hung."""
    d = hub.delivery
    lanes = [] if d is None else [("routing_process", d.work), ("views_process", d.views)]
    for name, lane in lanes:
        if isinstance(lane, RoutingProcess) and lane.running:
            body[name] = lane.health()
            if not lane.ready.is_set():
                body["status"] = "degraded"


@router.get("/metrics", include_in_schema=False)
async def metrics() -> Response:
    """Prometheus counters of this API process (e.g. `orderhub_admission_shed_total`)."""
    return Response(generate_latest(), media_type=CONTENT_TYPE_LATEST)
