"""Operations staff's actions on an embedded hub: re-route an order to a chosen source, release a
hold, assign and resolve exceptions; each recorded with the user as actor, each refused before
anything is recorded when it cannot be done."""

from collections.abc import Iterator
from contextlib import closing
from pathlib import Path
from typing import Any
from uuid import UUID, uuid4

import pytest

from aggregates.errors import DomainError, InvalidTransitionError, OrderError
from aggregates.exception_case import ExceptionCaseError
from hub.bootstrap import Hub
from hub.services.catalog import UnknownSourceError
from hub.services.operations import UnknownExceptionError, UnknownOrderError
from projections.exceptions import ExceptionQuery
from schemas.envelope import EventEnvelope
from schemas.event_types import EventFamily, EventType
from schemas.fulfillment import FulfillmentUpdate, UpdateKind
from schemas.sources import StockSnapshot
from tests.contracts.factories import submit_order
from tests.contracts.order_search_contract import LYON, report_all
from tests.support.running_hub import Clock, embedded_hub, stock_up

ALICE = "user:alice"
CAROL = "user:carol"
# wh-lyon is next to the Lyon customer, so routing picks it unless told otherwise.
SOURCES = {
    "wh-lyon": (45.75, 4.85, {"RED-CHAIR": 50, "BLUE-LAMP": 50, "GREY-RUG": 5}),
    "wh-paris": (48.86, 2.35, {"RED-CHAIR": 50, "BLUE-LAMP": 50, "OAK-TABLE": 10}),
    "wh-empty": (45.70, 4.80, {}),
}


@pytest.fixture
def hub(tmp_path: Path, clock: Clock) -> Iterator[Hub]:
    with closing(embedded_hub(tmp_path, clock)) as hub:
        stock_up(hub, SOURCES)
        yield hub


def place(hub: Hub, external_id: str = "WEB-1", **overrides: Any) -> UUID:
    command = submit_order(
        external_id=external_id,
        correlation_id=external_id,
        ship_to=LYON,
        **{"payment_state": "authorized", **overrides},
    )
    hub.intake.place_orders([command])
    hub.deliver()
    return command.order_id


def events_since(hub: Hub, position: int, order_id: UUID | None = None) -> list[EventEnvelope]:
    found = [env for _, env in hub.store.read_envelopes(position, 100_000)]
    return [e for e in found if order_id is None or e.subject == str(order_id)]


def shipments(hub: Hub, order_id: UUID) -> dict[str, tuple[str, str, bool]]:
    """shipment id -> (source, state, withdrawn)"""
    order = hub.intake.find(order_id)
    assert order is not None
    return {
        sid: (s.source_id, s.state, sid in order.withdrawing) for sid, s in order.shipments.items()
    }


def live_sources(hub: Hub, order_id: UUID) -> set[str]:
    return {
        source
        for source, state, withdrawn in shipments(hub, order_id).values()
        if not withdrawn and state not in ("rejected", "cancelled")
    }


def status(hub: Hub, order_id: UUID) -> str:
    order = hub.intake.find(order_id)
    row = hub.order_status.get(str(order_id))
    assert order is not None
    assert row is not None
    assert row.status == order.status.value, "the view follows the aggregate"
    return row.status


# -- re-routing -----------------------------------------------------------------------------------


def test_a_re_route_withdraws_live_shipments_and_routes_to_the_chosen_source_only(
    hub: Hub, clock: Clock
) -> None:
    order_id = place(hub)
    (lyon,) = shipments(hub, order_id)
    assert live_sources(hub, order_id) == {"wh-lyon"}
    start = hub.store.max_position()
    clock.advance(minutes=5)

    withdrawn = hub.ops.reroute(order_id, "wh-paris", "  wh-lyon is behind  ", ALICE)
    hub.deliver()

    assert withdrawn == [lyon]
    recorded = events_since(hub, start, order_id)
    request = recorded[0]
    assert request.type == EventType.ORDER_REROUTE_REQUESTED
    assert str(request.actor) == ALICE
    assert request.time == clock()
    assert (request.data["source_id"], request.data["reason"]) == ("wh-paris", "wh-lyon is behind")
    assert request.data["withdrawn_from"] == {lyon: "wh-lyon"}
    routed = next(e for e in recorded if e.type == EventType.ORDER_ROUTED)
    assert set(routed.data["decision"]["shipments"]) == {"wh-paris"}
    assert live_sources(hub, order_id) == {"wh-paris"}
    assert shipments(hub, order_id)[lyon] == ("wh-lyon", "requested", True)
    assert status(hub, order_id) == "routed"
    paris = hub.stock_levels.get("wh-paris", "RED-CHAIR")
    assert paris is not None
    assert paris.reserved == 2


def test_the_withdrawn_source_confirms_and_its_stock_is_released(hub: Hub) -> None:
    order_id = place(hub)
    (lyon,) = hub.ops.reroute(order_id, "wh-paris", "wh-lyon is behind", ALICE)
    hub.deliver()

    hub.fulfillment.apply_update(
        FulfillmentUpdate(
            order_id=order_id,
            shipment_id=lyon,
            source_id="wh-lyon",
            kind=UpdateKind.CANCELLATION_CONFIRMED,
            at=hub.clock(),
        )
    )
    hub.deliver()

    assert shipments(hub, order_id)[lyon] == ("wh-lyon", "cancelled", True)
    level = hub.stock_levels.get("wh-lyon", "RED-CHAIR")
    assert level is not None
    assert (level.reserved, level.available) == (0, 50)
    assert status(hub, order_id) == "routed"


def test_re_routing_a_held_order_skips_the_holds(hub: Hub) -> None:
    order_id = place(hub, payment_state="pending")
    assert status(hub, order_id) == "held"
    (hold,) = hub.exceptions.queue(ExceptionQuery(kinds=("on_hold",))).rows

    assert hub.ops.reroute(order_id, "wh-paris", "customer pays on delivery", ALICE) == []
    hub.deliver()

    assert status(hub, order_id) == "routed"
    assert live_sources(hub, order_id) == {"wh-paris"}
    resolved = hub.exceptions.get(hold.exception_id)
    assert resolved is not None
    assert (resolved.resolved_by, resolved.resolution) == (
        ALICE,
        "re-routed to wh-paris: customer pays on delivery",
    )


def test_releasing_a_hold_routes_the_order_without_hold_rules(hub: Hub) -> None:
    order_id = place(hub, payment_state="pending")
    start = hub.store.max_position()

    hub.ops.release_hold(order_id, "paid by phone", ALICE)
    hub.deliver()

    released = events_since(hub, start, order_id)[0]
    assert (released.type, str(released.actor), released.data["note"]) == (
        EventType.ORDER_HOLD_RELEASED,
        ALICE,
        "paid by phone",
    )
    assert status(hub, order_id) == "routed"
    assert live_sources(hub, order_id) == {"wh-lyon"}
    assert hub.exceptions.queue(ExceptionQuery()).rows == []
    with pytest.raises(InvalidTransitionError):
        hub.ops.release_hold(order_id, "again", ALICE)


def test_a_re_route_to_a_source_without_the_stock_waits_there_rather_than_elsewhere(
    hub: Hub,
) -> None:
    order_id = place(hub)

    hub.ops.reroute(order_id, "wh-empty", "customer collects there", ALICE)
    hub.deliver()

    assert status(hub, order_id) == "backordered"
    assert live_sources(hub, order_id) == set()
    for sku in ("RED-CHAIR", "BLUE-LAMP"):
        hub.catalog.apply_stock(StockSnapshot(source_id="wh-empty", sku=sku, on_hand=9), "t")
    hub.deliver()
    assert status(hub, order_id) == "routed"
    assert live_sources(hub, order_id) == {"wh-empty"}


def test_a_source_only_chosen_is_not_among_the_orders_sources(hub: Hub) -> None:
    order_id = place(hub)
    hub.ops.reroute(order_id, "wh-empty", "customer collects there", ALICE)
    hub.deliver()
    assert live_sources(hub, order_id) == set()

    row = hub.order_status.get(str(order_id))

    assert row is not None
    assert row.sources == ("wh-lyon",)


def test_an_unknown_source_is_refused_before_anything_is_recorded(hub: Hub) -> None:
    order_id = place(hub)
    start = hub.store.max_position()

    with pytest.raises(UnknownSourceError):
        hub.ops.reroute(order_id, "wh-nowhere", "try it", ALICE)
    with pytest.raises(UnknownSourceError):
        hub.ops.reroute(uuid4(), "wh-nowhere", "try it", ALICE)

    assert hub.store.max_position() == start


@pytest.mark.parametrize("reached", [UpdateKind.SHIPPED, UpdateKind.DELIVERED])
def test_an_order_that_shipped_cannot_be_re_routed(hub: Hub, reached: UpdateKind) -> None:
    order_id = place(hub)
    report_all(hub, order_id=str(order_id), kind=reached)
    start = hub.store.max_position()

    with pytest.raises(InvalidTransitionError):
        hub.ops.reroute(order_id, "wh-paris", "too late", ALICE)

    assert hub.store.max_position() == start


def test_an_order_partly_shipped_cannot_be_re_routed(hub: Hub) -> None:
    lines = [
        {"line_id": "1", "sku": "GREY-RUG", "quantity": 2, "unit_price": "89.50"},
        {"line_id": "2", "sku": "OAK-TABLE", "quantity": 1, "unit_price": "249.00"},
    ]
    order_id = place(hub, lines=lines)  # rugs in Lyon only, tables in Paris only
    assert live_sources(hub, order_id) == {"wh-lyon", "wh-paris"}
    lyon = next(s for s, (src, _, _) in shipments(hub, order_id).items() if src == "wh-lyon")
    hub.fulfillment.apply_update(
        FulfillmentUpdate(
            order_id=order_id,
            shipment_id=lyon,
            source_id="wh-lyon",
            kind=UpdateKind.SHIPPED,
            at=hub.clock(),
            carrier="UPS",
            tracking="1Z",
        )
    )
    hub.deliver()
    assert status(hub, order_id) == "partially_shipped"
    start = hub.store.max_position()

    with pytest.raises(InvalidTransitionError):
        hub.ops.reroute(order_id, "wh-paris", "hurry the rest", ALICE)

    assert hub.store.max_position() == start


def test_a_cancelled_order_cannot_be_re_routed(hub: Hub) -> None:
    order_id = place(hub)
    hub.fulfillment.cancel_order(order_id, "customer changed their mind", CAROL)
    hub.deliver()
    start = hub.store.max_position()

    with pytest.raises(InvalidTransitionError):
        hub.ops.reroute(order_id, "wh-paris", "no", ALICE)

    assert hub.store.max_position() == start


@pytest.mark.parametrize("reason", ["", "   "])
def test_a_re_route_needs_a_reason(hub: Hub, reason: str) -> None:
    order_id = place(hub)
    start = hub.store.max_position()

    with pytest.raises(OrderError):
        hub.ops.reroute(order_id, "wh-paris", reason, ALICE)

    assert hub.store.max_position() == start


def test_an_unknown_order_is_refused(hub: Hub) -> None:
    start = hub.store.max_position()
    missing = uuid4()

    with pytest.raises(UnknownOrderError) as refused:
        hub.ops.reroute(missing, "wh-paris", "why not", ALICE)
    with pytest.raises(UnknownOrderError):
        hub.ops.release_hold(missing, "paid", ALICE)

    assert refused.value.order_id == missing
    assert hub.store.max_position() == start


def test_re_routing_twice_goes_where_the_last_person_said(hub: Hub) -> None:
    order_id = place(hub)

    hub.ops.reroute(order_id, "wh-paris", "lyon is behind", ALICE)
    hub.deliver()
    hub.ops.reroute(order_id, "wh-lyon", "lyon caught up", CAROL)
    hub.deliver()

    assert live_sources(hub, order_id) == {"wh-lyon"}
    assert sum(not w for _, _, w in shipments(hub, order_id).values()) == 1
    assert status(hub, order_id) == "routed"


# -- exceptions -----------------------------------------------------------------------------------


@pytest.fixture
def held(hub: Hub) -> str:
    """The on_hold exception of a held order."""
    place(hub, payment_state="pending")
    (row,) = hub.exceptions.queue(ExceptionQuery()).rows
    assert row.kind == "on_hold"
    return row.exception_id


def case_events(hub: Hub, start: int) -> list[tuple[str, str, dict[str, Any]]]:
    return [
        (e.type.removeprefix(EventFamily.EXCEPTION_CASE), str(e.actor), e.data)
        for e in events_since(hub, start)
        if e.type.startswith(EventFamily.EXCEPTION_CASE)
    ]


def test_assigning_and_resolving_are_recorded_with_the_user_and_show_in_the_queue(
    hub: Hub, held: str
) -> None:
    start = hub.store.max_position()

    hub.ops.assign_exception(held, " bob ", CAROL)
    hub.deliver()
    (row,) = hub.exceptions.queue(ExceptionQuery(assignee="bob")).rows
    assert row.exception_id == held
    hub.ops.resolve_exception(held, "called the bank", CAROL)
    hub.deliver()

    recorded = case_events(hub, start)
    assert [(kind, actor) for kind, actor, _ in recorded] == [
        ("opened", "system:orderhub"),
        ("assigned", CAROL),
        ("resolved", CAROL),
    ]
    assert recorded[1][2]["assignee"] == "bob"
    assert recorded[2][2]["note"] == "called the bank"
    assert all(data["exception_id"] == held for _, _, data in recorded)
    assert hub.exceptions.queue(ExceptionQuery()).rows == []
    resolved = hub.exceptions.get(held)
    assert resolved is not None
    assert (resolved.assignee, resolved.resolved_by, resolved.resolution) == (
        "bob",
        CAROL,
        "called the bank",
    )
    assert [e.type for e in hub.audit.trail(resolved.order_id)][-3:] == [
        EventType.EXCEPTION_CASE_OPENED,
        EventType.EXCEPTION_CASE_ASSIGNED,
        EventType.EXCEPTION_CASE_RESOLVED,
    ]


@pytest.mark.parametrize("deliver_between", [True, False])
def test_resolving_twice_is_refused(hub: Hub, held: str, deliver_between: bool) -> None:
    hub.ops.resolve_exception(held, "called the bank", CAROL)
    if deliver_between:
        hub.deliver()
    start = hub.store.max_position()

    with pytest.raises(ExceptionCaseError):
        hub.ops.resolve_exception(held, "again", ALICE)

    assert hub.store.max_position() == start


def test_an_exception_the_orders_history_resolved_cannot_be_resolved_by_hand(
    hub: Hub, held: str
) -> None:
    row = hub.exceptions.get(held)
    assert row is not None
    hub.ops.release_hold(UUID(row.order_id), "paid", ALICE)
    hub.deliver()
    start = hub.store.max_position()

    with pytest.raises(DomainError):
        hub.ops.resolve_exception(held, "me too", CAROL)

    assert hub.store.max_position() == start


def test_an_unknown_exception_is_refused(hub: Hub, held: str) -> None:
    start = hub.store.max_position()

    with pytest.raises(UnknownExceptionError) as refused:
        hub.ops.resolve_exception("on_hold:nobody:3", "fixed", CAROL)
    with pytest.raises(UnknownExceptionError):
        hub.ops.assign_exception("jeopardy:nobody", "bob", CAROL)

    assert refused.value.exception_id == "on_hold:nobody:3"
    assert hub.store.max_position() == start


@pytest.mark.parametrize(("assignee", "note"), [("  ", "fine"), ("bob", "  ")])
def test_an_empty_assignee_or_note_is_refused(
    hub: Hub, held: str, assignee: str, note: str
) -> None:
    with pytest.raises(ExceptionCaseError):
        if assignee.strip():
            hub.ops.resolve_exception(held, note, CAROL)
        else:
            hub.ops.assign_exception(held, assignee, CAROL)
    hub.deliver()

    row = hub.exceptions.get(held)
    assert row is not None
    assert (row.is_open, row.assignee) == (True, "")
