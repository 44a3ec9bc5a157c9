"""Re-routing keeps what is already on its way: holds, rejections and unroutable lines."""

from datetime import UTC, datetime
from typing import Any

from aggregates import Order, OrderStatus
from aggregates.order_values import RequestedShipment, ShipmentLine
from schemas.fulfillment import UpdateKind
from schemas.submission import OrderSubmission
from tests.contracts.factories import recorded_decision

NOW = datetime(2026, 11, 21, 10, 0, tzinfo=UTC)


def _order() -> Order:
    submission: dict[str, Any] = {
        "channel": "web-shop",
        "external_id": "WEB-77",
        "placed_at": "2026-11-20T10:00:00+00:00",
        "customer": {"id": "C1"},
        "ship_to": {
            "name": "Ana",
            "line1": "12 rue de la République",
            "city": "Lyon",
            "postal_code": "69002",
            "country": "FR",
        },
        "currency": "EUR",
        "lines": [
            {"line_id": "1", "sku": "RED-CHAIR", "quantity": 1, "unit_price": "10"},
            {"line_id": "2", "sku": "OAK-TABLE", "quantity": 1, "unit_price": "90"},
        ],
    }
    order = Order(
        channel="web-shop",
        external_id="WEB-77",
        submission=OrderSubmission.model_validate(submission),
        digest="d",
        raw_payload="{}",
        actor="channel:web-shop",
        correlation_id="c",
        received_at=NOW,
    )
    order.take_intake_decision("system:intake", NOW)
    return order


def _route(order: Order, shipments: list[tuple[str, str, str]], **kw: Any) -> None:
    order.route(
        decision=recorded_decision(),
        decision_digest="x",
        explanation="",
        inputs_digest="i",
        shipments=[
            RequestedShipment(sid, src, (ShipmentLine(lid, "S", 1),)) for sid, src, lid in shipments
        ],
        waiting=kw.get("waiting", {}),
        unroutable_reason=kw.get("unroutable"),
        actor="system:orchestrator",
        now=NOW,
    )


def test_releasing_a_hold_on_a_re_route_routes_only_the_lines_still_waiting() -> None:
    order = _order()
    _route(order, [("s1", "wh-lyon", "1"), ("s2", "wh-lille", "2")])
    order.apply_update("s2", "wh-lille", UpdateKind.REJECTED, "source:wh-lille", NOW, reason="x")
    order.put_on_hold("manual-review", "big order", "system:orchestrator", NOW)

    order.release_hold("checked", actor="user:alice", now=NOW)

    assert order.status is OrderStatus.REROUTING
    assert set(order.lines_to_route()) == {"2"}, "line 1 is already on its way from wh-lyon"


def test_a_line_no_source_can_take_is_an_exception_even_when_the_others_ship() -> None:
    order = _order()
    _route(order, [("s1", "wh-lyon", "1")], unroutable="2: no_eligible_source")

    assert order.status is OrderStatus.UNROUTABLE
    order.apply_update(
        "s1", "wh-lyon", UpdateKind.SHIPPED, "source:wh-lyon", NOW, carrier="DHL", tracking="T1"
    )
    assert order.status is OrderStatus.UNROUTABLE, "still needs a person, not 'shipped'"


def test_a_withdrawn_shipment_does_not_hide_that_the_revision_found_no_source() -> None:
    order = _order()
    _route(order, [("s1", "wh-lyon", "1"), ("s2", "wh-lyon", "2")])
    revised = order.submission.model_copy(update={"lines": order.submission.lines[:1]})
    order.change(revised, "d2", "{}", actor="user:alice", now=NOW)

    _route(order, [], unroutable="1: no_stock")

    assert order.status is OrderStatus.UNROUTABLE
