"""`POST /v1/orders` served ahead of Starlette's router: the hottest route, without the layers
every other route goes through.

For each request the router matches the path against every route in turn and FastAPI's route
wraps the endpoint in its exception handling, its exit stacks and its parameter solving (none
here: the route reads its caller itself, `deps.caller_of`), then Starlette's exception
middleware wraps it all again. `CaptureFastPath` (pure ASGI, the innermost of the app's own
middlewares: the front door, the capture count and the routing header stay around it) calls
the same endpoint, `routes.orders.submit_order`, with the same request, inside the same
exception handlers the app installed (`hub.api.problems`): every status, header and problem
body is the route's own. The FastAPI route stays registered: it documents the operation in
OpenAPI, the front door's body rules come from that document, and a request this path does
not take (another method, a trailing slash, a root path, FastAPI's telemetry on) goes on to the
router as before.
"""

from typing import Any

from starlette._exception_handler import wrap_app_handling_exceptions
from starlette.requests import Request
from starlette.types import ASGIApp, Receive, Scope, Send

from hub.api.routes.orders import submit_order

PATH = "/v1/orders"
_HANDLERS_KEY = "starlette.exception_handlers"


class CaptureFastPath:
    def __init__(self, app: ASGIApp) -> None:
        self.app = app
        self._handlers: tuple[dict[Any, Any], dict[int, Any]] | None = None

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        if (
            scope["type"] != "http"
            or scope["method"] != "POST"
            or scope["path"] != PATH
            or scope.get("root_path")
            # FastAPI's own telemetry, when configured, names the route from the router's match
            # (`http.route`) and spans the endpoint: such a request takes the router's way.
            or scope.get("fastapi.telemetry") is not None
        ):
            await self.app(scope, receive, send)
            return
        scope[_HANDLERS_KEY] = self._exception_handlers(scope["app"])
        request = Request(scope, receive, send)

        async def endpoint(scope: Scope, receive: Receive, send: Send) -> None:
            response = await submit_order(request)
            await response(scope, receive, send)

        await wrap_app_handling_exceptions(endpoint, request)(scope, receive, send)

    def _exception_handlers(self, api: Any) -> tuple[dict[Any, Any], dict[int, Any]]:
        """The handlers Starlette's exception middleware holds, split as it splits them: an
        unexpected error (`Exception`, 500) is left to the outermost middleware's handler,
        as for every route."""
        if self._handlers is None:
            by_type: dict[Any, Any] = {}
            by_status: dict[int, Any] = {}
            for key, handler in api.exception_handlers.items():
                if key in (500, Exception):
                    continue
                if isinstance(key, int):
                    by_status[key] = handler
                else:
                    by_type[key] = handler
            self._handlers = (by_type, by_status)
        return self._handlers
