"""Rebuilding read models from the event store, the source of truth.

A view is emptied (rows and positions) and every recorded event is applied again, in log
order, in batches. On PostgreSQL the view is held for the rebuild: workers that feed it from
Kafka wait, then go on (whatever they apply twice is ignored). In embedded mode (SQLite) stop
the hub first: `orderhub rebuild` and a running `orderhub serve` would both write the view.
"""

from collections.abc import Callable

from hub.bootstrap import Hub, read_models
from projections.base import ReadModel


def views(hub: Hub) -> dict[str, ReadModel]:
    """The read models among the hub's followers, by name."""
    return read_models(hub.followers)


def rebuild(
    hub: Hub,
    view: ReadModel,
    batch_size: int = 1000,
    progress: Callable[[int], None] = lambda _: None,
) -> int:
    """Returns the number of events replayed into the view."""
    return hub.rebuild(view, batch_size, progress)
