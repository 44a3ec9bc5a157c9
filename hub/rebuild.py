"""Rebuilding read models from the event store, the source of truth.

A view is emptied (rows and positions) and every recorded event is applied again, in log
order, in batches. Views are idempotent per event, so a worker still feeding the view from
Kafka meanwhile does no harm: whatever it applies twice is ignored.
"""

from collections.abc import Callable

from hub.bootstrap import Hub
from hub.delivery import STREAM
from projections.base import ReadModel


def views(hub: Hub) -> dict[str, ReadModel]:
    return {
        "order_status": hub.order_status,
        "exceptions": hub.exceptions,
        "audit_trail": hub.audit,
        "stock_levels": hub.stock_levels,
    }


def rebuild(
    hub: Hub,
    view: ReadModel,
    batch_size: int = 1000,
    progress: Callable[[int], None] = lambda _: None,
) -> int:
    """Returns the number of events replayed into the view."""
    view.reset()
    after: int | None = None
    replayed = 0
    while True:
        batch = hub.store.read_envelopes(after, batch_size)
        if not batch:
            return replayed
        after = batch[-1][0]
        view.apply([env for _, env in batch], {STREAM: after})
        replayed += len(batch)
        progress(replayed)
