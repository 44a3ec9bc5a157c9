"""Re-running recorded routing decisions (auditors, admins): reads only, writes nothing."""

import asyncio
from typing import Annotated, Any
from uuid import UUID

import orjson
from fastapi import APIRouter, Path, Request
from fastapi.responses import JSONResponse, Response

from hub.api.deps import CALLER_HEADERS, caller_of
from hub.api.problems import ProblemError, not_found
from hub.collector import collector_paused
from hub.services.access import Principal
from hub.services.policies import PolicyService
from hub.services.rerun import Rerun, RerunError, RerunService
from hub.store import OrderStore
from schemas.api import RerunPublic
from schemas.problems import Problem

router = APIRouter(prefix="/v1/orders", tags=["decisions"])

# Far above any order's count of decisions; bounds what a path may ask for.
MAX_N = 1_000_000


@router.post(
    "/{order_id}/decisions/{n}/rerun",
    response_model=RerunPublic,
    openapi_extra={"parameters": CALLER_HEADERS},
    responses={
        403: {"description": "The role may not re-run decisions (admin and auditor may)"},
        404: {"description": "Unknown order, or the order has no decision n"},
        409: {
            "description": "The decision cannot be re-run: its inputs were not recorded "
            "(decided before they were kept), cannot be read back, or its policy version is "
            "unknown here; `reason` says which"
        },
        422: {"description": "n is not a whole number from 1"},
    },
)
async def rerun_decision(
    request: Request,
    order_id: UUID,
    n: Annotated[int, Path(ge=1, le=MAX_N, description="Which decision (1-based)")],
) -> Response:
    """decide() again on the decision's recorded inputs with the policy version that made it:
    `identical: true` with both digests, or the differences field by field."""
    # The caller read here, as the capture route reads it (`caller_of`): FastAPI's solving of
    # the same dependencies was a fifth of the event loop's CPU per re-run.
    hub, _, principal = await caller_of(request, "decisions:rerun")
    result = await asyncio.to_thread(_rerun, hub.store, hub.policies, order_id, n, principal)
    return answer(result.to_dict())


def answer(body: dict[str, Any]) -> Response:
    """`RerunPublic`'s JSON, written by orjson from the values `Rerun.to_dict` made (plain JSON
    values of the model's types): FastAPI validated them into the model and then validated and
    serialised the model again, a tenth of the server's CPU per re-run. What orjson refuses
    (an integer beyond 64 bits among the differences ...) goes the model's way."""
    try:
        return Response(orjson.dumps(body), media_type="application/json")
    except orjson.JSONEncodeError:
        return JSONResponse(RerunPublic.model_validate(body).model_dump(mode="json"))


def _rerun(
    store: OrderStore, policies: PolicyService, order_id: UUID, n: int, principal: Principal
) -> Rerun:
    with collector_paused():  # the order's records read are as short-lived as the re-run's
        return _rerun_paused(store, policies, order_id, n, principal)


def _rerun_paused(
    store: OrderStore, policies: PolicyService, order_id: UUID, n: int, principal: Principal
) -> Rerun:
    service = RerunService(store, policies)
    # Only the decision re-run matters here: whether its inputs are recorded, it tells.
    found = service.decisions(order_id, inputs_recorded=False)
    if found is None or not principal.may_see_channel(found[0]):
        raise not_found(f"order {order_id}")
    decisions = found[1]
    if n > len(decisions):
        raise not_found(f"decision {n} of order {order_id} (it has {len(decisions)})")
    try:
        return service.rerun(decisions[n - 1], order_id)
    except RerunError as error:
        raise ProblemError(
            Problem(
                type=f"/problems/{error.reason.value.replace('_', '-')}",
                title="This decision cannot be re-run",
                status=409,
                detail=error.detail,
                extra={"reason": error.reason.value, "order_id": str(order_id), "n": n},
            )
        ) from error
