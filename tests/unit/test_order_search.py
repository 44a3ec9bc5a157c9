"""Order search (filters, keyset pages, the jeopardy clock's and the KPIs' reads): the contract
run in memory and on SQLite."""

import copy
from collections.abc import Iterator
from datetime import datetime, timedelta
from pathlib import Path
from typing import Any

import pytest

from aggregates.contract import to_envelope
from aggregates.order import Order
from aggregates.order_values import RequestedShipment, ShipmentLine
from projections.order_rows import OrderStatusRow, fold
from projections.order_status import InMemoryOrderStatusView, SqlOrderStatusView
from schemas.fulfillment import UpdateKind
from tests.contracts.factories import NOW, placed_order, recorded_decision
from tests.contracts.order_search_contract import MakeView, OrderSearchContract, fill
from tests.support.views import sqlite_copy, sqlite_filled, sqlite_views

# The history is applied once per module; each test's view is a copy of that filled one.


@pytest.fixture(scope="module")
def filled_in_memory() -> InMemoryOrderStatusView:
    view = InMemoryOrderStatusView()
    fill(view)
    return view


@pytest.fixture(scope="module")
def filled_sqlite(tmp_path_factory: pytest.TempPathFactory) -> Path:
    return sqlite_filled(tmp_path_factory.mktemp("filled"), SqlOrderStatusView, fill)


class TestInMemoryOrderSearch(OrderSearchContract):
    @pytest.fixture
    def make_view(self) -> MakeView:
        return InMemoryOrderStatusView

    @pytest.fixture
    def view(self, filled_in_memory: InMemoryOrderStatusView) -> InMemoryOrderStatusView:
        return copy.deepcopy(filled_in_memory)


class TestSqliteOrderSearch(OrderSearchContract):
    @pytest.fixture
    def make_view(self, tmp_path: Path) -> Iterator[MakeView]:
        yield from sqlite_views(tmp_path, SqlOrderStatusView)

    @pytest.fixture
    def view(self, filled_sqlite: Path, tmp_path: Path) -> Iterator[SqlOrderStatusView]:
        yield from sqlite_copy(filled_sqlite, tmp_path, SqlOrderStatusView)


# -- the new facts of a row, folded from the real aggregate's events -----------------------------


def _route(
    order: Order,
    minute: int,
    shipments: dict[str, tuple[str, list[tuple[str, str, int]]]],
    waiting: dict[str, int] | None = None,
    distances: dict[str, float | None] | None = None,
) -> None:
    """shipment id -> (source, [(line_id, sku, quantity)]); distances per source."""
    details = [
        {
            "source_id": source,
            "units": 1,
            "estimated_cost": "5.00",
            "currency": "EUR",
            "distance_km": (distances or {}).get(source),
            "lead_time_days": 2 if source == "dropship-berlin" else 1,
        }
        for source in sorted({source for source, _ in shipments.values()})
    ]
    order.route(
        decision=recorded_decision(shipment_details=details),
        decision_digest="sha256:d",
        explanation="",
        inputs_digest="sha256:i",
        shipments=[
            RequestedShipment(sid, source, tuple(ShipmentLine(*line) for line in lines))
            for sid, (source, lines) in shipments.items()
        ],
        waiting=waiting or {},
        unroutable_reason=None,
        actor="system:orchestrator",
        now=NOW + timedelta(minutes=minute),
    )


def _ship(order: Order, sid: str, minute: int, kind: UpdateKind = UpdateKind.SHIPPED) -> None:
    extra = {"carrier": "UPS", "tracking": "1Z"} if kind is UpdateKind.SHIPPED else {}
    source = order.shipments[sid].source_id
    order.apply_update(
        sid, source, kind, f"source:{source}", NOW + timedelta(minutes=minute), **extra
    )


def _row(order: Order) -> OrderStatusRow:
    row = None
    for event in order.collect_events():
        row = fold(row, to_envelope(event))
    assert row is not None
    assert row.status == order.status.value, "the row follows the aggregate"
    return row


def _more(row: OrderStatusRow, order: Order) -> OrderStatusRow:
    """The row with the order's events since the last fold."""
    for event in order.collect_events():
        new = fold(row, to_envelope(event))
        assert new is not None
        row = new
    assert row.status == order.status.value
    return row


def _accepted(**overrides: Any) -> Order:
    order = placed_order("WEB-7", **overrides)
    order.accept("system:intake", now=NOW)
    return order


LINES = [
    {"line_id": "1", "sku": "RED-CHAIR", "quantity": 2, "unit_price": "19.90"},
    {"line_id": "2", "sku": "BLUE-LAMP", "quantity": 3, "unit_price": "5.00"},
    {"line_id": "3", "sku": "RED-CHAIR", "quantity": 1, "unit_price": "19.90"},
]
SPLIT = {
    "S1": ("wh-lyon", [("1", "RED-CHAIR", 2), ("3", "RED-CHAIR", 1)]),
    "S2": ("dropship-berlin", [("2", "BLUE-LAMP", 3)]),
}


def test_a_placed_row_has_the_submissions_facts() -> None:
    order = _accepted(lines=LINES, delivery_method="express")

    row = _row(order)

    assert (row.skus, row.units_ordered, row.units_shipped) == (("BLUE-LAMP", "RED-CHAIR"), 6, 0)
    # Before any routing the promise is an estimate: placed-at + express transit (1 day).
    placed = datetime.fromisoformat(row.placed_at)
    assert datetime.fromisoformat(row.promised_by) == placed + timedelta(days=1)
    assert (row.delivery_method, row.sources) == ("express", ())
    assert (row.split, row.distance_km, row.backordered, row.shipped_at) == (
        False,
        None,
        False,
        "",
    )


def test_the_first_routing_sets_the_promise_and_the_routing_facts() -> None:
    order = _accepted(lines=LINES, placed_at="2026-11-20T10:00:00+02:00")
    _route(order, 1, SPLIT, distances={"wh-lyon": 2.0, "dropship-berlin": 800.5})

    row = _row(order)

    # placed 08:00 UTC + the longest lead time (2 days) + standard transit (3 days)
    assert row.promised_by == "2026-11-25T08:00:00.000000Z"
    assert (row.split, row.distance_km, row.sources) == (
        True,
        401.25,
        ("dropship-berlin", "wh-lyon"),
    )


def test_the_channels_promise_wins_in_utc() -> None:
    order = _accepted(promised_by="2026-11-22T18:30:00+01:00")
    _route(order, 1, {"S1": ("wh-lyon", [("1", "RED-CHAIR", 2), ("2", "BLUE-LAMP", 1)])})

    assert _row(order).promised_by == "2026-11-22T17:30:00.000000Z"


def test_shipments_count_units_once_and_shipped_at_is_when_it_all_left() -> None:
    order = _accepted(lines=LINES)
    _route(order, 1, SPLIT)
    _ship(order, "S1", 10)
    partly = _row(order)
    _ship(order, "S1", 15, UpdateKind.DELIVERED)
    _ship(order, "S2", 20)
    shipped = _more(partly, order)
    _ship(order, "S2", 25, UpdateKind.DELIVERED)
    delivered = _more(shipped, order)

    assert (partly.status, partly.units_shipped, partly.shipped_at) == ("partially_shipped", 3, "")
    assert (shipped.status, shipped.units_shipped) == ("shipped", 6)
    assert shipped.shipped_at == "2026-11-20T09:20:00.000000Z"
    assert (delivered.status, delivered.units_shipped) == ("delivered", 6)
    assert delivered.shipped_at == shipped.shipped_at


def test_backordered_stays_true_once_the_order_waited() -> None:
    order = _accepted()
    _route(order, 1, {"S1": ("wh-lyon", [("1", "RED-CHAIR", 2)])}, waiting={"2": 1})
    _route(order, 2, {"S2": ("wh-paris", [("2", "BLUE-LAMP", 1)])})

    row = _row(order)

    assert (row.status, row.backordered) == ("routed", True)


def test_split_is_the_first_routings_even_without_distances() -> None:
    order = _accepted(lines=LINES)
    _route(order, 1, SPLIT)  # no coordinates: no distances
    _ship(order, "S2", 2, UpdateKind.REJECTED)
    _route(order, 3, {"S3": ("wh-paris", [("2", "BLUE-LAMP", 3)])})

    row = _row(order)

    assert row.split is True


def test_units_shipped_count_a_delivery_reported_without_a_shipment_first() -> None:
    order = _accepted()
    _route(order, 1, {"S1": ("wh-lyon", [("1", "RED-CHAIR", 2), ("2", "BLUE-LAMP", 1)])})
    _ship(order, "S1", 5, UpdateKind.DELIVERED)

    row = _row(order)

    assert row.status == "delivered"
    assert row.units_shipped == 3
