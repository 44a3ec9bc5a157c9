"""Embedded, routing forgets the orders that no longer wait. It keeps, per waiting order it
decided, what that decision saw (hub.services.waiting_orders), and only the backorder sweep
forgot the orders no longer waiting; the embedded hub ran no sweep, so every order cancelled
while it waited stayed in its memory for good (the embedded soak's routing process grew by
~32 MB per 100,000 orders)."""

import time
from collections.abc import Iterator
from pathlib import Path

import pytest

from hub.bootstrap import Hub
from hub.settings import Settings
from tests.integration.embedded.test_sweep_skips import Clock, _order, _status, one_source_hub

SWEEP = 0.05  # seconds


@pytest.fixture
def hub(tmp_path: Path) -> Iterator[Hub]:
    settings = Settings(
        data_dir=tmp_path, kafka_bootstrap=None, database_url=None, backorder_sweep_seconds=SWEEP
    )
    hub = one_source_hub(settings, Clock())
    yield hub
    hub.close()


def test_an_order_cancelled_while_it_waited_is_forgotten_at_the_next_sweep(hub: Hub) -> None:
    # Routed in one chunk, as under load (what a decision saw is kept for a chunk's orders).
    waiting, kept = hub.intake.place_orders([_order(1, 5), _order(3, 4)])  # 3 held
    hub.deliver()
    assert _status(hub, waiting.order_id) == _status(hub, kept.order_id) == "backordered"
    assert len(hub.orchestration.waiting) == 2

    hub.fulfillment.cancel_order(waiting.order_id, "changed my mind", "user:desk")
    hub.deliver()
    time.sleep(2 * SWEEP)
    (other,) = hub.intake.place_orders([_order(2, 1)])  # a batch for routing: the sweep is due
    hub.deliver()

    assert _status(hub, waiting.order_id) == "cancelled"
    assert _status(hub, other.order_id) == "routed"
    assert _status(hub, kept.order_id) == "backordered"
    assert len(hub.orchestration.waiting) == 1, "the cancelled order is no longer kept"
