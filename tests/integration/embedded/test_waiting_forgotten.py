"""Embedded, routing forgets the orders that no longer wait. It keeps, per waiting order it
decided, what that decision saw (hub.services.waiting_orders), and only the backorder sweep
forgot the orders no longer waiting; the embedded hub ran no sweep, so every order cancelled
while it waited stayed in its memory for good (the embedded soak's routing process grew by
~57 MB per 100,000 orders). Its routing lane now sweeps before a batch once due."""

import time
from collections.abc import Iterator
from pathlib import Path

import pytest

from hub.bootstrap import Hub
from hub.settings import Settings
from tests.integration.embedded.test_sweep_skips import Clock, _order, _status, one_source_hub

SWEEP = 30.0  # seconds, the default


class Ticks:
    """The sweep's clock, moved by the test."""

    def __init__(self) -> None:
        self.now = time.monotonic()

    def __call__(self) -> float:
        return self.now


@pytest.fixture
def ticks() -> Ticks:
    return Ticks()


@pytest.fixture
def hub(tmp_path: Path, ticks: Ticks) -> Iterator[Hub]:
    settings = Settings(
        data_dir=tmp_path, kafka_bootstrap=None, database_url=None, backorder_sweep_seconds=SWEEP
    )
    hub = one_source_hub(settings, Clock())  # 3 on hand
    hub.orchestrator.sweep_clock = ticks
    yield hub
    hub.close()


def _a_batch_after_the_sweep_is_due(hub: Hub, ticks: Ticks, n: int) -> None:
    ticks.now += SWEEP + 1
    (placed,) = hub.intake.place_orders([_order(n, 1)])
    hub.deliver()
    assert _status(hub, placed.order_id) == "routed"


def test_an_order_cancelled_while_it_waited_is_forgotten(hub: Hub, ticks: Ticks) -> None:
    # Routed in one chunk, as under load (what a decision saw is kept for a chunk's orders).
    cancelled, waits = hub.intake.place_orders([_order(1, 5), _order(2, 4)])
    hub.deliver()
    assert _status(hub, cancelled.order_id) == _status(hub, waits.order_id) == "backordered"
    assert len(hub.orchestration.waiting) == 2

    hub.fulfillment.cancel_order(cancelled.order_id, "changed my mind", "user:desk")
    hub.deliver()
    assert len(hub.orchestration.waiting) == 2, "no sweep due yet"
    # The first sweep keeps what was decided since the one before (the view may not list it
    # yet); the next forgets what the view does not list.
    _a_batch_after_the_sweep_is_due(hub, ticks, 3)
    _a_batch_after_the_sweep_is_due(hub, ticks, 4)

    assert _status(hub, cancelled.order_id) == "cancelled"
    assert _status(hub, waits.order_id) == "backordered"
    assert len(hub.orchestration.waiting) == 1, "the cancelled order is no longer kept"


def test_a_sweep_that_fails_does_not_fail_the_batch(
    hub: Hub, ticks: Ticks, monkeypatch: pytest.MonkeyPatch
) -> None:
    sweeps: list[int] = []

    def failing() -> int:
        sweeps.append(1)
        raise RuntimeError("database is locked")

    monkeypatch.setattr(hub.orchestrator, "sweep_backorders", failing)
    _a_batch_after_the_sweep_is_due(hub, ticks, 1)  # routed all the same
    (placed,) = hub.intake.place_orders([_order(2, 1)])
    hub.deliver()

    assert _status(hub, placed.order_id) == "routed"
    assert sweeps == [1], "due again a whole interval after the failed one"
