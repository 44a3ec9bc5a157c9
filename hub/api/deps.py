"""Dependencies: the hub, its gateway, and who is asking (with what scopes)."""

from collections.abc import Callable
from typing import Annotated

from fastapi import Depends, Header, Request

from hub.api.problems import ProblemError
from hub.bootstrap import Hub
from hub.services.access import Principal
from hub.submissions import SubmissionGateway
from schemas.channels import Role
from schemas.problems import Problem


def get_hub(request: Request) -> Hub:
    hub: Hub = request.app.state.hub
    return hub


def get_gateway(request: Request) -> SubmissionGateway | None:
    gateway: SubmissionGateway | None = request.app.state.gateway
    return gateway


HubDep = Annotated[Hub, Depends(get_hub)]
GatewayDep = Annotated[SubmissionGateway | None, Depends(get_gateway)]


def get_principal(
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
        principal = hub.access.authenticate(presented)
        if principal is None:
            raise _unauthorized("the API key is unknown, revoked or malformed")
        return principal
    if hub.settings.auth_required:
        raise _unauthorized("send an API key: Authorization: Bearer <key> or X-API-Key")
    label = x_actor.split(":", 1)[-1] if x_actor else "trial"
    return Principal(role=Role.ADMIN, key_id="trial", label=label)


PrincipalDep = Annotated[Principal, Depends(get_principal)]


def require(scope: str) -> Callable[[Principal], Principal]:
    def check(principal: PrincipalDep) -> Principal:
        if scope not in principal.scopes:
            raise ProblemError(
                Problem(
                    type="/problems/forbidden",
                    title=f"This credential may not {scope.replace(':', ' ')}",
                    status=403,
                    detail=f"role {principal.role.value} lacks the scope {scope}",
                )
            )
        return principal

    return check


def get_actor(principal: PrincipalDep) -> str:
    return principal.actor


ActorDep = Annotated[str, Depends(get_actor)]


def _unauthorized(detail: str) -> ProblemError:
    return ProblemError(
        Problem(
            type="/problems/unauthorized", title="Not authenticated", status=401, detail=detail
        ),
        headers={"WWW-Authenticate": "Bearer"},
    )
