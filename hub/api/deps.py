"""Dependencies: the hub and its gateway come from app.state, set by the app factory."""

from typing import Annotated

from fastapi import Depends, Header, Request

from hub.bootstrap import Hub
from hub.submissions import SubmissionGateway


def get_hub(request: Request) -> Hub:
    hub: Hub = request.app.state.hub
    return hub


def get_gateway(request: Request) -> SubmissionGateway | None:
    gateway: SubmissionGateway | None = request.app.state.gateway
    return gateway


HubDep = Annotated[Hub, Depends(get_hub)]
GatewayDep = Annotated[SubmissionGateway | None, Depends(get_gateway)]


def get_actor(x_actor: Annotated[str | None, Header()] = None) -> str:
    """Who acts: `user:<name>` for people, until channel and staff credentials arrive."""
    if not x_actor:
        return "user:api"
    return x_actor if ":" in x_actor else f"user:{x_actor}"


ActorDep = Annotated[str, Depends(get_actor)]
