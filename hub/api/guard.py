"""The API's front door, in pure ASGI so that it runs before FastAPI reads or parses any body.

For a request that carries a body it checks, in this order and without reading more than it
must: who is asking (a `/v1/` write without a valid credential is a 401 before one byte of the
body is read), the content type (415), the size (413, as bytes arrive, so a huge upload is
never held in memory) and, for JSON, the nesting depth (400). Only then is the body, now
buffered and bounded, handed to the route. Every answer carries `X-Content-Type-Options:
nosniff`, so a browser never guesses a stored payload is HTML.
"""

import re
from collections.abc import Callable
from dataclasses import dataclass

from fastapi import FastAPI
from starlette.datastructures import Headers
from starlette.requests import Request
from starlette.types import ASGIApp, Message, Receive, Scope, Send

from hub.api.body import GUARDED_BODY, malformed, too_large
from hub.api.deps import AUTHENTICATED, get_principal
from hub.api.problems import ProblemError, problem_response
from hub.bootstrap import Hub
from hub.services.access import Principal
from schemas.problems import FieldProblem, Problem

MAX_JSON_DEPTH = 32
JSON_TYPES = ("application/json",)
YAML_TYPES = ("application/yaml", "application/x-yaml", "text/yaml", "text/plain")
# Native intake takes each channel's own format: JSON (canonical, webshop, marketplace,
# assisted), CSV bulk uploads and EDI X12 text.
NATIVE_TYPES = (*JSON_TYPES, "text/csv", "application/edi-x12", "text/plain")
_BULK_ROUTES = frozenset({"/v1/intake/{format}", "/v1/stock/bulk"})
_NOSNIFF = (b"x-content-type-options", b"nosniff")
# A JSON string (or the unterminated rest of a malformed body) and the brackets outside them.
_JSON_STRING = re.compile(rb'"(?:[^"\\]|\\.)*+(?:"|\Z)', re.DOTALL)
_NOT_BRACKETS = bytes(b for b in range(256) if b not in b"[]{}")


@dataclass(frozen=True)
class BodyRule:
    """What a route accepts as a body: how many bytes and which media types (empty = any)."""

    max_bytes: int
    media_types: tuple[str, ...]


class RequestGuard:
    """Authenticate, then bound and check the body, before the application sees the request."""

    def __init__(self, app: ASGIApp) -> None:
        self.app = app

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        if scope["type"] != "http":
            await self.app(scope, receive, send)
            return
        api: FastAPI = scope["app"]
        hub: Hub = api.state.hub
        send = _finishing(send, lambda: _methods(_rules(api, hub), scope["path"]))
        headers = Headers(scope=scope)
        if not _has_body(headers):
            await self.app(scope, receive, send)
            return
        try:
            if scope["path"].startswith("/v1/"):
                # The route reads its caller from here (`deps.caller_of`) instead of asking again.
                scope[AUTHENTICATED] = await _authenticate(hub, scope, headers)
            rule = _rule(api, hub, scope)
            media_type = _check_media_type(headers, rule)
            body = await _read_bounded(receive, headers, rule.max_bytes)
            if media_type is not None and _is_json(media_type):
                check_json_depth(body, MAX_JSON_DEPTH)
        except ProblemError as error:
            await problem_response(error.problem, error.headers)(scope, receive, send)
            return
        scope[GUARDED_BODY] = body  # the whole body, read once (`body.read_limited`)
        await self.app(scope, _replay(body, receive), send)


def body_rules(api: FastAPI, max_bytes: int, bulk_max_bytes: int) -> "BodyRules":
    """Each operation's limit (bulk uploads have their own) and the media types its OpenAPI
    document names for the body: what is documented is what is enforced."""
    rules: BodyRules = []
    for path, operations in api.openapi().get("paths", {}).items():
        pattern = re.compile("^" + re.sub(r"\\{[^/]+?\\}", "[^/]+", re.escape(path)) + "$")
        limit = bulk_max_bytes if path in _BULK_ROUTES else max_bytes
        for method, operation in operations.items():
            content = operation.get("requestBody", {}).get("content", {})
            rules.append((pattern, method.upper(), BodyRule(limit, tuple(content))))
    # Literal paths first: /v1/stock/adjustments before /v1/stock/{source_id}/{sku}.
    rules.sort(key=lambda rule: rule[0].pattern.count("[^/]+"))
    return rules


BodyRules = list[tuple[re.Pattern[str], str, BodyRule]]


def check_json_depth(body: bytes, limit: int) -> None:
    """400 when arrays and objects nest deeper than `limit` (counted outside strings)."""
    if body.count(b"[") + body.count(b"{") <= limit:
        return  # no deeper than the count of opening brackets, strings' own included
    brackets = _JSON_STRING.sub(b"", body).translate(None, _NOT_BRACKETS)
    if brackets.count(b"[") + brackets.count(b"{") <= limit:
        return
    depth = 0
    for byte in brackets:
        depth += 1 if byte in b"[{" else -1
        if depth > limit:
            detail = f"arrays and objects may nest {limit} deep at most"
            raise malformed(detail, "The body nests too deep", "too_deep")


def _has_body(headers: Headers) -> bool:
    length = headers.get("content-length")
    return "transfer-encoding" in headers or (length is not None and length.strip() != "0")


async def _authenticate(hub: Hub, scope: Scope, headers: Headers) -> Principal:
    # The same check the routes' dependency makes (it runs again there for a route that reads
    # its caller by FastAPI's dependencies, from a warm cache): here it runs before the body is
    # read, which FastAPI's own order would not do. A failure answered here is counted by the
    # failed-auth throttle once, like one answered by a route.
    return await get_principal(
        Request(scope),
        hub,
        authorization=headers.get("authorization"),
        x_api_key=headers.get("x-api-key"),
        x_actor=headers.get("x-actor"),
    )


def _rules(api: FastAPI, hub: Hub) -> BodyRules:
    rules: BodyRules | None = getattr(api.state, "body_rules", None)
    if rules is None:
        settings = hub.settings
        rules = body_rules(api, settings.max_body_bytes, settings.max_bulk_body_bytes)
        api.state.body_rules = rules
    return rules


def _rule(api: FastAPI, hub: Hub, scope: Scope) -> BodyRule:
    path, method = scope["path"], scope["method"]
    literal = _literal_rules(api, hub).get((method, path))
    if literal is not None:
        return literal
    for pattern, rule_method, rule in _rules(api, hub):
        if rule_method == method and pattern.match(path):
            return rule
    return BodyRule(hub.settings.max_body_bytes, ())


def _literal_rules(api: FastAPI, hub: Hub) -> dict[tuple[str, str], BodyRule]:
    """The rules of the operations whose path has no parameter, by method and path: what the
    walk over every operation's pattern finds first for such a path (literal paths come first
    there), without the walk (~6 µs of every capture and every 429)."""
    literal: dict[tuple[str, str], BodyRule] | None = getattr(api.state, "literal_rules", None)
    if literal is None:
        literal = {}
        for pattern, method, rule in _rules(api, hub):
            path = _ESCAPED.sub(r"\1", pattern.pattern[1:-1])
            if "[^/]+" not in pattern.pattern and pattern.fullmatch(path):
                literal.setdefault((method, path), rule)
        api.state.literal_rules = literal
    return literal


_ESCAPED = re.compile(r"\\(.)")


def _methods(rules: BodyRules, path: str) -> list[str]:
    """Every method documented for this path (the router names only one route's methods)."""
    return sorted({method for pattern, method, _ in rules if pattern.match(path)})


def _check_media_type(headers: Headers, rule: BodyRule) -> str | None:
    """The body's media type; 415 when the route documents others. A body sent without a
    Content-Type is taken as the route's own type."""
    declared = headers.get("content-type")
    if declared is None:
        return rule.media_types[0] if rule.media_types else None
    media_type = declared.split(";", 1)[0].strip().lower()
    if not rule.media_types or media_type in rule.media_types:
        return media_type
    if _is_json(media_type) and any(_is_json(m) for m in rule.media_types):
        return media_type
    raise ProblemError(
        Problem(
            type="/problems/unsupported-media-type",
            title="This content type is not accepted here",
            status=415,
            detail=f"send one of: {', '.join(rule.media_types)}",
            errors=[
                FieldProblem(
                    field="Content-Type",
                    message=f"{media_type!r} is not one of {', '.join(rule.media_types)}",
                    code="unsupported_media_type",
                )
            ],
        ),
        headers={"Accept": ", ".join(rule.media_types)},
    )


def _is_json(media_type: str) -> bool:
    return media_type == "application/json" or media_type.endswith("+json")


async def _read_bounded(receive: Receive, headers: Headers, max_bytes: int) -> bytes:
    declared = headers.get("content-length")
    if declared is not None and declared.strip().isdigit() and int(declared) > max_bytes:
        raise too_large(max_bytes)
    body = bytearray()
    while True:
        message = await receive()
        if message["type"] != "http.request":  # the client went away
            break
        body.extend(message.get("body", b""))
        if len(body) > max_bytes:
            raise too_large(max_bytes)
        if not message.get("more_body", False):
            break
    return bytes(body)


def _replay(body: bytes, receive: Receive) -> Receive:
    sent = False

    async def replayed() -> Message:
        nonlocal sent
        if not sent:
            sent = True
            return {"type": "http.request", "body": body, "more_body": False}
        return await receive()  # after the body: wait for the disconnect, as a server would

    return replayed


def _finishing(send: Send, allowed: Callable[[], list[str]]) -> Send:
    """Every answer says nosniff; a 405 lists every method of the path in Allow."""

    async def sending(message: Message) -> None:
        if message["type"] == "http.response.start":
            headers: list[tuple[bytes, bytes]] = list(message.get("headers", []))
            if message["status"] == 405:
                headers = [(name, value) for name, value in headers if name.lower() != b"allow"]
                headers.append((b"allow", ", ".join(allowed()).encode()))
            if not any(name.lower() == _NOSNIFF[0] for name, _ in headers):
                headers.append(_NOSNIFF)
            message = {**message, "headers": headers}
        await send(message)

    return sending
