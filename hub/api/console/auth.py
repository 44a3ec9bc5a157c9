"""Who is using the console: the API key from a header (as the API reads it), or the session
whose random id the login form put in an HttpOnly cookie (the server keeps the session: signing
out or revoking the key ends it); with auth off and no key, a trial admin. Failed keys and
sign-ins count towards the failed-authentication throttle."""

import asyncio
from collections.abc import Awaitable, Callable
from typing import Annotated

from fastapi import APIRouter, Depends, Request, Response
from fastapi.responses import HTMLResponse

from hub.api.auth_throttle import Throttled, authenticate
from hub.api.console.web import (
    COOKIE,
    ConsoleRoute,
    LoginNeeded,
    PageError,
    hub_of,
    over_https,
    param,
    read_form,
    render,
    safe_back,
    see_other,
)
from hub.bootstrap import Hub
from hub.services.access import NotAuthenticated, Principal
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
    return request.headers.get("x-api-key") or None


def identify(request: Request, hub: Hub) -> Principal:
    """A key in a header (as the API reads it, for tools), else the session in the cookie."""
    presented = presented_key(request)
    if presented:
        try:
            return authenticate(request, hub.access, presented)[0]
        except NotAuthenticated as refused:
            raise LoginNeeded(f"Your API key does not work: {refused}.") from None
        except Throttled as held:
            wait = f"Try again in {held.retry_after} s."
            raise PageError(429, "Too many failed sign-ins", wait) from None
    token = request.cookies.get(COOKIE)
    if token:
        return session_principal(hub, token)
    if hub.settings.auth_required:
        raise LoginNeeded()
    return Principal(role=Role.ADMIN, key_id="trial", label="trial")


def session_principal(hub: Hub, token: str) -> Principal:
    """Who the session acts for, while the session and the key's secret it began with both
    still work (a revoked, expired or rotated-out key ends its sessions)."""
    session = hub.sessions.resolve(token)
    if session is None:
        raise LoginNeeded("Your session has ended: sign in again.", clear_cookie=True)
    try:
        return hub.access.check_credential(session.key_id, session.credential)
    except NotAuthenticated as refused:
        hub.sessions.close(token)
        raise LoginNeeded(
            f"Your session has ended: {refused}. Sign in again.", clear_cookie=True
        ) from None


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
    problem = None
    try:
        principal, credential = await asyncio.to_thread(authenticate, request, hub.access, key)
    except NotAuthenticated:
        problem = "This API key is unknown, revoked, expired or malformed."
    except Throttled as held:
        page = render(
            request,
            "login.html",
            code=429,
            title="Sign in",
            next=target,
            login_error=f"Too many failed sign-ins: try again in {held.retry_after} s.",
        )
        page.headers["Retry-After"] = str(held.retry_after)
        return page
    else:
        if "orders:read" not in principal.scopes or principal.role in (Role.CHANNEL, Role.SOURCE):
            problem = f"A {principal.role.value} key cannot use the console; use a staff key."
    if problem is not None:
        return render(
            request, "login.html", code=401, title="Sign in", next=target, login_error=problem
        )
    previous = request.cookies.get(COOKIE)
    if previous:  # a new sign-in replaces the browser's session, never adds to it
        await asyncio.to_thread(hub.sessions.close, previous)
    token = await asyncio.to_thread(hub.sessions.open, principal.key_id, credential)
    response = see_other(target)
    response.set_cookie(
        COOKIE,
        token,
        httponly=True,
        samesite="strict",
        secure=over_https(request),
        path="/console",
    )
    return response


@router.post("/logout")
async def logout(request: Request) -> Response:
    """End the session on the server (the id is worthless from now on), then the cookie."""
    await read_form(request)
    token = request.cookies.get(COOKIE)
    if token:
        await asyncio.to_thread(hub_of(request).sessions.close, token)
    response = see_other("/console/login?done=Signed+out.")
    response.delete_cookie(COOKIE, path="/console", httponly=True, samesite="strict")
    return response
