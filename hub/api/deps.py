"""Dependencies: the hub and its gateway come from app.state, set by the app factory."""

from typing import Annotated

from fastapi import Depends, Request

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
