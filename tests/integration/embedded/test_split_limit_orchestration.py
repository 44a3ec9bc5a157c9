"""The policy's shipment limit holds for the order's life, not for each decision.

An order split into the maximum number of shipments, with lines waiting for stock, must not get
more shipments when that stock arrives (or when the backorder sweep runs): what the policy says
over the limit happens instead (a hold for a person by default).
"""

from collections.abc import Iterator
from datetime import UTC, datetime
from pathlib import Path
from typing import Any
from uuid import UUID

import pytest

from aggregates import Order
from aggregates.order import ROUTABLE
from hub.bootstrap import Hub
from hub.services.decision_records import explanation_of
from hub.services.intake import SubmitOrder
from projections.exception_query import ExceptionQuery
from schemas.fulfillment import FulfillmentUpdate, UpdateKind
from schemas.sources import StockSnapshot
from schemas.submission import OrderSubmission
from tests.contracts.factories import source_definition, submission_dict
from tests.support.running_hub import embedded_hub

ADMIN = "user:admin"
SKUS = ("SKU-A", "SKU-B", "SKU-C", "SKU-D", "SKU-E")


def _policy(max_shipments: int, over_split_limit: str | None = None) -> str:
    handling = f"over_split_limit: {over_split_limit}\n" if over_split_limit else ""
    return (
        "id: few-parcels\nversion: 1\nname: Few parcels\n"
        f"split:\n  max_shipments: {max_shipments}\n{handling}"
    )


def _stock(hub: Hub, source_id: str, sku: str, on_hand: int = 5) -> None:
    hub.catalog.apply_stock(StockSnapshot(source_id=source_id, sku=sku, on_hand=on_hand), ADMIN)


def _five_line_order(hub: Hub) -> UUID:
    lines: list[dict[str, Any]] = [
        {"line_id": str(i + 1), "sku": sku, "quantity": 1, "unit_price": "10.00"}
        for i, sku in enumerate(SKUS)
    ]
    body = submission_dict(external_id="WEB-5L", payment_state="authorized", lines=lines)
    submission = OrderSubmission.model_validate(body)
    command = SubmitOrder(submission, submission.model_dump_json(), "channel:web-shop", "c1")
    (placed,) = hub.intake.place_orders([command])
    return placed.order_id


def _order(hub: Hub, order_id: UUID) -> Order:
    order = hub.intake.find(order_id)
    assert order is not None
    return order


def _live(order: Order) -> list[str]:
    return list(order.live_shipment_sources())


@pytest.fixture
def hub(tmp_path: Path) -> Iterator[Hub]:
    hub = embedded_hub(tmp_path)
    # wh-a, wh-b and wh-c each hold one of the first three SKUs; nobody holds D or E yet.
    for letter in "abcde":
        hub.catalog.register_source(source_definition(f"wh-{letter}"), actor=ADMIN)
    for letter, sku in zip("abc", SKUS, strict=False):
        _stock(hub, f"wh-{letter}", sku)
    yield hub
    hub.close()


def _split_into_three_then_stock_for_d(hub: Hub, handling: str | None = None) -> UUID:
    hub.policies.publish(_policy(3, handling), ADMIN)
    order_id = _five_line_order(hub)
    first = hub.orchestration.orchestrate(order_id)
    assert first.outcome == "backordered"
    assert _live(_order(hub, order_id)) == ["wh-a", "wh-b", "wh-c"]
    _stock(hub, "wh-d", "SKU-D")
    return order_id


def test_stock_arriving_for_a_waiting_line_does_not_add_a_fourth_shipment(hub: Hub) -> None:
    order_id = _split_into_three_then_stock_for_d(hub)

    again = hub.orchestration.orchestrate(order_id)  # what a stock change or the sweep does

    order = _order(hub, order_id)
    assert _live(order) == ["wh-a", "wh-b", "wh-c"]
    assert again.outcome == "held"
    assert order.status.value == "held"
    assert order.hold is not None and order.hold.rule == "over_split_limit"
    assert "wh-d" in order.hold.reason  # the alternative a person can choose
    assert order.decision is not None
    overflow = order.decision.over_split_limit
    assert overflow is not None and overflow.limit == 3 and overflow.live_before == 3
    assert overflow.alternatives == {"4": ("wh-d",)}
    # The sweep does not touch a held order, and a live shipment moving on keeps it held.
    position = hub.store.max_position()
    assert hub.orchestration.orchestrate(order_id).outcome == "skipped"
    assert hub.store.max_position() == position
    shipment_id = next(iter(order.shipments))
    source_id = order.shipments[shipment_id].source_id
    hub.fulfillment.apply_update(
        FulfillmentUpdate(
            order_id=order_id,
            shipment_id=shipment_id,
            source_id=source_id,
            kind=UpdateKind.ACCEPTED,
            at=datetime.now(UTC),
        )
    )
    assert _order(hub, order_id).status.value == "held"
    hub.deliver()  # the read models follow the log
    row = hub.order_status.get(str(order_id))
    assert row is not None and row.status == "held"
    assert row.reasons and row.reasons[0].startswith("over_split_limit: ")
    (over,) = [
        r for r in hub.exceptions.queue(ExceptionQuery()).rows if r.kind == "over_split_limit"
    ]
    assert "SKU-D" in over.reason and "wh-d" in over.reason


def test_a_person_releasing_the_hold_lets_the_rest_ship_beyond_the_limit(hub: Hub) -> None:
    order_id = _split_into_three_then_stock_for_d(hub)
    hub.orchestration.orchestrate(order_id)

    hub.ops.release_hold(order_id, "one more parcel is fine", actor="user:ops")
    result = hub.orchestration.orchestrate(order_id)

    order = _order(hub, order_id)
    assert _live(order) == ["wh-a", "wh-b", "wh-c", "wh-d"]
    assert result.outcome == "backordered"  # SKU-E has no stock anywhere: it still waits
    assert order.waiting == {"5": 1}


def test_a_rejected_shipment_frees_its_place_under_the_limit(hub: Hub) -> None:
    order_id = _split_into_three_then_stock_for_d(hub)
    order = _order(hub, order_id)
    rejected = next(sid for sid, s in order.shipments.items() if s.source_id == "wh-c")
    _stock(hub, "wh-e", "SKU-C")  # somewhere else for the rejected line
    hub.fulfillment.apply_update(
        FulfillmentUpdate(
            order_id=order_id,
            shipment_id=rejected,
            source_id="wh-c",
            kind=UpdateKind.REJECTED,
            at=datetime.now(UTC),
            reason="damaged",
        )
    )

    hub.orchestration.orchestrate(order_id)

    # SKU-C and SKU-D both wait and one place is free: one of the two lines fits, the other
    # does not, so the order waits for a person (nothing new ships meanwhile).
    order = _order(hub, order_id)
    assert _live(order) == ["wh-a", "wh-b"]
    decision = order.decision
    assert decision is not None and decision.over_split_limit is not None
    assert decision.explanation is not None
    assert decision.over_split_limit.live_before == 2
    assert len(decision.explanation.plan.proposed_sources) == 1
    assert len(decision.over_split_limit.lines) == 1


@pytest.mark.parametrize(
    ("handling", "outcome", "live"),
    [
        ("ship_rest_from_next_best", "backordered", ["wh-a", "wh-b", "wh-c", "wh-d"]),
        ("reject", "unroutable", ["wh-a", "wh-b", "wh-c"]),
    ],
)
def test_the_policy_chooses_what_happens_over_the_limit(
    hub: Hub, handling: str, outcome: str, live: list[str]
) -> None:
    order_id = _split_into_three_then_stock_for_d(hub, handling)

    result = hub.orchestration.orchestrate(order_id)

    order = _order(hub, order_id)
    assert result.outcome == outcome
    assert _live(order) == live
    assert order.decision is not None and order.decision.over_split_limit is not None
    assert order.decision.over_split_limit.handling == handling
    text = explanation_of(order)
    assert text is not None and f"'{handling}'" in text


def test_within_the_limit_waiting_lines_still_ship_when_stock_arrives(hub: Hub) -> None:
    hub.policies.publish(_policy(5), ADMIN)
    order_id = _five_line_order(hub)
    hub.orchestration.orchestrate(order_id)
    _stock(hub, "wh-d", "SKU-D")

    assert hub.orchestration.orchestrate(order_id).outcome == "backordered"

    assert _live(_order(hub, order_id)) == ["wh-a", "wh-b", "wh-c", "wh-d"]


def test_a_held_order_that_is_changed_is_routed_afresh_not_held_by_the_old_hold(hub: Hub) -> None:
    order_id = _split_into_three_then_stock_for_d(hub)
    hub.orchestration.orchestrate(order_id)  # held over the limit
    lines = [{"line_id": "1", "sku": "SKU-A", "quantity": 1, "unit_price": "10.00"}]
    body = submission_dict(external_id="WEB-5L", payment_state="authorized", lines=lines)
    revised = OrderSubmission.model_validate(body)
    withdrawn = hub.fulfillment.change_order(
        order_id, revised, revised.model_dump_json(), "channel:web-shop"
    )
    order = _order(hub, order_id)
    assert order.status.value == "rerouting" and order.hold is None

    # A source confirms a withdrawal before the order is routed again: still to be routed.
    shipment_id = withdrawn[0]
    hub.fulfillment.apply_update(
        FulfillmentUpdate(
            order_id=order_id,
            shipment_id=shipment_id,
            source_id=order.shipments[shipment_id].source_id,
            kind=UpdateKind.CANCELLATION_CONFIRMED,
            at=datetime.now(UTC),
        )
    )
    assert _order(hub, order_id).status in ROUTABLE
    assert hub.orchestration.orchestrate(order_id).outcome == "routed"
