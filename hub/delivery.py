"""Embedded mode's transport: from the store's log to the projection handlers, in-process."""

import threading

from hub.store import OrderStore
from projections.order_status import OrderStatusView

STREAM = "notification_log"


class InProcessDelivery:
    """Follows the notification log like a Kafka consumer would, with the same handlers.

    Each view keeps its own position in the log, saved with its rows, so a restart resumes and a
    crash between save and delivery is caught up on the next call.
    """

    def __init__(self, store: OrderStore, views: list[OrderStatusView], batch_size: int) -> None:
        self._store = store
        self._views = views
        self._batch_size = batch_size
        self._lock = threading.Lock()

    def catch_up(self) -> int:
        """Deliver everything recorded so far; returns the number of events delivered."""
        delivered = 0
        with self._lock:
            for view in self._views:
                while True:
                    after = view.positions().get(STREAM)
                    batch = self._store.read_envelopes(after, self._batch_size)
                    if not batch:
                        break
                    view.apply([env for _, env in batch], {STREAM: batch[-1][0]})
                    delivered += len(batch)
        return delivered
