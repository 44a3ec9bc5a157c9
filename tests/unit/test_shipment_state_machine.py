"""The shipment state machine, and the Order and its stock under whatever sources report.

Sources report late, twice, out of order and after the fact. Whatever they send, a shipment
only moves forward, a rejected or cancelled one stays so, a repeated update records nothing,
the order read back from its events is the order that was saved, and a shipped line takes its
units off the shelf exactly once.
"""

import copy
from dataclasses import dataclass
from datetime import timedelta
from decimal import Decimal
from typing import Any

import pytest
from hypothesis import assume, given, settings
from hypothesis import strategies as st

from aggregates import Order
from aggregates.errors import DomainError, InvalidTransitionError, ShipmentError
from aggregates.ids import stock_item_id
from aggregates.order import ROUTABLE, OrderStatus
from aggregates.order_values import RequestedShipment, ShipmentLine
from aggregates.shipments import (
    CLOSED,
    LEFT_THE_BUILDING,
    RANK,
    ShipmentState,
    fulfillment_status,
    moves_forward,
    order_status_from,
    withdrawal_pending,
)
from aggregates.stock import StockItem
from hub.services.fulfillment import FulfillmentService
from hub.services.intake import INTAKE_ACTOR
from hub.services.orchestration import ORCHESTRATOR, reservation_key
from hub.store import OrderStore
from projections.order_status import InMemoryOrderStatusView
from schemas.fulfillment import FulfillmentUpdate, ShippedLine, UpdateKind
from tests.contracts.factories import (
    NOW,
    fixed_clock,
    named_cases,
    placed_order,
    popo_store,
    recorded_decision,
)
from tests.support.examples import examples

S = ShipmentState
K = UpdateKind

# --- moves_forward, every update kind against every state -----------------------------------

# One column per state, in this order; "Y" where the update moves the shipment, "." where it is
# stale, repeated or too late.
COLUMNS = [
    S.REQUESTED,
    S.ACCEPTED,
    S.PICKED,
    S.PACKED,
    S.SHIPPED,
    S.DELIVERY_FAILED,
    S.DELIVERED,
    S.REJECTED,
    S.CANCELLED,
]
# fmt: off
MOVES = {
    #                           req acc pic pac shi fai del rej can
    K.ACCEPTED:               "  Y   .   .   .   .   .   .   .   .",
    K.PICKED:                 "  Y   Y   .   .   .   .   .   .   .",
    K.PACKED:                 "  Y   Y   Y   .   .   .   .   .   .",
    K.SHIPPED:                "  Y   Y   Y   Y   .   .   .   .   .",
    K.DELIVERY_FAILED:        "  Y   Y   Y   Y   Y   .   .   .   .",
    K.DELIVERED:              "  Y   Y   Y   Y   Y   Y   .   .   .",
    K.REJECTED:               "  Y   Y   Y   Y   .   .   .   .   .",
    K.CANCELLATION_CONFIRMED: "  Y   Y   Y   Y   .   .   .   .   .",
    K.CANCELLATION_REFUSED:   "  .   .   .   .   .   .   .   .   .",
}
# fmt: on
CELLS = [
    pytest.param(kind, state, mark == "Y", id=f"{kind.value} when {state.value}")
    for kind, row in MOVES.items()
    for state, mark in zip(COLUMNS, row.split(), strict=True)
]


def test_the_table_covers_every_update_kind_and_every_state() -> None:
    assert set(MOVES) == set(UpdateKind)
    assert set(COLUMNS) == set(ShipmentState)
    assert len(CELLS) == len(UpdateKind) * len(ShipmentState)


@pytest.mark.parametrize(("kind", "state", "moves"), CELLS)
def test_an_update_moves_a_shipment_only_forward_and_never_out_of_a_closed_state(
    kind: UpdateKind, state: ShipmentState, moves: bool
) -> None:
    assert moves_forward(state, kind) is moves


# --- fulfillment_status: the order's status as its shipments say it --------------------------


@pytest.mark.parametrize(
    ("case", "states", "waiting", "all_invoiced", "status"),
    **named_cases(
        [
            ("nothing live, nothing waiting", [], False, True, "cancelled"),
            ("every shipment cancelled", [S.CANCELLED, S.CANCELLED], False, True, "cancelled"),
            ("nothing live, lines waiting", [S.REJECTED], True, True, "backordered"),
            ("one requested", [S.REQUESTED], False, True, "routed"),
            ("a rejected one is not live", [S.REQUESTED, S.REJECTED], False, True, "routed"),
            ("one accepted", [S.REQUESTED, S.ACCEPTED], False, True, "in_fulfillment"),
            ("one packed", [S.PACKED, S.REQUESTED], False, True, "in_fulfillment"),
            ("one of two shipped", [S.SHIPPED, S.PICKED], False, True, "partially_shipped"),
            ("all left the building", [S.SHIPPED, S.DELIVERED], False, True, "shipped"),
            ("a failed delivery is still out", [S.DELIVERY_FAILED], False, True, "shipped"),
            ("delivered, not invoiced", [S.DELIVERED, S.DELIVERED], False, False, "delivered"),
            ("delivered and invoiced", [S.DELIVERED, S.CANCELLED], False, True, "completed"),
            ("delivered but lines waiting", [S.DELIVERED], True, True, "backordered"),
            (
                "shipped, the rejected part waits",
                [S.SHIPPED, S.REJECTED],
                True,
                True,
                "backordered",
            ),
        ]
    ),
)
def test_the_order_status_follows_its_shipments(
    case: str, states: list[ShipmentState], waiting: bool, all_invoiced: bool, status: str
) -> None:
    assert fulfillment_status(states, waiting, all_invoiced) == status


# --- an order routed to two sources -----------------------------------------------------------

LYON, LILLE = "SHP-LYON", "SHP-LILLE"
# shipment → (source, [(line id, sku, quantity)])
SHIPMENTS: dict[str, tuple[str, list[tuple[str, str, int]]]] = {
    LYON: ("wh-lyon", [("1", "RED-CHAIR", 2), ("2", "BLUE-LAMP", 1)]),
    LILLE: ("store-lille", [("3", "OAK-TABLE", 3)]),
}
ORDER_LINES = [
    {"line_id": "1", "sku": "RED-CHAIR", "quantity": 2, "unit_price": "19.90"},
    {"line_id": "2", "sku": "BLUE-LAMP", "quantity": 1, "unit_price": "5.00"},
    {"line_id": "3", "sku": "OAK-TABLE", "quantity": 3, "unit_price": "329.00"},
]
ON_HAND = {
    ("wh-lyon", "RED-CHAIR"): 10,
    ("wh-lyon", "BLUE-LAMP"): 4,
    ("store-lille", "OAK-TABLE"): 6,
}
AT = NOW + timedelta(hours=1)


def routed_order(
    shipments: dict[str, tuple[str, list[tuple[str, str, int]]]] = SHIPMENTS,
    lines: list[dict[str, Any]] = ORDER_LINES,
    waiting: dict[str, int] | None = None,
    unroutable: str | None = None,
    external_id: str = "WEB-3001",
) -> Order:
    order = placed_order(external_id, lines=lines)
    order.accept(actor=INTAKE_ACTOR, now=NOW)
    order.route(
        decision=recorded_decision(),
        decision_digest="digest",
        explanation="split between Lyon and Lille",
        inputs_digest="inputs",
        shipments=[
            RequestedShipment(shipment_id, source_id, tuple(ShipmentLine(*line) for line in lines_))
            for shipment_id, (source_id, lines_) in shipments.items()
        ],
        waiting=waiting or {},
        unroutable_reason=unroutable,
        actor=ORCHESTRATOR,
        now=NOW,
    )
    return order


@dataclass(frozen=True)
class Update:
    """One update as a source could send it, right or wrong."""

    shipment_id: str
    kind: UpdateKind
    source_id: str
    carrier: str | None = None
    tracking: str | None = None
    lines: tuple[tuple[str, int], ...] | None = None

    def apply_to(self, order: Order, at: Any = AT) -> bool:
        return order.apply_update(
            self.shipment_id,
            self.source_id,
            self.kind,
            actor=f"source:{self.source_id}",
            at=at,
            carrier=self.carrier,
            tracking=self.tracking,
            shipped_lines=self.shipped_lines(),
            reason="no stock on the shelf" if self.kind is K.REJECTED else None,
        )

    def shipped_lines(self) -> list[ShippedLine] | None:
        if self.lines is None:
            return None
        return [ShippedLine(line_id=lid, quantity=q) for lid, q in self.lines]

    def as_message(self, order_id: Any, at: Any = AT) -> FulfillmentUpdate:
        return FulfillmentUpdate(
            order_id=order_id,
            shipment_id=self.shipment_id,
            source_id=self.source_id,
            kind=self.kind,
            at=at,
            carrier=self.carrier,
            tracking=self.tracking,
            lines=self.shipped_lines(),
            reason="no stock on the shelf" if self.kind is K.REJECTED else None,
        )

    @property
    def is_well_formed_shipment(self) -> bool:
        """A shipped update the hub must take (from the owner, with carrier and tracking)."""
        owner, requested = SHIPMENTS[self.shipment_id]
        quantities = {lid: q for lid, _, q in requested}
        return (
            self.kind is K.SHIPPED
            and self.source_id == owner
            and bool(self.carrier and self.tracking)
            and all(q <= quantities[lid] for lid, q in self.lines or ())
        )


@dataclass(frozen=True)
class CancelRequest:
    """The customer asks to cancel the whole order (once something shipped, its rest; refused
    when nothing is left to cancel)."""

    def apply_to(self, order: Order, at: Any = AT) -> bool:
        order.request_cancellation("changed my mind", actor="channel:web-shop", now=at)
        return True


@dataclass(frozen=True)
class Invoice:
    """Billing invoices a shipment (refused unless it shipped; once only)."""

    shipment_id: str

    def apply_to(self, order: Order, at: Any = AT) -> bool:
        invoice = {**INVOICE, "invoice_id": f"INV-{self.shipment_id}"}
        return order.record_invoice(self.shipment_id, invoice, actor="system:billing", now=at)


Step = Update | CancelRequest | Invoice


@st.composite
def updates(draw: st.DrawFn) -> Update:
    shipment_id = draw(st.sampled_from(sorted(SHIPMENTS)))
    owner, requested = SHIPMENTS[shipment_id]
    kind = draw(st.sampled_from(list(UpdateKind)))
    # Mostly the owner; now and then a source that does not hold this shipment.
    source_id = owner if draw(st.integers(0, 9)) else "store-paris"
    if kind is not K.SHIPPED:
        return Update(shipment_id, kind, source_id)
    carrier = draw(st.sampled_from(["DHL", "DHL", "DHL", None]))
    tracking = draw(st.sampled_from(["JD0146", "JD0146", "JD0146", None]))
    lines = None
    if draw(st.booleans()):
        # Part of the shipment, or (now and then) one unit more than was asked for.
        chosen = draw(st.lists(st.sampled_from(requested), min_size=1, unique=True))
        lines = tuple((lid, draw(st.integers(1, q + 1))) for lid, _, q in chosen)
    return Update(shipment_id, kind, source_id, carrier, tracking, lines)


steps = st.lists(
    st.one_of(
        updates(),
        updates(),
        updates(),
        st.just(CancelRequest()),
        st.builds(Invoice, st.sampled_from(sorted(SHIPMENTS))),
    ),
    max_size=14,
)


def state_of(order: Order) -> dict[str, Any]:
    return {
        "id": order.id,
        "version": order.version,
        "status": order.status,
        "shipments": copy.deepcopy(order.shipments),
        "waiting": dict(order.waiting),
        "rejected_sources": list(order.rejected_sources),
        "cancel_requested": order.cancel_requested,
        "invoices": copy.deepcopy(order.invoices),
    }


def shipment_states(order: Order) -> dict[str, ShipmentState]:
    return {sid: ShipmentState(s.state) for sid, s in order.shipments.items()}


@dataclass
class Outcome:
    """What one step did: refused (a domain error), or applied with the events it recorded."""

    refused: bool
    applied: bool
    before: dict[str, Any]
    after: dict[str, Any]
    events: list[Any]

    def states(self, which: str) -> dict[str, ShipmentState]:
        shipments = (self.before if which == "before" else self.after)["shipments"]
        return {sid: ShipmentState(s.state) for sid, s in shipments.items()}


def run(order: Order, store: OrderStore, script: list[Step]) -> list[Outcome]:
    """Apply each step as the hub would, saving after each (as commands arrive over time)."""
    outcomes = []
    for n, step in enumerate(script):
        before = state_of(order)
        try:
            applied = step.apply_to(order, AT + timedelta(minutes=n))
        except DomainError:
            assert not order.pending_events, "a refused update recorded something"
            outcomes.append(Outcome(True, False, before, state_of(order), []))
            continue
        events = list(order.pending_events)
        store.save(order)
        outcomes.append(Outcome(False, applied, before, state_of(order), events))
    return outcomes


def saved_routed_order() -> tuple[Order, OrderStore]:
    store = popo_store()
    order = routed_order()
    store.save(order)
    return order, store


@settings(max_examples=examples(300), deadline=None)
@given(script=steps)
def test_a_shipment_never_moves_backwards_and_a_closed_one_stays_closed(
    script: list[Step],
) -> None:
    order, store = saved_routed_order()
    for step, outcome in zip(script, run(order, store, script), strict=True):
        before, after = outcome.states("before"), outcome.states("after")
        for sid, state in after.items():
            was = before[sid]
            if was in CLOSED:
                assert state is was, f"{sid} left {was} for {state} on {step}"
            elif state in CLOSED:
                assert isinstance(step, Update) and step.shipment_id == sid
                assert step.kind in (K.REJECTED, K.CANCELLATION_CONFIRMED)
                assert was not in LEFT_THE_BUILDING, f"{sid} closed after it shipped"
            else:
                assert RANK[state] >= RANK[was], f"{sid} went back from {was} to {state}"
        if outcome.refused or not outcome.applied:
            assert outcome.after == outcome.before


@settings(max_examples=examples(300), deadline=None)
@given(script=steps)
def test_each_shipment_progressed_event_moves_its_shipment_strictly_forward(
    script: list[Step],
) -> None:
    order, store = saved_routed_order()
    for step, outcome in zip(script, run(order, store, script), strict=True):
        if not isinstance(step, Update) or outcome.refused:
            continue
        assert outcome.applied == bool(outcome.events)
        assert len(outcome.events) <= 1, "one update records at most one event"
        for event in outcome.events:
            name = type(event).__name__
            was = outcome.before["shipments"][step.shipment_id].state
            assert name in ("ShipmentProgressed", "ShipmentRejected", "ShipmentCancelled")
            assert was not in CLOSED
            if name == "ShipmentProgressed":
                assert RANK[ShipmentState(event.state)] > RANK[was]
                assert event.source_id == step.source_id
                assert event.actor == f"source:{step.source_id}"


@settings(max_examples=examples(300), deadline=None)
@given(script=steps)
def test_applying_the_same_updates_again_records_nothing(script: list[Step]) -> None:
    order, store = saved_routed_order()
    first = run(order, store, script)
    settled = state_of(order)

    # Updates that were taken the first time (a confirmation refused before its cancellation
    # was requested is new when sent again after it, and rightly applied).
    taken = [
        step
        for step, outcome in zip(script, first, strict=True)
        if isinstance(step, Update) and not outcome.refused
    ]
    again = run(order, store, taken)

    assert all(o.refused or not o.applied for o in again)
    assert state_of(order) == settled


@settings(max_examples=examples(200), deadline=None)
@given(script=steps)
def test_the_order_read_back_from_its_events_is_the_order_the_updates_left(
    script: list[Step],
) -> None:
    order, store = saved_routed_order()
    run(order, store, script)

    replayed = store.repository.get(order.id)

    assert isinstance(replayed, Order)
    assert state_of(replayed) == state_of(order)


@settings(max_examples=examples(300), deadline=None)
@given(script=steps)
def test_the_order_status_and_waiting_lines_agree_with_the_shipments(script: list[Step]) -> None:
    order, store = saved_routed_order()
    outcomes = run(order, store, script)

    states = shipment_states(order)
    rejected = [sid for sid, s in states.items() if s is S.REJECTED]
    assert sorted(order.rejected_sources) == sorted(SHIPMENTS[sid][0] for sid in rejected)
    recorded = [type(e).__name__ for o in outcomes for e in o.events]
    if recorded and recorded[-1] == "ShipmentRejected" and not order.cancel_requested:
        # Its lines went back to orchestration; nothing re-routes them in this test.
        assert order.status is OrderStatus.REROUTING
    else:
        expected = order_status_from(states, order.withdrawing, bool(order.waiting), order.invoices)
        if order.cancel_requested and withdrawal_pending(states, order.withdrawing):
            expected = "cancelling"  # what did not ship is withdrawn, unanswered yet
        assert order.status.value == expected
    if not order.cancel_requested:
        waiting = {lid: q for sid in rejected for lid, _, q in SHIPMENTS[sid][1]}
        assert order.waiting == waiting
    else:
        assert order.waiting == {}, "a cancelled order's lines are never routed again"
    for sid, state in states.items():
        shipment = order.shipments[sid]
        if state in LEFT_THE_BUILDING and shipment.shipped_lines is not None:
            asked = {line.line_id: line.quantity for line in shipment.lines}
            for line in shipment.shipped_lines:
                assert 0 < line.quantity <= asked[line.line_id]


def view_of(store: OrderStore, order: Order) -> str:
    """The status the order view derives from the order's events alone."""
    view = InMemoryOrderStatusView()
    view.apply([env for _, env in store.read_envelopes(None, 10_000)], {"notification_log": 1})
    row = view.get(str(order.id))
    assert row is not None
    return row.status


@settings(max_examples=examples(300), deadline=None)
@given(script=steps)
def test_the_order_view_shows_the_status_the_order_has_when_no_source_rejected(
    script: list[Step],
) -> None:
    order, store = saved_routed_order()
    outcomes = run(order, store, script)
    # With a rejection the view parts from the order: see the xfail below.
    assume(not any(type(e).__name__ == "ShipmentRejected" for o in outcomes for e in o.events))

    assert view_of(store, order) == order.status.value


@settings(max_examples=examples(300), deadline=None)
@given(script=steps)
def test_the_order_view_shows_the_status_the_order_has_whatever_the_sources_sent(
    script: list[Step],
) -> None:
    order, store = saved_routed_order()
    run(order, store, script)

    assert view_of(store, order) == order.status.value


def test_a_delivered_order_is_completed_once_its_shipments_are_invoiced() -> None:
    order = routed_order()
    for sid, (source_id, _) in SHIPMENTS.items():
        Update(sid, K.SHIPPED, source_id, "DHL", f"JD-{sid}").apply_to(order)
        Update(sid, K.DELIVERED, source_id).apply_to(order)
    assert order.status is OrderStatus.DELIVERED

    order.record_invoice(LYON, INVOICE, actor="system:billing", now=AT)
    assert order.status is OrderStatus.DELIVERED, "one shipment is not invoiced yet"
    order.record_invoice(LILLE, INVOICE, actor="system:billing", now=AT)

    assert order.status is OrderStatus.COMPLETED
    assert order.record_invoice(LILLE, INVOICE, actor="system:billing", now=AT) is False


INVOICE: dict[str, Any] = {
    "invoice_id": "INV-1",
    "lines": [],
    "currency": "EUR",
    "net_total": "0.00",
    "tax_rate": "0.20",
    "tax_total": "0.00",
    "gross_total": "0.00",
}


def test_an_unshipped_shipment_cannot_be_invoiced() -> None:
    order = routed_order()
    Update(LYON, K.PACKED, "wh-lyon").apply_to(order)

    with pytest.raises(ShipmentError, match="has not shipped"):
        order.record_invoice(LYON, INVOICE, actor="system:billing", now=AT)


def test_a_rejection_that_crosses_a_cancellation_does_not_send_the_order_back_to_routing() -> None:
    order = routed_order()
    order.request_cancellation("changed my mind", actor="channel:web-shop", now=AT)

    # Lyon had rejected before it saw the cancellation; its message arrives afterwards.
    Update(LYON, K.REJECTED, "wh-lyon").apply_to(order)

    assert order.waiting == {}
    assert order.status not in ROUTABLE


# --- stock through the fulfillment service ------------------------------------------------


def stocked_store(
    order: Order, on_hand: dict[tuple[str, str], int] = ON_HAND, *others: Order
) -> tuple[OrderStore, FulfillmentService]:
    """The routed orders and their reservations, one per shipment line, saved as
    orchestration saves them; the service on a fixed clock."""
    store = popo_store()
    items = {
        key: StockItem(source_id=key[0], sku=key[1], on_hand=q, safety_stock=0, at=NOW)
        for key, q in on_hand.items()
    }
    for routed in (order, *others):
        for sid, shipment in routed.shipments.items():
            for line in shipment.lines:
                key = reservation_key(routed.id, sid, line.line_id)
                items[(shipment.source_id, line.sku)].reserve(key, line.quantity, at=NOW)
    store.save(order, *others, *items.values())
    return store, FulfillmentService(store, fixed_clock(AT), {"FR": Decimal("0.20")})


def stock_item(store: OrderStore, source_id: str, sku: str) -> StockItem:
    item = store.repository.get(stock_item_id(source_id, sku))
    assert isinstance(item, StockItem)
    return item


def send(service: FulfillmentService, order_id: Any, script: list[Update]) -> list[bool | None]:
    """Each update through the service; None where it was refused (and nothing was saved)."""
    answers: list[bool | None] = []
    for n, update in enumerate(script):
        try:
            result = service.apply_update(update.as_message(order_id, AT + timedelta(minutes=n)))
        except DomainError:
            answers.append(None)
            continue
        answers.append(result.applied)
    return answers


def shipped_before_delivered(script: list[Update]) -> list[Update]:
    """The same updates, with a proper `shipped` ahead of any delivery the source reports
    before it reported the shipment (that case is the xfail below)."""
    out: list[Update] = []
    shipped: set[str] = set()
    for update in script:
        if update.kind in (K.DELIVERED, K.DELIVERY_FAILED) and update.shipment_id not in shipped:
            owner, _ = SHIPMENTS[update.shipment_id]
            out.append(Update(update.shipment_id, K.SHIPPED, owner, "DHL", "JD0146"))
            shipped.add(update.shipment_id)
        if update.is_well_formed_shipment:
            shipped.add(update.shipment_id)
        out.append(update)
    return out


stock_scripts = st.lists(updates(), max_size=14).map(shipped_before_delivered)


@settings(max_examples=examples(150), deadline=None)
@given(script=stock_scripts)
def test_shipped_lines_leave_on_hand_once_and_never_more_than_was_reserved(
    script: list[Update],
) -> None:
    order = routed_order()
    store, service = stocked_store(order)

    send(service, order.id, script)
    position = store.max_position()
    repeated = send(service, order.id, script)

    assert all(answer is not True for answer in repeated), "a repeat was applied again"
    assert store.max_position() == position, "a repeat recorded something"
    final = store.repository.get(order.id)
    for (source_id, sku), before in ON_HAND.items():
        item = stock_item(store, source_id, sku)
        shipped = 0
        open_reservations = {}
        for sid, shipment in final.shipments.items():
            state = ShipmentState(shipment.state)
            for line in shipment.lines:
                if (shipment.source_id, line.sku) != (source_id, sku):
                    continue
                key = reservation_key(order.id, sid, line.line_id)
                if state not in CLOSED and state not in LEFT_THE_BUILDING:
                    open_reservations[key] = line.quantity
            for line in shipment.shipped_lines or ():
                if (shipment.source_id, line.sku) == (source_id, sku):
                    shipped += line.quantity
        assert item.on_hand == before - shipped, f"{source_id}/{sku}"
        assert item.reservations == open_reservations, f"{source_id}/{sku}"
        consumed = [e for e in store.events.get(item.id) if type(e).__name__ == "Consumed"]
        keys = [e.order_id for e in consumed]
        assert len(keys) == len(set(keys)), "a shipment line was consumed twice"
        for event in consumed:
            reserved = next(
                line.quantity
                for sid, s in final.shipments.items()
                for line in s.lines
                if reservation_key(order.id, sid, line.line_id) == event.order_id
            )
            assert 0 < event.quantity <= reserved
            assert event.quantity + event.freed == reserved


@settings(max_examples=examples(100), deadline=None)
@given(script=stock_scripts)
def test_a_refused_update_saves_neither_the_order_nor_the_stock(script: list[Update]) -> None:
    order = routed_order()
    store, service = stocked_store(order)
    for n, update in enumerate(script):
        position = store.max_position()
        try:
            service.apply_update(update.as_message(order.id, AT + timedelta(minutes=n)))
        except DomainError:
            assert store.max_position() == position


def test_a_shipment_shipped_in_part_consumes_what_shipped_and_frees_the_rest() -> None:
    order = routed_order()
    store, service = stocked_store(order)

    send(service, order.id, [Update(LYON, K.SHIPPED, "wh-lyon", "DHL", "JD0146", (("1", 1),))])

    chairs, lamps = (
        stock_item(store, "wh-lyon", "RED-CHAIR"),
        stock_item(store, "wh-lyon", "BLUE-LAMP"),
    )
    assert (chairs.on_hand, chairs.reserved) == (9, 0)
    assert (lamps.on_hand, lamps.reserved) == (4, 0), "the lamp was not shipped: freed"


def test_a_rejected_or_cancelled_shipment_gives_its_reservation_back_and_keeps_on_hand() -> None:
    order = routed_order()
    store, service = stocked_store(order)
    service.cancel_order(order.id, "changed my mind", actor="channel:web-shop")

    answers = send(
        service,
        order.id,
        [
            Update(LYON, K.REJECTED, "wh-lyon"),
            Update(LILLE, K.CANCELLATION_CONFIRMED, "store-lille"),
        ],
    )

    assert answers == [True, True]
    for (source_id, sku), before in ON_HAND.items():
        item = stock_item(store, source_id, sku)
        assert (item.on_hand, item.reserved) == (before, 0), f"{source_id}/{sku}"


def test_a_delivery_reported_before_the_shipment_still_takes_the_units_off_the_shelf() -> None:
    order = routed_order()
    store, service = stocked_store(order)

    answers = send(
        service,
        order.id,
        [
            Update(LILLE, K.DELIVERED, "store-lille"),
            Update(LILLE, K.SHIPPED, "store-lille", "DHL", "JD0146"),
        ],
    )

    tables = stock_item(store, "store-lille", "OAK-TABLE")
    assert answers[0] is not None, "the delivery was taken"
    assert ShipmentState(store.repository.get(order.id).shipments[LILLE].state) is S.DELIVERED
    assert (tables.on_hand, tables.reserved) == (6 - 3, 0)


def test_two_lines_of_the_same_sku_in_one_shipment_ship_together() -> None:
    lines = [
        {"line_id": "1", "sku": "RED-CHAIR", "quantity": 2, "unit_price": "19.90"},
        {"line_id": "2", "sku": "RED-CHAIR", "quantity": 1, "unit_price": "17.90"},
    ]
    order = routed_order({LYON: ("wh-lyon", [("1", "RED-CHAIR", 2), ("2", "RED-CHAIR", 1)])}, lines)
    store, service = stocked_store(order, {("wh-lyon", "RED-CHAIR"): 10})

    answers = send(service, order.id, [Update(LYON, K.SHIPPED, "wh-lyon", "DHL", "JD0146")])

    chairs = stock_item(store, "wh-lyon", "RED-CHAIR")
    assert answers == [True]
    assert (chairs.on_hand, chairs.reserved) == (7, 0)


def test_cancelling_after_a_shipment_left_withdraws_the_rest_and_after_all_left_is_refused() -> (
    None
):
    order = routed_order()
    store, service = stocked_store(order)
    send(service, order.id, [Update(LYON, K.SHIPPED, "wh-lyon", "DHL", "JD0146")])

    assert service.cancel_order(order.id, "the rest", actor="channel:web-shop") == [LILLE]
    send(service, order.id, [Update(LILLE, K.SHIPPED, "store-lille", "DHL", "JD0147")])
    position = store.max_position()

    other = routed_order(lines=ORDER_LINES[:2], shipments={LYON: SHIPMENTS[LYON]})
    _, other_service = stocked_store(other)
    send(other_service, other.id, [Update(LYON, K.SHIPPED, "wh-lyon", "DHL", "JD0146")])
    with pytest.raises(InvalidTransitionError, match="it shipped: only a return is possible"):
        other_service.cancel_order(other.id, "too late", actor="channel:web-shop")
    assert service.cancel_order(order.id, "again", actor="channel:web-shop") == []
    assert store.max_position() == position
