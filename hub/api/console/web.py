"""What every console page shares: the route class that turns errors into pages, the
templates, query and form parsing, redirects with a message, and the security headers."""

import asyncio
from collections.abc import Callable, Coroutine
from pathlib import Path
from typing import Any
from urllib.parse import parse_qsl, urlencode, urlsplit, urlunsplit

from eventsourcing.persistence import IntegrityError
from fastapi import Request, Response
from fastapi.exceptions import RequestValidationError
from fastapi.responses import HTMLResponse, RedirectResponse
from fastapi.routing import APIRoute
from jinja2 import Environment, FileSystemLoader, StrictUndefined

from aggregates.errors import DomainError
from hub.api import settling
from hub.api.body import read_limited
from hub.api.console import formatting
from hub.api.problems import ProblemError
from hub.bootstrap import Hub
from hub.services.access import Principal
from hub.services.operations import UnknownExceptionError, UnknownOrderError

HERE = Path(__file__).parent
STATIC_DIR = HERE / "static"
MAX_FORM_BYTES = 64 * 1024
# Holds a random session id (the sessions are kept by the server), never the API key.
COOKIE = "orderhub_session"
SECURITY_HEADERS = {
    # No inline script or style anywhere; charts are inline SVG with presentation attributes.
    "Content-Security-Policy": (
        "default-src 'none'; style-src 'self'; script-src 'self'; img-src 'self' data:; "
        "form-action 'self'; frame-ancestors 'none'; base-uri 'none'"
    ),
    "X-Content-Type-Options": "nosniff",
    "Referrer-Policy": "same-origin",
}

templates = Environment(
    loader=FileSystemLoader(HERE / "templates"),
    autoescape=True,
    undefined=StrictUndefined,
    trim_blocks=True,
    lstrip_blocks=True,
)
templates.filters.update(formatting.FILTERS)


class PageError(Exception):
    """Raise from a console route to answer with an error page."""

    def __init__(self, status: int, title: str, message: str = "") -> None:
        super().__init__(title)
        self.status = status
        self.title = title
        self.message = message


class LoginNeeded(Exception):
    def __init__(self, message: str = "", clear_cookie: bool = False) -> None:
        super().__init__(message)
        self.message = message
        self.clear_cookie = clear_cookie


class ConsoleRoute(APIRoute):
    """Errors become HTML pages (never JSON, never a 500 for bad input); headers are added."""

    def get_route_handler(self) -> Callable[[Request], Coroutine[Any, Any, Response]]:
        handler = super().get_route_handler()

        async def page(request: Request) -> Response:
            try:
                response = await handler(request)
            except PageError as error:
                response = error_page(request, error)
            except ProblemError as error:
                problem = error.problem
                response = error_page(
                    request, PageError(problem.status, problem.title, problem.detail or "")
                )
            except RequestValidationError:
                response = error_page(request, PageError(400, "This address is not valid"))
            except LoginNeeded as needed:
                response = login_redirect(request, needed)
            for name, value in SECURITY_HEADERS.items():
                response.headers.setdefault(name, value)
            if response.media_type == "text/html" or "text/html" in response.headers.get(
                "content-type", ""
            ):
                response.headers.setdefault("Cache-Control", "no-store")
            return response

        return page


def hub_of(request: Request) -> Hub:
    hub: Hub = request.app.state.hub
    return hub


def render(
    request: Request, template: str, code: int = 200, title: str = "", **context: Any
) -> HTMLResponse:
    principal: Principal | None = getattr(request.state, "principal", None)
    hub = hub_of(request)
    html = templates.get_template(template).render(
        request_path=request.url.path,
        title=title,
        principal=principal,
        auth_required=hub.settings.auth_required,
        done=param(request, "done"),
        error=param(request, "error"),
        now=hub.clock(),
        **context,
    )
    return HTMLResponse(html, status_code=code)


def error_page(request: Request, error: PageError) -> HTMLResponse:
    return render(
        request,
        "error.html",
        code=error.status,
        title=error.title,
        message=error.message,
    )


def login_redirect(request: Request, needed: LoginNeeded) -> Response:
    if request.method != "GET":
        response: Response = render(
            request,
            "error.html",
            code=401,
            title="Please sign in",
            message=needed.message or "Sign in with your API key to act on orders.",
        )
    else:
        target = request.url.path + (f"?{request.url.query}" if request.url.query else "")
        query = {"next": target, **({"error": needed.message} if needed.message else {})}
        response = RedirectResponse(f"/console/login?{urlencode(query)}", status_code=303)
    if needed.clear_cookie:
        response.delete_cookie(COOKIE, path="/console")
    return response


# -- query strings --------------------------------------------------------------------------


def param(request: Request, name: str) -> str | None:
    """A query parameter, stripped; None when missing or blank (as an empty form field sends)."""
    value = request.query_params.get(name, "").strip()
    return value or None


def page_size(request: Request, default: int = 50, most: int = 200) -> int:
    value = param(request, "limit")
    return min(max(int(value), 1), most) if value and value.isdigit() else default


def params(request: Request, name: str) -> list[str]:
    return [v.strip() for v in request.query_params.getlist(name) if v.strip()]


def url_with(request: Request, **changes: str | list[str] | None) -> str:
    """This page's address with some parameters changed (None removes them); drops flashes."""
    kept = [
        (k, v)
        for k, v in request.query_params.multi_items()
        if k not in changes and k not in ("done", "error") and v != ""
    ]
    for key, value in changes.items():
        if isinstance(value, list):
            kept.extend((key, v) for v in value)
        elif value is not None:
            kept.append((key, value))
    query = urlencode(kept)
    return request.url.path + (f"?{query}" if query else "")


def current_url(request: Request) -> str:
    return url_with(request)


def safe_back(value: str | None, default: str) -> str:
    """A local console address to go back to; anything else (another site) is ignored."""
    if not value or any(ch in value for ch in "\\\r\n\t"):
        return default
    parts = urlsplit(value)
    if parts.scheme or parts.netloc or not parts.path.startswith("/console"):
        return default
    return value


def with_message(url: str, done: str | None = None, error: str | None = None) -> str:
    parts = urlsplit(url)
    query = [
        (k, v)
        for k, v in parse_qsl(parts.query, keep_blank_values=True)
        if k not in ("done", "error")
    ]
    if done:
        query.append(("done", done[:300]))
    if error:
        query.append(("error", error[:300]))
    return urlunsplit(("", "", parts.path, urlencode(query), ""))


def see_other(url: str) -> RedirectResponse:
    return RedirectResponse(url, status_code=303)


# -- forms ----------------------------------------------------------------------------------


def check_same_origin(request: Request) -> None:
    """Refuse a form posted from another site (the cookie is SameSite=Strict as well).

    X-Forwarded-Host names the site only behind a trusted proxy (ORDERHUB_TRUSTED_PROXY):
    otherwise anyone could send it to make another site's form look like ours."""
    origin = request.headers.get("origin")
    if origin is None:
        return  # not a browser, or an old one: the SameSite cookie still protects
    hosts = {request.headers.get("host")}
    forwarded = request.headers.get("x-forwarded-host")
    if forwarded and hub_of(request).settings.trusted_proxy:
        hosts.add(forwarded.split(",")[0].strip())  # the first is what the browser asked for
    if origin == "null" or urlsplit(origin).netloc not in hosts:
        raise PageError(403, "This form was sent from another site", "Nothing was done.")


def over_https(request: Request) -> bool:
    """Whether the browser reached the hub over https (as a trusted proxy says, if any), or the
    operator says it always does (ORDERHUB_CONSOLE_SECURE_COOKIE)."""
    settings = hub_of(request).settings
    forwarded = request.headers.get("x-forwarded-proto", "") if settings.trusted_proxy else ""
    return (
        settings.console_secure_cookie
        or request.url.scheme == "https"
        or forwarded.split(",")[0].strip().lower() == "https"
    )


async def read_form(request: Request) -> dict[str, str]:
    """A form-encoded body (what the console's forms send), size-limited; last value wins."""
    check_same_origin(request)
    raw = await read_limited(request, MAX_FORM_BYTES)
    if not raw:
        return {}
    content_type = request.headers.get("content-type", "")
    if not content_type.startswith("application/x-www-form-urlencoded"):
        raise PageError(415, "Send this form from the console page", "Unexpected form encoding.")
    text = raw.decode("utf-8", errors="replace")
    return dict(parse_qsl(text, keep_blank_values=True))


def field(form: dict[str, str], name: str, what: str, max_length: int = 500) -> str:
    """A required text field, stripped; a FieldMissing names what to write."""
    value = form.get(name, "").strip()
    if not value:
        raise FieldMissing(f"Write {what} first.")
    if len(value) > max_length:
        raise FieldMissing(f"{what.capitalize()} is too long: at most {max_length} characters.")
    return value


class FieldMissing(ValueError):
    pass


# -- actions --------------------------------------------------------------------------------


async def perform(hub: Hub, action: Callable[[], object], back: str, done: str) -> Response:
    """Do the action as the user, let the embedded views catch up, and go back with a message:
    a broken business rule reads as an error message on the page, never as a 500."""
    try:
        await asyncio.to_thread(action)
    except (UnknownOrderError, UnknownExceptionError) as error:
        raise PageError(404, "Not found", str(error)) from None
    except DomainError as error:
        return see_other(with_message(back, error=str(error)))
    except IntegrityError:
        message = "The order changed while this was being recorded; look again and retry."
        return see_other(with_message(back, error=message))
    await settling.delivered_quietly(hub)
    return see_other(with_message(back, done=done))
