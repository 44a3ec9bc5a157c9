"""The app's route table built before the first request needs it.

FastAPI (0.165 here) builds each included router's routes lazily, on the first request whose
path is matched against them: every route's dependencies analysed, its parameters' and
response model's pydantic adapters made. The first re-run after a start built 84 routes' state
that way, ~10 ms of the event loop's CPU on a quiet machine (cProfile of the served process:
`fastapi.routing._IncludedRouter.effective_candidates`), which a later request does not pay.
"""

from fastapi import FastAPI
from starlette.routing import NoMatchFound

# No route is named so: looking it up walks every included router, which builds its routes.
_NO_ROUTE = "orderhub:route-table-built"


def build_route_table(app: FastAPI) -> None:
    """Build every included router's routes now (idempotent, thread-safe: FastAPI builds them
    under a lock and keeps them until the routes change). Through the public URL lookup, the
    same walk that building the OpenAPI document makes, without the document."""
    try:
        app.url_path_for(_NO_ROUTE)
    except NoMatchFound:
        pass
