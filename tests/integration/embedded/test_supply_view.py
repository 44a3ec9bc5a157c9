"""The in-memory supply view routing reads, and routing from it with the store as the arbiter."""

import logging
from collections.abc import Callable, Iterator
from datetime import timedelta
from pathlib import Path
from uuid import UUID

import pytest
from eventsourcing.domain import DomainEvent
from eventsourcing.utils import get_topic

from aggregates.order import Order, OrderStatus
from aggregates.policy import PolicyVersions
from aggregates.source import FulfillmentSource
from aggregates.stock import StockItem
from hub.bootstrap import Hub
from hub.services.decision_records import explanation_of
from hub.services.orchestration import OrchestrationService
from hub.services.supply_view import TOPICS, Holding, SupplyView
from orchestration_policies.explain_record import explain_record
from schemas.decision_record import DecisionRecord
from schemas.sources import StockDelta, StockSnapshot
from tests.contracts.factories import NOW, fixed_clock, source_definition, submit_order
from tests.support.running_hub import embedded_hub

SKU = "RED-CHAIR"
ADMIN = "user:admin"
# Nothing kept back for vip orders, so that one unit on hand is one unit to take.
NOTHING_KEPT_BACK = """
id: nothing-kept-back
version: 1
name: Nothing kept back
holds: []
split:
  max_shipments: 2
backorder: allow
"""


@pytest.fixture
def hub(tmp_path: Path) -> Iterator[Hub]:
    the_hub = embedded_hub(tmp_path, fixed_clock(NOW))
    for n, source_id in enumerate(["wh-lyon", "wh-paris", "store-lille"]):
        the_hub.catalog.register_source(source_definition(source_id, lat=45.0 + n), actor=ADMIN)
    the_hub.policies.publish(NOTHING_KEPT_BACK, actor=ADMIN)
    yield the_hub
    the_hub.close()


def _stock(hub: Hub, source_id: str, on_hand: int, sku: str = SKU) -> None:
    hub.catalog.apply_stock(StockSnapshot(source_id=source_id, sku=sku, on_hand=on_hand), ADMIN)


def _place(hub: Hub, external_id: str, sku: str = SKU, quantity: int = 1) -> UUID:
    command = submit_order(
        external_id=external_id,
        payment_state="authorized",
        lines=[{"line_id": "1", "sku": sku, "quantity": quantity, "unit_price": "19.90"}],
    )
    (placed,) = hub.intake.place_orders([command])
    return placed.order_id


def _order(hub: Hub, order_id: UUID) -> Order:
    order = hub.intake.find(order_id)
    assert order is not None
    return order


# --- the view ---------------------------------------------------------------------------------


def test_the_view_kept_current_equals_a_rebuild_from_the_store(hub: Hub) -> None:
    view = hub.orchestration.supply
    _stock(hub, "wh-lyon", 5)
    _stock(hub, "wh-paris", 2)
    _stock(hub, "wh-paris", 3, sku="BLUE-LAMP")
    view.refresh()
    first = _place(hub, "WEB-V1", quantity=4)
    hub.orchestration.orchestrate(first)
    hub.catalog.apply_stock(
        StockDelta(source_id="wh-lyon", sku=SKU, delta=7, reason="receipt"), ADMIN
    )
    hub.catalog.pause_source("store-lille", "stock take", ADMIN)
    hub.catalog.register_source(source_definition("wh-paris", lat=48.85), actor=ADMIN)  # redefined
    hub.orchestration.orchestrate(_place(hub, "WEB-V2", quantity=2))
    for source_id in ("wh-lyon", "wh-paris"):
        # One shipment leaves with less than was reserved, another is given back.
        item = hub.catalog.find_stock(source_id, SKU)
        assert item is not None
        keys = sorted(item.reservations)
        if keys:
            item.consume(keys[0], 1, at=NOW)
        if len(keys) > 1:
            item.release(keys[1], at=NOW, reason="cancelled")
        hub.store.save(item)
    view.refresh()

    rebuilt = SupplyView(hub.store)
    rebuilt.refresh()

    assert view.snapshot() == rebuilt.snapshot()
    assert view.position == rebuilt.position == hub.store.max_position()
    lyon = hub.catalog.find_stock("wh-lyon", SKU)
    assert lyon is not None
    assert view.holding("wh-lyon", SKU) == Holding(
        lyon.on_hand, lyon.reserved, lyon.safety_stock, lyon.version
    )
    assert view.holders([SKU, "BLUE-LAMP", "NOWHERE"]) == {
        SKU: ["wh-lyon", "wh-paris"],
        "BLUE-LAMP": ["wh-paris"],
        "NOWHERE": [],
    }
    paused = view.source("store-lille")
    paris = view.source("wh-paris")
    assert paused is not None and paused.active is False
    assert paris is not None and paris.definition["lat"] == 48.85
    assert sum(view.shipments_on(NOW.date()).values()) == 2


def test_stock_events_and_requests_read_from_their_json_make_the_view_the_mapper_makes(
    hub: Hub, monkeypatch: pytest.MonkeyPatch
) -> None:
    _stock(hub, "wh-lyon", 5)
    _stock(hub, "wh-paris", 2)
    hub.orchestration.orchestrate(_place(hub, "WEB-J1", quantity=3))
    hub.orchestration.orchestrate(_place(hub, "WEB-J2", quantity=2))
    hub.catalog.apply_stock(
        StockDelta(source_id="wh-lyon", sku=SKU, delta=-1, reason="damaged"), ADMIN
    )
    _stock(hub, "wh-paris", 4)  # counted again
    for source_id in ("wh-lyon", "wh-paris"):
        item = hub.catalog.find_stock(source_id, SKU)
        assert item is not None
        keys = sorted(item.reservations)
        if keys:
            item.consume(keys[0], 1, at=NOW)  # reserved more than shipped: the rest freed
        if len(keys) > 1:
            item.release(keys[1], at=NOW, reason="cancelled")
        hub.store.save(item)
    decoded: list[str] = []
    mapper = hub.store.mapper
    to_domain_event = mapper.to_domain_event

    def counted(stored: object) -> object:
        decoded.append(stored.topic)  # type: ignore[attr-defined]
        return to_domain_event(stored)  # type: ignore[arg-type]

    monkeypatch.setattr(mapper, "to_domain_event", counted)
    from_json = SupplyView(hub.store)
    from_json.refresh()
    stock_topic = get_topic(StockItem)
    names = {t.rpartition(".")[2] for t in TOPICS if t.startswith(stock_topic + ".")}
    assert names == {"Registered", "Counted", "Adjusted", "Reserved", "Released", "Consumed"}
    assert not [t for t in decoded if t.startswith(stock_topic + ".")]  # none by the mapper
    requested = get_topic(Order) + ".FulfillmentRequested"  # their source and time alone
    assert requested in TOPICS and requested not in decoded

    monkeypatch.setattr("hub.services.supply_view._plain_mapper", lambda mapper: False)
    by_mapper = SupplyView(hub.store)
    by_mapper.refresh()
    assert {t.rpartition(".")[2] for t in decoded if t.startswith(stock_topic + ".")} == names
    assert requested in decoded
    assert from_json.snapshot() == by_mapper.snapshot()
    assert sum(from_json.shipments_on(NOW.date()).values()) == 2
    assert from_json.position == by_mapper.position == hub.store.max_position()


@pytest.mark.parametrize("aggregate", [StockItem, FulfillmentSource, PolicyVersions])
def test_the_view_follows_every_event_of_stock_sources_and_policies(aggregate: type) -> None:
    names = {
        name
        for name, v in vars(aggregate).items()
        if isinstance(v, type) and issubclass(v, DomainEvent) and name != "Event"
    }
    if "Registered" in names:
        names.discard("Created")  # the library's default, unused when __init__ names its own
    assert names
    assert {get_topic(getattr(aggregate, name)) for name in names} <= set(TOPICS)


def test_a_refresh_with_nothing_new_reads_nothing(hub: Hub) -> None:
    view = SupplyView(hub.store)
    assert view.refresh() > 0  # the rebuild at start
    _place(hub, "WEB-V3")  # order events only: nothing the view keeps

    assert view.refresh() == 0
    assert view.position == hub.store.max_position()


# --- routing from the view --------------------------------------------------------------------


def test_only_sources_holding_the_order_are_candidates_and_the_rest_are_counted(
    hub: Hub,
) -> None:
    _stock(hub, "wh-lyon", 5)
    order_id = _place(hub, "WEB-V4")

    result = hub.orchestration.orchestrate(order_id)

    assert result.outcome == "routed"
    order = _order(hub, order_id)
    assert order.decision is not None and order.decision.explanation is not None
    explanation = order.decision.explanation
    assert [c.source_id for c in explanation.candidates] == ["wh-lyon"]
    assert explanation.omitted == {"holds_none": 2}
    text = explanation_of(order)
    assert text is not None and "Not listed: 2 source(s) holding none of the ordered SKUs." in text


def test_an_order_for_a_sku_held_nowhere_waits_for_stock_as_before(hub: Hub) -> None:
    order_id = _place(hub, "WEB-V5", sku="GHOST-SKU")

    result = hub.orchestration.orchestrate(order_id)

    # Sources that may ship it exist, they just hold none: the line waits (not unroutable).
    assert result.outcome == "backordered"
    order = _order(hub, order_id)
    assert order.decision is not None and order.decision.explanation is not None
    assert [b.reason for b in order.decision.backordered] == ["no_stock"]
    assert order.decision.explanation.candidates == ()
    assert order.decision.explanation.omitted == {"holds_none": 3}


def test_an_order_no_source_may_ship_is_unroutable_and_says_why(hub: Hub) -> None:
    _stock(hub, "wh-lyon", 5)
    for source_id in ("wh-lyon", "wh-paris", "store-lille"):
        hub.catalog.pause_source(source_id, "closed", ADMIN)
    order_id = _place(hub, "WEB-V6")

    result = hub.orchestration.orchestrate(order_id)

    assert result.outcome == "unroutable"
    order = _order(hub, order_id)
    assert order.decision is not None and order.decision.explanation is not None
    assert [u.reason for u in order.decision.unallocated] == ["no_eligible_source"]
    explanation = order.decision.explanation
    assert [(c.source_id, c.rule) for c in explanation.candidates] == [("wh-lyon", "inactive")]
    assert explanation.omitted == {"excluded:inactive": 2}


class LateView(SupplyView):
    """A view that, once, lets `meanwhile` happen right after it refreshed: it is then stale."""

    def __init__(self, hub: Hub) -> None:
        super().__init__(hub.store)
        self.meanwhile: Callable[[], object] | None = None

    def refresh(self) -> int:
        applied = super().refresh()
        if self.meanwhile is not None:
            meanwhile, self.meanwhile = self.meanwhile, None
            meanwhile()
        return applied


def _second_orchestrator(hub: Hub) -> tuple[OrchestrationService, LateView]:
    view = LateView(hub)
    return OrchestrationService(hub.store, hub.policies, fixed_clock(NOW), view), view


def test_two_orders_racing_for_the_last_unit_from_stale_views_never_oversell(
    hub: Hub, caplog: pytest.LogCaptureFixture
) -> None:
    caplog.set_level(logging.INFO, logger="hub.services.orchestration")
    _stock(hub, "wh-lyon", 1)
    first, second = _place(hub, "WEB-R1"), _place(hub, "WEB-R2")
    late, view = _second_orchestrator(hub)
    # The other orchestrator takes the last unit after this one's view was refreshed.
    view.meanwhile = lambda: hub.orchestration.orchestrate(first)

    result = late.orchestrate(second)

    assert (result.outcome, result.attempts) == ("backordered", 2)  # decided again, refreshed
    # The item, known by the stale view's totals, took the unit at the version the view had;
    # the store had moved past it and refused the reservation (stock_reservations).
    assert "deciding again (attempt 1)" in caplog.text
    assert "available; deciding again" not in caplog.text
    assert _order(hub, first).status is OrderStatus.ROUTED
    item = hub.catalog.find_stock("wh-lyon", SKU)
    assert item is not None and (item.on_hand, item.reserved) == (1, 1)
    assert [k.split(":")[0] for k in item.reservations] == [str(first)]


def test_an_orchestrator_whose_own_last_save_the_store_moved_past_decides_again(
    hub: Hub, caplog: pytest.LogCaptureFixture
) -> None:
    caplog.set_level(logging.INFO, logger="hub.services.orchestration")
    _stock(hub, "wh-lyon", 3)
    late, view = _second_orchestrator(hub)
    assert late.orchestrate(_place(hub, "WEB-C1")).outcome == "routed"  # its view: its own save
    other, mine = _place(hub, "WEB-C2", quantity=2), _place(hub, "WEB-C3", quantity=2)
    # Its view knows wh-lyon's item at a version the store has moved past.
    view.meanwhile = lambda: hub.orchestration.orchestrate(other)

    result = late.orchestrate(mine)

    assert (result.outcome, result.attempts) == ("backordered", 2)
    # The reservation by the view's totals went through; the store refused its version.
    assert "available; deciding again" not in caplog.text
    assert "deciding again (attempt 1)" in caplog.text
    item = hub.catalog.find_stock("wh-lyon", SKU)
    assert item is not None and (item.on_hand, item.reserved) == (3, 3)
    holders = {k.split(":")[0] for k in item.reservations}
    assert str(other) in holders and str(mine) not in holders


# --- decision records of earlier releases -----------------------------------------------------

OLD_TEXT = "Order x was decided at 2026-11-20T09:00:00+00:00 by policy default version 1."


def test_a_routed_event_of_an_earlier_release_keeps_its_stored_text(hub: Hub) -> None:
    order_id = _place(hub, "WEB-OLD")
    order = _order(hub, order_id)
    # The shape recorded before decisions were sized for scale: every candidate, text stored.
    old_decision = {
        "order_id": str(order_id),
        "policy": {"id": "default", "version": 1},
        "decided_at": NOW.isoformat(),
        "shipments": {},
        "shipment_details": [],
        "unallocated": [],
        "backordered": [{"line_id": "1", "sku": SKU, "quantity": 1, "reason": "no_stock"}],
        "held": None,
        "rejected": None,
        "explanation": {
            "criteria": ["distance_km"],
            "weights": {"distance_km": 1.0},
            "normalisation": {},
            "split_penalty": 0.1,
            "candidates": [
                {"source_id": "wh-lyon", "status": "no_stock", "detail": "holds none", "usable": {}}
            ],
            "plan": {"summary": "nothing to plan", "proposed_sources": []},
            "tie_breaks": [],
            "condition_errors": [],
        },
    }
    order.route(
        decision=DecisionRecord.from_plain(old_decision),
        decision_digest="sha256:old",
        explanation=OLD_TEXT,
        inputs_digest="sha256:inputs",
        shipments=[],
        waiting={"1": 1},
        unroutable_reason=None,
        actor="system:orchestrator",
        now=NOW + timedelta(minutes=1),
    )
    hub.store.save(order)

    reloaded = _order(hub, order_id)

    assert explanation_of(reloaded) == OLD_TEXT
    # And the old record, without counts of omitted sources, can still be put in words.
    derived = explain_record(reloaded.decision)
    assert "Backordered: 1 x RED-CHAIR (line 1) — no stock." in derived
    assert "  -- wh-lyon: eligible, but holds none." in derived
    assert "Not listed" not in derived
