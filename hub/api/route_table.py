"""The app's route table built before the first request needs it.

FastAPI (0.165 here) builds each included router's routes lazily, on the first request whose
path is matched against them: every route's dependencies analysed, its parameters' and
response model's pydantic adapters made. The first re-run after a start built 84 routes' state
that way, ~10 ms of the event loop's CPU on a quiet machine (cProfile of the served process:
`fastapi.routing._IncludedRouter.effective_candidates`), which a later request does not pay.
It then also read where the endpoint's source is (`inspect.getsourcelines`, for its error
messages, kept per endpoint): the file read and the function tokenized, ~1 ms more.
"""

from collections.abc import Callable, Iterator, Sequence
from typing import Any

import fastapi.routing
from fastapi import FastAPI
from starlette.routing import BaseRoute, NoMatchFound

# No route is named so: looking it up walks every included router, which builds its routes.
_NO_ROUTE = "orderhub:route-table-built"


def build_route_table(app: FastAPI) -> None:
    """Build every included router's routes now, and what FastAPI keeps of each endpoint at
    its first request (idempotent, thread-safe: FastAPI builds routes under a lock and keeps
    them until the routes change; the endpoints' context is a dict by endpoint). The routes
    through the public URL lookup, the same walk that building the OpenAPI document makes,
    without the document; the endpoints' context through FastAPI's own function for it, when
    this FastAPI has one."""
    try:
        app.url_path_for(_NO_ROUTE)
    except NoMatchFound:
        pass
    context_of: Callable[[Any], object] | None = getattr(
        fastapi.routing, "_extract_endpoint_context", None
    )
    if context_of is not None:
        for endpoint in {id(e): e for e in _endpoints(app.routes)}.values():
            context_of(endpoint)


def _endpoints(routes: Sequence[BaseRoute]) -> Iterator[Callable[..., Any]]:
    for route in routes:
        endpoint = getattr(route, "endpoint", None)
        if callable(endpoint):
            yield endpoint
        included = getattr(getattr(route, "original_router", None), "routes", None)
        if included:
            yield from _endpoints(included)
