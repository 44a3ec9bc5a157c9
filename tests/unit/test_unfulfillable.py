"""Waiting lines no holder of their SKU may ship (hub.services.waiting_orders.unfulfillable):
told apart from a wait for stock, recorded on `Routed`, stored straight as the aggregate
stores them, and `Routed` events stored before the field still load."""

import copy
from datetime import UTC, datetime
from pathlib import Path

import orjson
import pytest
from eventsourcing.domain import CanCreateTimestamp

from aggregates import Order
from aggregates.order import OrderStatus
from hub.services.intake import INTAKE_ACTOR
from hub.services.routed_events import RoutedOrderEvents
from hub.services.routing_batch import RoutingBatch
from hub.services.supply_view import SupplyView
from hub.services.waiting_orders import Waited, WaitingOrders, moving_rules, unfulfillable
from hub.store import OrderStore
from orchestration_policies import StockLevel, decide, default_policy
from orchestration_policies.decision_inputs import candidate_from
from orchestration_policies.inputs import LineToRoute, OrderToRoute
from tests.contracts.factories import NOW, placed_order, recorded_decision, source_body
from tests.unit.test_stock_by_totals import env
from tests.unit.test_waiting_orders import order_to_france

T1 = datetime(2026, 12, 5, 9, 0, tzinfo=UTC)
STAMP = datetime(2026, 11, 20, 9, 0, 1, 234567, tzinfo=UTC)
WHY = {"2": "BLUE-LAMP: held only at berlin (does_not_ship_to_country)"}


def _order() -> OrderToRoute:
    return order_to_france(
        LineToRoute("1", "A", 1), LineToRoute("2", "B", 1), LineToRoute("3", "C", 1)
    )


def test_a_waiting_line_is_unfulfillable_only_when_every_holder_is_excluded_for_good() -> None:
    candidates = [
        # B: held only where the order's country is not served (for good); lyon holds none.
        candidate_from(source_body("berlin", ships_to=["DE"]), True, {"B": StockLevel(9)}),
        # A: an eligible holder with none free (restocking may move it).
        candidate_from(source_body("paris", ships_to=["FR"]), True, {"A": StockLevel(0)}),
        # C: shipped from lyon.
        candidate_from(source_body("lyon", ships_to=["FR"]), True, {"C": StockLevel(5)}),
    ]
    policy = default_policy()
    decision = decide(_order(), candidates, policy, T1)
    assert {line.line_id for line in decision.backordered} == {"1", "2"}

    stuck = unfulfillable(_order(), decision, candidates, moving_rules([policy]))

    assert stuck == {"2": "B: held only at berlin (does_not_ship_to_country)"}
    # A rule whose verdict stock may change does not make a line unfulfillable.
    moving = frozenset({"does_not_ship_to_country"})
    assert unfulfillable(_order(), decision, candidates, moving) == {}


def _accepted() -> Order:
    order = placed_order()
    order.accept(INTAKE_ACTOR, now=NOW)
    order.collect_events()
    return order


def _route(order: Order, stuck: dict[str, str] | None) -> None:
    order.route(
        decision=recorded_decision(),
        decision_digest="sha256:d",
        explanation="",
        inputs_digest="sha256:i",
        shipments=[],
        waiting={"2": 1},
        unroutable_reason=None,
        actor="system:orchestrator",
        now=NOW,
        unfulfillable=stuck,
    )


@pytest.mark.parametrize("stuck", [WHY, None])
def test_a_routing_stored_straight_is_the_aggregates_byte_for_byte(
    monkeypatch: pytest.MonkeyPatch, stuck: dict[str, str] | None
) -> None:
    monkeypatch.setattr(CanCreateTimestamp, "create_timestamp", staticmethod(lambda: STAMP))
    store = OrderStore(env={"PERSISTENCE_MODULE": "eventsourcing.popo"})
    order = _accepted()
    through = copy.deepcopy(order)
    _route(through, stuck)
    (routed,) = [store.mapper.to_stored_event(e) for e in through.collect_events()]

    direct = RoutedOrderEvents(store).events_of(
        order, recorded_decision(), ("sha256:d", "sha256:i"), [], {"2": 1}, None,
        "system:orchestrator", NOW, stuck,
    )  # fmt: skip

    assert direct is not None
    (stored,), status = direct
    assert stored.state == routed.state
    assert status is through.status is OrderStatus.BACKORDERED
    assert through.unfulfillable == (stuck or {})


def test_a_routed_event_stored_before_the_field_still_loads() -> None:
    store = OrderStore(env={"PERSISTENCE_MODULE": "eventsourcing.popo"})
    order = placed_order()
    order.accept(INTAKE_ACTOR, now=NOW)
    _route(order, WHY)
    stored = [store.mapper.to_stored_event(e) for e in order.collect_events()]
    state = orjson.loads(stored[-1].state)
    del state["unfulfillable"]  # as a release before 2026-12-05 stored it
    stored[-1] = stored[-1].__class__(
        originator_id=stored[-1].originator_id,
        originator_version=stored[-1].originator_version,
        topic=stored[-1].topic,
        state=orjson.dumps(state),
    )
    loaded: Order | None = None
    for event in map(store.mapper.to_domain_event, stored):
        loaded = event.mutate(loaded)
    assert loaded is not None
    assert (loaded.status, loaded.waiting, loaded.unfulfillable) == (
        OrderStatus.BACKORDERED,
        {"2": 1},
        {},
    )


def test_an_order_held_with_waiting_lines_is_parked_not_woken_by_stock(tmp_path: Path) -> None:
    order = _accepted()
    _route(order, None)  # line 2 (BLUE-LAMP) waits
    order.put_on_hold("over_split_limit", "too many shipments", "system:orchestrator", NOW)
    assert order.status is OrderStatus.HELD
    batch = RoutingBatch(now=T1, policies=[], used_today={}, seen=(5, 0))

    parked = batch.parked(order)

    # Only an order event (a release) can make it routable: no SKU of it is watched for raises.
    assert parked == Waited(5, 0, T1.date(), (), ("BLUE-LAMP",))
    waiting = WaitingOrders(SupplyView(OrderStore(env=env(tmp_path / "s.db"))), lambda: T1)
    waiting.decided(order.id, parked)
    assert waiting.unchanged(order.id, {"BLUE-LAMP"})
    assert not waiting.unchanged(order.id, {"BLUE-LAMP", "RED-CHAIR"})  # the view changed
    # A policy reads the clock: nothing is skipped, as for waiting orders.
    assert RoutingBatch(now=T1, policies=[], used_today={}, seen=None).parked(order) is None
