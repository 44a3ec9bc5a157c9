"""Who is using the console: the API key from a header (as the API reads it) or from the
HttpOnly cookie the login form sets; with auth off and no key, a trial admin."""

import asyncio
from collections.abc import Awaitable, Callable
from typing import Annotated

from fastapi import APIRouter, Depends, Request, Response
from fastapi.responses import HTMLResponse

from hub.api.console.web import (
    COOKIE,
    ConsoleRoute,
    LoginNeeded,
    PageError,
    hub_of,
    param,
    read_form,
    render,
    safe_back,
    see_other,
)
from hub.bootstrap import Hub
from hub.services.access import Principal
from schemas.channels import Role

router = APIRouter(route_class=ConsoleRoute)
HOME = "/console/exceptions"
SCOPE_WORDS = {
    "orders:read": "read orders",
    "orders:act": "act on orders",
    "stock:read": "read stock",
}


def presented_key(request: Request) -> str | None:
    authorization = request.headers.get("authorization")
    if authorization and authorization.lower().startswith("bearer "):
        return authorization[7:].strip() or None
    return request.headers.get("x-api-key") or request.cookies.get(COOKIE) or None


def identify(request: Request, hub: Hub) -> Principal:
    presented = presented_key(request)
    if presented:
        principal = hub.access.authenticate(presented)
        if principal is None:
            raise LoginNeeded(
                "Your API key is unknown, revoked or malformed: sign in again.",
                clear_cookie=COOKIE in request.cookies,
            )
        return principal
    if hub.settings.auth_required:
        raise LoginNeeded()
    return Principal(role=Role.ADMIN, key_id="trial", label="trial")


def need(scope: str) -> Callable[[Request], Awaitable[Principal]]:
    async def check(request: Request) -> Principal:
        principal = await asyncio.to_thread(identify, request, hub_of(request))
        request.state.principal = principal
        if principal.role in (Role.CHANNEL, Role.SOURCE):
            raise PageError(
                403,
                "The console is for operations staff",
                f"This key belongs to a {principal.role.value}; use the API instead.",
            )
        if scope not in principal.scopes:
            raise PageError(
                403,
                "You may not do this",
                f"Your role ({principal.role.value}) may not {SCOPE_WORDS.get(scope, scope)}. "
                "Nothing was changed.",
            )
        return principal

    return check


Reader = Annotated[Principal, Depends(need("orders:read"))]
Actor = Annotated[Principal, Depends(need("orders:act"))]
StockReader = Annotated[Principal, Depends(need("stock:read"))]


def may_act(principal: Principal) -> bool:
    return "orders:act" in principal.scopes


@router.get("/login")
async def login_form(request: Request) -> HTMLResponse:
    return render(
        request,
        "login.html",
        title="Sign in",
        next=safe_back(param(request, "next"), HOME),
    )


@router.post("/login")
async def login(request: Request) -> Response:
    form = await read_form(request)
    target = safe_back(form.get("next"), HOME)
    key = form.get("api_key", "").strip()
    hub = hub_of(request)
    principal = await asyncio.to_thread(hub.access.authenticate, key) if key else None
    problem = None
    if principal is None:
        problem = "This API key is unknown, revoked or malformed."
    elif "orders:read" not in principal.scopes or principal.role in (Role.CHANNEL, Role.SOURCE):
        problem = f"A {principal.role.value} key cannot use the console; use a staff key."
    if problem is not None:
        return render(
            request, "login.html", code=401, title="Sign in", next=target, login_error=problem
        )
    response = see_other(target)
    response.set_cookie(
        COOKIE,
        key,
        httponly=True,
        samesite="strict",
        secure=request.url.scheme == "https",
        path="/console",
    )
    return response


@router.post("/logout")
async def logout(request: Request) -> Response:
    await read_form(request)
    response = see_other("/console/login?done=Signed+out.")
    response.delete_cookie(COOKIE, path="/console")
    return response
