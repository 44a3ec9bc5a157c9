"""An order's status as `GET /v1/orders/{id}` answers it: read your writes.

The order status view is fed from Kafka by the projections role, so an order the API has just
acknowledged can be in the event store (the source of truth) before the view has its row: the
intake's save, the relay and the role's batch lie between. Under saturation that wait was the
worst part of "acknowledged → readable" (benchmarks/README.md, read7). A miss in the view is
answered from the order's own stored events, folded by the view's own fold, so the answer is
the row the view will hold once it has read those events: same fields, same status.

A miss costs one indexed read of the order's events (`OrderStore.events_of`, the one the audit
trail already makes) and their decoding: an order's history is its own events only (tens at
most), and an unknown id reads nothing. The view stays the first place looked: a row it holds
is answered as before, without touching the store.
"""

from collections.abc import Callable, Iterable

from projections.order_rows import OrderStatusRow, fold
from schemas.envelope import EventEnvelope


def folded(envelopes: Iterable[EventEnvelope]) -> OrderStatusRow | None:
    """The view's row for one order's events in version order; None before its `Placed`."""
    row: OrderStatusRow | None = None
    for env in envelopes:
        row = fold(row, env)
    return row


def order_row(
    read_view: Callable[[str], OrderStatusRow | None],
    stored_events: Callable[[str], Iterable[EventEnvelope]],
    order_id: str,
) -> OrderStatusRow | None:
    """The view's row, else the row the order's stored events fold to, else None."""
    row = read_view(order_id)
    if row is not None:
        return row
    return folded(stored_events(order_id))
