"""Dependencies: the hub, its capture service, the request's correlation id, and who is asking
(with what scopes).

They are coroutines: FastAPI runs a plain function dependency in its thread pool, a hop through
the pool's limiter and a worker thread for each of them on every request (about 7 % of the
embedded process's busy time under load, with the GIL shared with the delivery lanes). The one
that may read the store (an API key not in the cache) still goes to the pool; a key read of late
is checked on the loop.
"""

from collections.abc import Awaitable, Callable
from random import getrandbits
from typing import Annotated

from fastapi import Depends, Header, Request
from starlette.concurrency import run_in_threadpool

from hub.api.auth_throttle import Throttled, authenticate
from hub.api.problems import ProblemError, forbidden
from hub.bootstrap import Hub
from hub.services.access import NotAuthenticated, Principal
from hub.services.capture import CaptureService
from schemas.channels import Role
from schemas.problems import Problem

# The scope's key for the caller the front door authenticated (`hub.api.guard`): a `/v1/`
# request with a body. The same request's same headers: asking again would answer the same.
AUTHENTICATED = "orderhub.principal"


async def get_hub(request: Request) -> Hub:
    hub: Hub = request.app.state.hub
    return hub


async def get_capture(request: Request) -> CaptureService:
    capture: CaptureService = request.app.state.capture
    return capture


async def get_correlation_id(
    x_correlation_id: Annotated[str | None, Header(include_in_schema=False)] = None,
) -> str:
    """The caller's correlation id (X-Correlation-Id), else a new one: a random UUID, from the
    process's generator rather than the OS (`uuid4()` reads os.urandom: 2.7 % of the embedded
    process's busy samples under load); it tells requests apart, it guards nothing."""
    return x_correlation_id or random_uuid4()


def random_uuid4() -> str:
    """`str(UUID(int=getrandbits(128), version=4))` without the UUID object: its checks and
    its formatting were most of a capture's correlation id."""
    n = getrandbits(128) & _NOT_VERSION_VARIANT | _VERSION_4_VARIANT
    h = f"{n:032x}"
    return f"{h[:8]}-{h[8:12]}-{h[12:16]}-{h[16:20]}-{h[20:]}"


# The bits `UUID(..., version=4)` sets: version 4 (bits 76-79) and RFC 4122's variant (62-63).
_NOT_VERSION_VARIANT = ~((0xF000 << 64) | (0xC000 << 48))
_VERSION_4_VARIANT = (4 << 76) | (0x8000 << 48)


async def caller_of(request: Request, scope: str) -> tuple[Hub, str, Principal]:
    """What `HubDep`, `CorrelationDep` and `Depends(require(scope))` give a route, read by the
    route itself: for the capture route, the hottest one. FastAPI's solving of those
    dependencies (four header parameters validated one by one, five dependencies walked) was
    15 % of the embedded API process's busy samples under load, twice the route's own work.
    Same checks, same order, same answers; the route documents the headers (`CALLER_HEADERS`)."""
    headers = request.headers
    hub: Hub = request.app.state.hub
    correlation_id = await get_correlation_id(headers.get("x-correlation-id"))
    principal: Principal | None = request.scope.get(AUTHENTICATED)
    if principal is None:
        principal = await get_principal(
            request,
            hub,
            authorization=headers.get("authorization"),
            x_api_key=headers.get("x-api-key"),
            x_actor=headers.get("x-actor"),
        )
    return hub, correlation_id, _in_scope(principal, scope)


def _header_doc(name: str, title: str) -> dict[str, object]:
    schema = {"anyOf": [{"type": "string"}, {"type": "null"}], "title": title}
    return {"name": name, "in": "header", "required": False, "schema": schema}


# The headers `get_principal` reads, as FastAPI documents them for a route that depends on it.
CALLER_HEADERS = [
    _header_doc("authorization", "Authorization"),
    _header_doc("x-api-key", "X-Api-Key"),
    _header_doc("x-actor", "X-Actor"),
]


HubDep = Annotated[Hub, Depends(get_hub)]
CaptureDep = Annotated[CaptureService, Depends(get_capture)]
CorrelationDep = Annotated[str, Depends(get_correlation_id)]


async def get_principal(
    request: Request,
    hub: HubDep,
    authorization: Annotated[str | None, Header()] = None,
    x_api_key: Annotated[str | None, Header()] = None,
    x_actor: Annotated[str | None, Header()] = None,
) -> Principal:
    """The caller. Without a key, and only when auth is not required: a trial admin."""
    presented = x_api_key
    if authorization and authorization.lower().startswith("bearer "):
        presented = authorization[7:].strip()
    if presented:
        try:
            if hub.access.answers_from_memory(presented):  # no store read: no pool thread
                return authenticate(request, hub.access, presented)[0]
            return (await run_in_threadpool(authenticate, request, hub.access, presented))[0]
        except NotAuthenticated as refused:
            raise _unauthorized(str(refused)) from None
        except Throttled as held:
            raise too_many_failures(held) from None
    if hub.settings.auth_required:
        raise _unauthorized("send an API key: Authorization: Bearer <key> or X-API-Key")
    label = x_actor.split(":", 1)[-1] if x_actor else "trial"
    return Principal(role=Role.ADMIN, key_id="trial", label=label)


PrincipalDep = Annotated[Principal, Depends(get_principal)]


def require(scope: str) -> Callable[[Principal], Awaitable[Principal]]:
    async def check(principal: PrincipalDep) -> Principal:
        return _in_scope(principal, scope)

    return check


def _in_scope(principal: Principal, scope: str) -> Principal:
    if scope not in principal.scopes:
        raise forbidden(
            f"This credential may not {scope.replace(':', ' ')}",
            f"role {principal.role.value} lacks the scope {scope}",
        )
    return principal


async def get_actor(principal: PrincipalDep) -> str:
    return principal.actor


ActorDep = Annotated[str, Depends(get_actor)]


def too_many_failures(held: Throttled) -> ProblemError:
    return ProblemError(
        Problem(
            type="/problems/too-many-failed-authentications",
            title="Too many failed authentications",
            status=429,
            detail=f"Authentication from this client or for this key failed too often; "
            f"retry in {held.retry_after} s.",
        ),
        headers={"Retry-After": str(held.retry_after)},
    )


def _unauthorized(detail: str) -> ProblemError:
    return ProblemError(
        Problem(
            type="/problems/unauthorized", title="Not authenticated", status=401, detail=detail
        ),
        headers={"WWW-Authenticate": "Bearer"},
    )
