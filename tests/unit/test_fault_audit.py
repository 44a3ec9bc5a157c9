"""The fault suite's audit counts what a broken hub would do: lost, doubled, oversold, stuck."""

from datetime import UTC, datetime
from typing import Any

from benchmarks.faults.audit import LogAudit
from schemas.envelope import Actor, ActorKind, EventEnvelope

NOW = datetime(2026, 11, 20, 8, 0, tzinfo=UTC)


class History:
    def __init__(self) -> None:
        self.events: list[EventEnvelope] = []
        self._versions: dict[str, int] = {}

    def add(self, subject: str, kind: str, **data: Any) -> None:
        version = self._versions.get(subject, 0) + 1
        self._versions[subject] = version
        self.events.append(
            EventEnvelope(
                id=f"{subject}-{version}",
                source="/orderhub/test",
                type=f"orderhub.{kind}",
                subject=subject,
                time=NOW,
                sequence=version,
                correlationid=subject,
                causationid=subject,
                actor=Actor(kind=ActorKind.SYSTEM, id="test"),
                schemaversion=1,
                data=data,
            )
        )

    def order(self, oid: str, quantity: int = 2) -> None:
        lines = [{"line_id": "1", "sku": "RED-CHAIR", "quantity": quantity}]
        self.add(oid, "order.placed", submission={"lines": lines})
        self.add(oid, "order.accepted")

    def routed(self, oid: str, shipment: str, quantity: int = 2, waiting: bool = False) -> None:
        waiting_lines = [{"line_id": "1", "quantity": 1}] if waiting else []
        self.add(oid, "order.routed", waiting_lines=waiting_lines, unroutable_reason=None)
        lines = [{"line_id": "1", "sku": "RED-CHAIR", "quantity": quantity}]
        self.add(oid, "order.fulfillment_requested", shipment_id=shipment, lines=lines)


def audit(history: History, acknowledged: list[str]) -> Any:
    log = LogAudit()
    log.add(history.events)
    return log.result(acknowledged)


def test_a_clean_history_counts_nothing_wrong() -> None:
    h = History()
    h.order("o1")
    h.routed("o1", "o1-s1")
    h.order("o2")
    h.add("o2", "order.held", reason="payment")
    result = audit(h, ["o1", "o2"])
    assert (result.lost, result.routed_twice, result.stuck) == ([], [], [])
    assert result.shipments_requested_twice == 0
    assert result.over_allocated_orders == []


def test_an_acknowledged_order_missing_from_the_log_is_lost_and_an_undecided_one_stuck() -> None:
    h = History()
    h.order("o1")
    result = audit(h, ["o1", "o9"])
    assert result.lost == ["o9"]
    assert result.stuck == ["o1"]


def test_routing_again_without_a_reason_is_counted_and_with_one_is_not() -> None:
    h = History()
    h.order("twice")
    h.routed("twice", "a", quantity=1)
    h.routed("twice", "b", quantity=1)
    h.order("rerouted")
    h.routed("rerouted", "c")
    h.add("rerouted", "order.shipment_rejected", shipment_id="c")
    h.routed("rerouted", "d")
    h.order("backordered")
    h.routed("backordered", "e", quantity=1, waiting=True)
    h.routed("backordered", "f", quantity=1)
    result = audit(h, ["twice", "rerouted", "backordered"])
    assert result.routed_twice == ["twice"]
    assert result.over_allocated_orders == []


def test_lines_shipped_from_two_open_shipments_beyond_the_ordered_quantity() -> None:
    h = History()
    h.order("o1", quantity=2)
    h.routed("o1", "a", quantity=2)
    h.add("o1", "order.shipment_rejected", shipment_id="zzz")  # another shipment: no relief
    h.routed("o1", "b", quantity=2)
    assert audit(h, ["o1"]).over_allocated_orders == ["o1"]


def test_a_reservation_beyond_what_was_available_is_an_oversell() -> None:
    h = History()
    h.add("s1", "stock_item.registered", on_hand=3, safety_stock=0)
    h.add("s1", "stock_item.reserved", order_id="o1", quantity=2)
    h.add("s1", "stock_item.reserved", order_id="o2", quantity=1)
    h.add("s2", "stock_item.registered", on_hand=3, safety_stock=1)
    h.add("s2", "stock_item.reserved", order_id="o1", quantity=3)
    assert audit(h, []).oversold_items == ["s2"]
