"""An order's first routing and its reservations on items known by their totals, written
straight to their stored form (hub.services.routed_events, reserved_events), are what
`Order.route`, `StockItem.reserve` and the mapper store, byte for byte (but the first
routing's decision, stored as its digest's canonical JSON: keys sorted), and load as the same
orders; a reservation is refused as the aggregate refuses it."""

import json
import random
from datetime import datetime
from pathlib import Path
from typing import Any

import pytest
from eventsourcing.domain import CanCreateTimestamp

from aggregates import Order
from aggregates.stock import StockItem
from benchmarks.route_profile import NOW, build_network, order_command, sku_name
from hub.bootstrap import Hub, bootstrap
from hub.services.intake import SubmitOrder
from hub.services.reserved_events import ReservedEvents, TotalsItem
from hub.services.routed_events import RoutedOrderEvents
from hub.settings import Settings
from hub.store import OrderStore
from orchestration_policies.explain_record import record_digest
from schemas.decision_record import DecisionRecord
from schemas.submission import OrderSubmission

STAMP = datetime(2026, 11, 20, 9, 0, 1, 234567, tzinfo=NOW.tzinfo)
SKUS = 300


def _shaped(command: SubmitOrder, n: int) -> SubmitOrder:
    """Values the writers could disagree on, one order in a few: texts outside ASCII and with
    escapes, a float below 1e-4, a promised time, another delivery method, no coordinates."""
    data = command.submission.model_dump(mode="json")
    shape = n % 5
    if shape == 1:
        data["ship_to"]["name"] = 'Zoë "Ünal" 東京 🚚 \\ x'
        data["ship_to"]["lat"] = 0.00001
    elif shape == 2:
        data["promised_by"] = "2026-11-23T18:00:00+02:00"
        data["delivery_method"] = "express"
    elif shape == 3:
        data["ship_to"]["lat"] = data["ship_to"]["lon"] = None
        data["customer"]["demand_class"] = "vip"
    submission = OrderSubmission.model_validate(data)
    return SubmitOrder(submission, command.raw_payload, command.actor, command.correlation_id)


def _hub(tmp_path: Path, direct: bool) -> Hub:
    settings = Settings(data_dir=tmp_path, kafka_bootstrap=None)
    hub = bootstrap(settings, clock=lambda: NOW)
    orchestration = hub.orchestrator._orchestration
    orchestration._routed.usable = orchestration._routed.usable and direct
    reserved = orchestration._items._reserved
    reserved.usable = reserved.usable and direct
    build_network(hub, random.Random(7), 12, SKUS)
    hub.deliver()
    return hub


def _route(hub: Hub) -> tuple[list[tuple[Any, ...]], list[str], list[Any]]:
    """The same orders, in batches and alone; then scarce SKUs counted up and the waiting
    orders routed again (their second routing takes the aggregate's path)."""
    rng = random.Random(11)
    commands = [_shaped(order_command(rng, n, SKUS), n) for n in range(60)]
    hub.intake.place_orders(commands)
    orchestration = hub.orchestrator._orchestration
    ids = [c.order_id for c in commands]
    start = hub.store.max_position()
    results = [*orchestration.orchestrate_many(ids[:40]), orchestration.orchestrate(ids[40])]
    results += orchestration.orchestrate_many(ids[41:])
    counted = [
        item
        for item in hub.store.get_many(
            [
                StockItem.create_id(f"src-{s:03d}", sku_name(k))
                for s in range(12)
                for k in range(0, SKUS, 10)  # the scarce ones
            ]
        ).values()
    ]
    for item in counted:
        item.count(item.on_hand + 50, item.safety_stock, at=NOW, reason="recount")
    hub.store.save(*counted)
    results += orchestration.orchestrate_many(ids)
    log = [
        (n.originator_id, n.originator_version, n.topic, n.state)
        for n in hub.store.recorder.select_notifications(start, 100_000, inclusive_of_start=False)
    ]
    orders = [hub.store.repository.get(order_id) for order_id in ids]
    return log, [f"{r.order_id} {r.outcome} {r.status}" for r in results], orders


def _decision_keys_sorted(state: bytes) -> bytes:
    """The aggregate's stored `Routed` with its decision's keys sorted, as the transcoder (the
    standard library) writes it: what the straight writer stores."""
    values = json.loads(state)
    values["decision"] = json.loads(json.dumps(values["decision"], sort_keys=True))
    return json.dumps(values, separators=(",", ":"), ensure_ascii=False).encode()


def test_routings_stored_straight_are_the_aggregates_byte_for_byte(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setattr(CanCreateTimestamp, "create_timestamp", staticmethod(lambda: STAMP))
    direct = _hub(tmp_path / "direct", direct=True)
    through = _hub(tmp_path / "aggregate", direct=False)
    assert direct.orchestrator._orchestration._routed.usable
    assert not through.orchestrator._orchestration._routed.usable

    log, results, orders = _route(direct)
    expected_log, expected_results, expected_orders = _route(through)

    assert results == expected_results
    outcomes = {r.split()[1] for r in results}
    assert {"routed", "backordered", "skipped"} <= outcomes  # first routings and re-routings
    assert len(log) == len(expected_log)
    sorted_decisions = 0
    for got, wanted in zip(log, expected_log, strict=True):
        if got != wanted:  # a first routing's decision stored as its digest's canonical JSON
            assert got[:3] == wanted[:3] and got[2].endswith("Order.Routed")
            assert got[3] == _decision_keys_sorted(wanted[3])
            sorted_decisions += 1
    assert sorted_decisions >= 50
    topics = [entry[2] for entry in log]
    assert sum(t.endswith("Order.Routed") for t in topics) > 60  # some routed twice
    assert sum(t.endswith("StockItem.Reserved") for t in topics) > 100
    for order, expected in zip(orders, expected_orders, strict=True):
        assert isinstance(order, Order)
        assert (order.version, order.status, order.waiting) == (
            expected.version,
            expected.status,
            expected.waiting,
        )
        assert order.shipments == expected.shipments
        assert order.decision == expected.decision
    direct.close()
    through.close()


def test_a_decision_stored_as_its_canonical_json_loads_verifies_and_is_written_back(
    tmp_path: Path,
) -> None:
    """A first routing stores the decision's canonical JSON (keys sorted, the digest's bytes):
    it loads as a typed record whose digest verifies, and the mapper writes the loaded event
    back byte for byte, as it does a decision stored by an earlier release in its own key
    order (tests/integration/test_release_data.py)."""
    hub = _hub(tmp_path, direct=True)
    rng = random.Random(5)
    commands = [_shaped(order_command(rng, n, SKUS), n) for n in range(20)]
    hub.intake.place_orders(commands)
    start = hub.store.max_position()
    hub.orchestrator._orchestration.orchestrate_many([c.order_id for c in commands])
    routed = [
        n
        for n in hub.store.recorder.select_notifications(start, 1_000, inclusive_of_start=False)
        if n.topic.endswith("Order.Routed")
    ]
    assert len(routed) == 20
    for stored in routed:
        event: Any = hub.store.mapper.to_domain_event(stored)
        record = event.decision
        assert isinstance(record, DecisionRecord) and record.explanation is not None
        canonical = json.dumps(record.plain(), sort_keys=True, separators=(",", ":"))
        assert json.dumps(json.loads(stored.state)["decision"], separators=(",", ":")) == (
            canonical  # stored with its keys sorted
        )
        assert record_digest(record) == event.decision_digest
        assert hub.store.mapper.to_stored_event(event).state == stored.state
    hub.close()


def test_a_store_that_compresses_is_left_to_the_aggregate() -> None:
    store = OrderStore(
        env={
            "PERSISTENCE_MODULE": "eventsourcing.popo",
            "COMPRESSOR_TOPIC": "eventsourcing.compressor:ZlibCompressor",
        }
    )
    assert not RoutedOrderEvents(store).usable


@pytest.mark.parametrize(
    ("reservations", "quantity"),
    [((), 0), ((), -1), ((), 4), (("a",), 2), ((), 3), (("b",), 1)],
)
def test_a_reservation_is_refused_or_taken_as_by_the_aggregate(
    reservations: tuple[str, ...], quantity: int, monkeypatch: pytest.MonkeyPatch
) -> None:
    """On hand 10, reserved 4, safety stock 3: 3 available; then the key "a" again."""
    monkeypatch.setattr(CanCreateTimestamp, "create_timestamp", staticmethod(lambda: STAMP))
    store = OrderStore(env={"PERSISTENCE_MODULE": "eventsourcing.popo"})
    totals = (10, 4, 3)
    item = StockItem.by_totals("dc-1", "SKU-1", totals, 7, NOW)
    known = TotalsItem("dc-1", "SKU-1", totals, 7, ReservedEvents(store, lambda: STAMP))

    def outcome(target: Any) -> str:
        try:
            for key in reservations:
                target.reserve(key, 1, at=NOW)
            target.reserve("a", quantity, at=NOW)
        except Exception as error:
            return f"{type(error).__name__}: {error}"
        return f"taken: {target.available} available"

    result = outcome(known)
    assert result == outcome(item)
    events = [store.mapper.to_stored_event(e) for e in item.collect_events()]
    assert known.stored_events == events
    assert len(events) == len(reservations) + result.startswith("taken")
