"""Answers that say when routing has not taken a command up yet.

Embedded, an operation whose answer is about its effect (a stock change, a release, a
fulfillment update ...) waits for routing to act on it (`Hub.delivered`), 30 s at most. While
the routing process starts again (it died, or hung and was killed) nobody waits for it: the
answer comes at once, with its usual status and body (the command is recorded, the read models
have it) and the header ``OrderHub-Routing: pending``: routing's part (a re-route, backorders
freed ...) comes once it is back (GET /healthz shows it; read the order for its status). The
same header marks an answer whose routing took longer than the wait, and, while other
commands keep coming, one whose routing acted on it but whose consequences could not be shown
settled within a few passes (`hub.embedded.delivery.SETTLE_ROUNDS`).

The routes call `delivered()` / `delivered_quietly()` here; `RoutingPendingHeader` (pure ASGI,
around the app) writes the header on the answer of a request that called one that did not
settle. The mark is a mutable box set per request in a context variable, so it is seen however
the route's code is run (a task copies the context, not the box).
"""

from contextvars import ContextVar

from starlette.types import ASGIApp, Message, Receive, Scope, Send

from hub.bootstrap import Hub

HEADER = (b"orderhub-routing", b"pending")
# The capture (`POST /v1/orders`, the hottest route) answers once its order is recorded and
# never waits for routing: nothing on its way marks it, so its answer is not watched.
_NEVER_MARKED = ("POST", "/v1/orders")
_unsettled: ContextVar[list[bool] | None] = ContextVar("orderhub_unsettled", default=None)


async def delivered(hub: Hub) -> None:
    """`hub.delivered()`; the answer says when routing has not taken the command up yet."""
    _mark(await hub.delivered())


async def delivered_quietly(hub: Hub) -> None:
    """`hub.delivered_quietly()`; the answer says when routing has not taken it up yet."""
    _mark(await hub.delivered_quietly())


def _mark(settled: bool) -> None:
    box = _unsettled.get()
    if box is not None and not settled:
        box[0] = True


class RoutingPendingHeader:
    """Writes ``OrderHub-Routing: pending`` on the answers of unsettled commands."""

    def __init__(self, app: ASGIApp) -> None:
        self.app = app

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        if scope["type"] != "http" or (scope["method"], scope["path"]) == _NEVER_MARKED:
            await self.app(scope, receive, send)
            return
        box = [False]
        token = _unsettled.set(box)

        async def sending(message: Message) -> None:
            if message["type"] == "http.response.start" and box[0]:
                message = {**message, "headers": [*message.get("headers", []), HEADER]}
            await send(message)

        try:
            await self.app(scope, receive, sending)
        finally:
            _unsettled.reset(token)
