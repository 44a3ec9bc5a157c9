"""The backorder sweep decides a waiting order again only when something it is decided on may
have let it move since its last decision: units of its SKUs freed, a source or policy changed,
a new day (hub.services.waiting_orders). A missed wake-up is still caught by the next sweep."""

from collections.abc import Iterator
from datetime import datetime, timedelta
from pathlib import Path
from typing import Any

import pytest

from hub.bootstrap import Hub, bootstrap
from hub.services.intake import SubmitOrder
from hub.settings import Settings
from schemas.sources import StockSnapshot
from schemas.submission import OrderSubmission
from tests.contracts.factories import NOW, source_definition, submission_dict

SKU = "RED-CHAIR"


class Clock:
    def __init__(self) -> None:
        self.now = NOW

    def __call__(self) -> datetime:
        return self.now


@pytest.fixture
def clock() -> Clock:
    return Clock()


@pytest.fixture
def hub(tmp_path: Path, clock: Clock) -> Iterator[Hub]:
    hub = one_source_hub(
        Settings(data_dir=tmp_path, kafka_bootstrap=None, database_url=None), clock
    )
    yield hub
    hub.close()


def one_source_hub(settings: Settings, clock: Clock) -> Hub:
    """An embedded hub with one source holding 3 of SKU."""
    hub = bootstrap(settings, clock=clock)
    hub.catalog.register_source(
        source_definition("wh-lyon", daily_capacity=10_000), actor="user:admin"
    )
    _stock(hub, 3)
    hub.deliver()
    return hub


def _stock(hub: Hub, on_hand: int, source_id: str = "wh-lyon") -> None:
    """Counted, not delivered: the wake-up the backorder view would give is missed."""
    hub.catalog.apply_stock(StockSnapshot(source_id=source_id, sku=SKU, on_hand=on_hand), "user:a")


def _order(n: int, quantity: int) -> SubmitOrder:
    body: dict[str, Any] = submission_dict(
        external_id=f"WEB-W{n}",
        payment_state="authorized",
        lines=[{"line_id": "1", "sku": SKU, "quantity": quantity, "unit_price": "19.90"}],
    )
    submission = OrderSubmission.model_validate(body)
    return SubmitOrder(submission, submission.model_dump_json(), "channel:web-shop", f"w{n}")


def _status(hub: Hub, order_id: Any) -> str:
    return str(hub.store.repository.get(order_id).status.value)


def _waiting_for_more_than_is_free(hub: Hub) -> Any:
    """An order for 5 when the only source has 3 free: a unit is free, so the sweep's first
    test (any free unit) passes for it every time."""
    (placed,) = hub.intake.place_orders([_order(1, 5)])
    hub.deliver()
    assert _status(hub, placed.order_id) == "backordered"
    return placed.order_id


def test_an_order_nothing_changed_for_is_not_decided_again(hub: Hub) -> None:
    order_id = _waiting_for_more_than_is_free(hub)
    assert hub.orchestrator.sweep_backorders() == 0
    # Units taken by another order free nothing: still nothing to decide again.
    (other,) = hub.intake.place_orders([_order(2, 1)])
    hub.deliver()
    assert _status(hub, other.order_id) == "routed"
    assert hub.orchestrator.sweep_backorders() == 0
    # Stock counted up, its wake-up missed: the sweep sees the SKU raised and routes the order.
    _stock(hub, 7)
    assert hub.orchestrator.sweep_backorders() == 1
    assert _status(hub, order_id) == "routed"
    assert len(hub.orchestration.waiting) == 0


def test_a_raised_sku_is_decided_again_once(hub: Hub) -> None:
    order_id = _waiting_for_more_than_is_free(hub)
    _stock(hub, 4)  # more, still not enough: decided again, and then remembered on that view
    assert hub.orchestrator.sweep_backorders() == 1
    assert _status(hub, order_id) == "backordered"
    assert hub.orchestrator.sweep_backorders() == 0


def test_a_source_event_or_a_new_day_decides_it_again(hub: Hub, clock: Clock) -> None:
    _waiting_for_more_than_is_free(hub)
    hub.catalog.register_source(source_definition("wh-paris"), actor="user:admin")
    assert hub.orchestrator.sweep_backorders() == 1
    assert hub.orchestrator.sweep_backorders() == 0
    clock.now += timedelta(days=1)  # capacity counts a day's shipments
    assert hub.orchestrator.sweep_backorders() == 1
    assert hub.orchestrator.sweep_backorders() == 0


def test_an_order_another_process_decided_is_decided_again(hub: Hub) -> None:
    order_id = _waiting_for_more_than_is_free(hub)
    hub.orchestration.waiting.decided(order_id, None)  # as if another worker had decided it
    assert hub.orchestrator.sweep_backorders() == 1
    assert hub.orchestrator.sweep_backorders() == 0


TIMED = """id: timed
version: 1
name: Timed
holds:
  - name: long-ago
    condition: now < timestamp("2000-01-01T00:00:00Z")
    reason: never true since
"""


def test_a_policy_reading_the_clock_turns_the_skipping_off(hub: Hub) -> None:
    order_id = _waiting_for_more_than_is_free(hub)
    hub.policies.publish(TIMED, actor="user:admin")
    # Its decision may change with the clock alone: decided again by every sweep, as before.
    for _ in range(3):
        assert hub.orchestrator.sweep_backorders() == 1
        assert _status(hub, order_id) == "backordered"
