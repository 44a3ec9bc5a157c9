"""A stock raise wakes only the waiting orders it may move: a raise at a source a rule excludes
for the order (here: one that does not ship to its country) leaves it alone; one at a source it
may use, a source or policy change, a restore of the view or a new day decides it again; an
order this process does not know is decided as before; one it decided that the backorder view
does not list yet is woken all the same; and the sweep stays a net
(hub.services.waiting_orders)."""

from collections.abc import Iterator
from datetime import timedelta
from pathlib import Path
from uuid import UUID

import pytest

from hub.bootstrap import Hub, bootstrap
from hub.services.intake import SubmitOrder
from hub.settings import Settings
from projections.exception_query import ExceptionQuery
from projections.exception_rules import ExceptionRow
from schemas.sources import StockSnapshot
from schemas.submission import OrderSubmission
from tests.contracts.factories import source_definition, submission_dict
from tests.integration.embedded.test_sweep_skips import Clock, _status

SKU = "RED-CHAIR"


@pytest.fixture
def clock() -> Clock:
    return Clock()


@pytest.fixture
def hub(tmp_path: Path, clock: Clock) -> Iterator[Hub]:
    hub = bootstrap(Settings(data_dir=tmp_path, kafka_bootstrap=None, database_url=None), clock)
    for source_id, ships_to in (("wh-lyon", ["FR"]), ("wh-berlin", ["DE"]), ("wh-paris", ["FR"])):
        definition = source_definition(source_id, daily_capacity=10_000, ships_to=ships_to)
        hub.catalog.register_source(definition, actor="user:admin")
    _count(hub, "wh-lyon", 3)
    _count(hub, "wh-berlin", 0)
    hub.deliver()
    yield hub
    hub.close()


def _count(hub: Hub, source_id: str, on_hand: int, sku: str = SKU) -> None:
    hub.catalog.apply_stock(StockSnapshot(source_id=source_id, sku=sku, on_hand=on_hand), "user:a")


def _order(quantity: int, sku: str) -> SubmitOrder:
    line = {"line_id": "1", "sku": sku, "quantity": quantity, "unit_price": "19.90"}
    body = submission_dict(external_id="WEB-K1", payment_state="authorized", lines=[line])
    submission = OrderSubmission.model_validate(body)
    return SubmitOrder(submission, submission.model_dump_json(), "channel:web-shop", "k1")


def _decisions(hub: Hub, order_id: UUID) -> int:
    """How many times the orchestrator decided the order (its last 100 results)."""
    return sum(1 for r in hub.orchestrator.results if r.order_id == order_id)


def _waiting(hub: Hub, quantity: int = 5, sku: str = SKU) -> UUID:
    """An order to France for more than Lyon has free: it waits; Berlin does not ship there."""
    (placed,) = hub.intake.place_orders([_order(quantity, sku)])
    hub.deliver()
    assert _status(hub, placed.order_id) == "backordered"
    return placed.order_id


def test_a_raise_at_a_source_that_may_not_ship_it_does_not_wake_it(hub: Hub) -> None:
    order_id = _waiting(hub)
    before = _decisions(hub, order_id)
    _count(hub, "wh-berlin", 50)
    hub.deliver()
    assert _decisions(hub, order_id) == before
    assert hub.orchestrator.sweep_backorders() == 0  # nor does the sweep decide it
    # At a source it may use: decided again, and routed once there is enough.
    _count(hub, "wh-lyon", 4)
    hub.deliver()
    assert _decisions(hub, order_id) == before + 1
    assert _status(hub, order_id) == "backordered"
    _count(hub, "wh-lyon", 9)
    hub.deliver()
    assert _status(hub, order_id) == "routed"


def test_stock_registered_at_a_source_it_may_use_wakes_it(hub: Hub) -> None:
    order_id = _waiting(hub)
    _count(hub, "wh-paris", 9)  # Paris held none of it: the decision never looked at Paris
    hub.deliver()
    assert _status(hub, order_id) == "routed"


def test_an_order_no_holder_may_ship_waits_cheaply_until_one_may(hub: Hub) -> None:
    # Only Berlin holds the SKU: every holder excluded, the line waits for an eligible source.
    _count(hub, "wh-berlin", 10, sku="BLUE-LAMP")
    hub.deliver()
    order_id = _waiting(hub, quantity=1, sku="BLUE-LAMP")
    # Operations see it as an order to act on, with the reason, not as a wait for stock.
    (row,) = _exceptions(hub, order_id)
    assert (row.kind, row.severity, row.reason) == (
        "unfulfillable",
        "medium",
        "1: BLUE-LAMP: held only at wh-berlin (does_not_ship_to_country)",
    )
    before = _decisions(hub, order_id)
    for on_hand in (20, 30, 40):  # Berlin restocked again and again
        _count(hub, "wh-berlin", on_hand, sku="BLUE-LAMP")
        hub.deliver()
    assert _decisions(hub, order_id) == before
    assert hub.orchestrator.sweep_backorders() == 0
    _count(hub, "wh-lyon", 5, sku="BLUE-LAMP")
    hub.deliver()
    assert _status(hub, order_id) == "routed"
    assert _exceptions(hub, order_id) == []


def test_a_wait_for_stock_is_a_backorder_not_unfulfillable(hub: Hub) -> None:
    order_id = _waiting(hub)  # Lyon, which may ship it, has too few
    assert [r.kind for r in _exceptions(hub, order_id)] == ["backordered"]


def _exceptions(hub: Hub, order_id: UUID) -> list[ExceptionRow]:
    return hub.exceptions.queue(ExceptionQuery(order_id=str(order_id))).rows


def test_a_source_or_policy_change_a_restore_or_a_new_day_wakes_it(hub: Hub, clock: Clock) -> None:
    order_id = _waiting(hub)
    changes = [
        lambda: hub.catalog.register_source(source_definition("wh-nice"), actor="user:admin"),
        lambda: hub.policies.publish(NO_STORES, actor="user:admin"),
        lambda: hub.orchestration.supply.restore(hub.orchestration.supply.export()),
        lambda: setattr(clock, "now", clock.now + timedelta(days=1)),
    ]
    for n, change in enumerate(changes, start=1):
        before = _decisions(hub, order_id)
        change()
        _count(hub, "wh-berlin", 50 + n)  # at the excluded source: wakes only after a change
        hub.deliver()
        assert _decisions(hub, order_id) == before + 1, n
        _count(hub, "wh-berlin", 60 + n)
        hub.deliver()
        assert _decisions(hub, order_id) == before + 1, n


def test_an_order_another_process_decided_is_decided_as_before(hub: Hub) -> None:
    order_id = _waiting(hub)
    before = _decisions(hub, order_id)
    hub.orchestration.waiting.decided(order_id, None)  # as if another worker had decided it
    _count(hub, "wh-berlin", 50)
    hub.deliver()
    assert _decisions(hub, order_id) == before + 1


def test_an_order_the_backorder_view_does_not_list_yet_is_woken(hub: Hub) -> None:
    order_id = _waiting(hub)
    # As if the view's consumer were behind the orchestration role's (distributed, a worker's
    # consumers read at their own pace): the stock event comes first.
    with hub.backorders._db.transaction() as cur:
        cur.execute("DELETE FROM backorder_lines WHERE order_id = ?", (str(order_id),))
    assert hub.backorders.waiters_of([SKU], {}) == {}
    # A sweep in between does not see it (the view lists it nowhere), nor forget it yet.
    assert hub.orchestrator.sweep_backorders() == 0
    _count(hub, "wh-lyon", 9)
    hub.deliver()
    assert _status(hub, order_id) == "routed"


def test_the_sweep_is_still_a_net_for_a_missed_wake_up(hub: Hub) -> None:
    order_id = _waiting(hub)
    _count(hub, "wh-lyon", 9)  # not delivered: the wake-up is missed
    assert hub.orchestrator.sweep_backorders() == 1
    assert _status(hub, order_id) == "routed"


def test_a_rule_that_reads_stock_wakes_it_at_the_source_it_excluded(hub: Hub) -> None:
    hub.policies.publish(DEEP_STOCK, actor="user:admin")
    # Lyon has 3: the rule excludes it (fewer than 8), so the order waits on Lyon too.
    order_id = _waiting(hub)
    _count(hub, "wh-lyon", 9)  # its verdict on Lyon changes with Lyon's stock
    hub.deliver()
    assert _status(hub, order_id) == "routed"


NO_STORES = """id: no-stores
version: 1
name: No stores
applies_to:
  countries: [IT]
"""

DEEP_STOCK = """id: deep-stock
version: 1
name: Deep stock only
applies_to:
  countries: [FR]
eligibility:
  - name: deep-stock-only
    condition: has(source.stock["RED-CHAIR"]) && source.stock["RED-CHAIR"].available >= 8
"""
