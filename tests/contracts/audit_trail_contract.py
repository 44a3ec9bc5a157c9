"""The behaviour every audit trail must have, whatever stores its lines.

Subclass ``AuditTrailContract`` in a test module (named ``Test…``) and provide a ``make_view``
fixture: a callable that returns a fresh, EMPTY view each time it is called (the hypothesis
test calls it once per example). The in-memory and SQLite subclasses live in
``tests/unit/test_audit_trail.py``, the PostgreSQL one in
``tests/integration/test_audit_trail_postgres.py``.

The histories below are made by the real aggregates and mapped by the real contract mapper, so
the trail is tested against events exactly as the hub records them.
"""

import json
import random
from collections.abc import Callable, Iterable
from datetime import datetime, timedelta
from decimal import Decimal
from itertools import pairwise
from typing import Any

import pytest
from eventsourcing.domain import Aggregate
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from aggregates.channel import ApiKey, Channel
from aggregates.contract import to_envelope
from aggregates.directory import Directory
from aggregates.exception_case import Band, ExceptionCase
from aggregates.order import Order
from aggregates.order_values import RequestedShipment, ReturnLine, ShipmentLine
from aggregates.policy import PolicyVersions
from aggregates.source import FulfillmentSource
from aggregates.stock import StockItem
from aggregates.submission import RejectedSubmission
from hub.services.intake import INTAKE_ACTOR, submission_digest
from projections.audit_trail import InMemoryAuditTrail, SqlAuditTrail
from projections.base import ReadModel
from projections.summaries import generic
from schemas.envelope import EventEnvelope
from schemas.event_types import EventFamily, EventType
from schemas.fulfillment import UpdateKind
from tests.contracts.factories import NOW, placed_order, recorded_decision, submission
from tests.support.examples import examples

STREAM = "orderhub.orders.events:0"
ORCHESTRATOR = "system:orchestrator"
BILLING = "system:billing"
ALICE = "user:alice"

AuditTrail = InMemoryAuditTrail | SqlAuditTrail
MakeView = Callable[[], AuditTrail]


def at(seconds: float) -> datetime:
    return NOW + timedelta(seconds=seconds)


def envelopes(*aggregates: Aggregate) -> list[EventEnvelope]:
    return [to_envelope(e) for a in aggregates for e in a.collect_events()]


def _route(order: Order, when: datetime, shipments: dict[str, tuple[str, list[Any]]]) -> None:
    """Route through the aggregate: shipment id -> (source, [(line_id, sku, quantity)])."""
    by_source: dict[str, list[list[Any]]] = {}
    for source, lines in shipments.values():
        by_source.setdefault(source, []).extend([list(line) for line in lines])
    routed = {lid for _, lines in shipments.values() for lid, _, _ in lines}
    waiting = {
        line.line_id: line.quantity for line in order.submission.lines if line.line_id not in routed
    }
    order.route(
        decision=recorded_decision(shipments=by_source),
        decision_digest="sha256:decision",
        explanation="nearest source with stock",
        inputs_digest="sha256:inputs",
        shipments=[
            RequestedShipment(sid, source, tuple(ShipmentLine(*line) for line in lines))
            for sid, (source, lines) in shipments.items()
        ],
        waiting=waiting,
        unroutable_reason=None,
        actor=ORCHESTRATOR,
        now=when,
    )


def full_order(external_id: str = "WEB-1001") -> Order:
    """One order from placement to refund: hold, release, routing with a backordered line,
    shipping, delivery, invoice, capture, return and refund. Routed and FulfillmentRequested
    share an instant, and so do InvoiceIssued and PaymentCaptured."""
    order = placed_order(external_id)
    order.accept(INTAKE_ACTOR, now=at(1))
    order.put_on_hold("high_value", "total over 1000 EUR", ORCHESTRATOR, now=at(2))
    order.release_hold("customer verified by phone", ALICE, now=at(3))
    _route(order, at(4), {"S1": ("wh-lyon", [("1", "RED-CHAIR", 2)])})
    order.apply_update("S1", "wh-lyon", UpdateKind.ACCEPTED, "source:wh-lyon", at(5))
    order.apply_update(
        "S1",
        "wh-lyon",
        UpdateKind.SHIPPED,
        "source:wh-lyon",
        at(6),
        carrier="UPS",
        tracking="1Z999AA10123456784",
    )
    order.apply_update("S1", "wh-lyon", UpdateKind.DELIVERED, "source:wh-lyon", at(7))
    order.record_invoice(
        "S1",
        {
            "invoice_id": "INV-1",
            "lines": [{"line_id": "1", "sku": "RED-CHAIR", "quantity": 2, "net": "39.80"}],
            "currency": "EUR",
            "net_total": "39.80",
            "tax_rate": "0.20",
            "tax_total": "7.96",
            "gross_total": "47.76",
        },
        BILLING,
        now=at(8),
    )
    order.capture_payment("INV-1", "47.76", BILLING, now=at(8))
    order.request_return("RMA-1", [ReturnLine("1", 1)], "arrived broken", ALICE, at(9))
    order.receive_return("RMA-1", "restock", "wh-lyon", "source:wh-lyon", at(10))
    order.refund(Decimal("19.90"), "arrived broken", ALICE, now=at(11))
    return order


FULL_ORDER_TYPES = [
    EventType.ORDER_PLACED,
    EventType.ORDER_ACCEPTED,
    EventType.ORDER_HELD,
    EventType.ORDER_HOLD_RELEASED,
    EventType.ORDER_ROUTED,
    EventType.ORDER_FULFILLMENT_REQUESTED,
    EventType.ORDER_SHIPMENT_PROGRESSED,
    EventType.ORDER_SHIPMENT_PROGRESSED,
    EventType.ORDER_SHIPMENT_PROGRESSED,
    EventType.ORDER_INVOICE_ISSUED,
    EventType.ORDER_PAYMENT_CAPTURED,
    EventType.ORDER_RETURN_REQUESTED,
    EventType.ORDER_RETURN_RECEIVED,
    EventType.ORDER_REFUNDED,
]
FULL_ORDER_ACTOR_KINDS = [
    "channel",
    "system",
    "system",
    "user",
    "system",
    "system",
    "source",
    "source",
    "source",
    "system",
    "system",
    "user",
    "source",
    "user",
]


def cancelled_order(external_id: str = "WEB-1002") -> Order:
    """Two shipments: one rejected by its source, then the order cancelled and the other
    shipment's withdrawal confirmed."""
    order = placed_order(external_id)
    order.accept(INTAKE_ACTOR, now=at(1))
    _route(
        order,
        at(2),
        {"S2": ("wh-paris", [("1", "RED-CHAIR", 2)]), "S3": ("wh-lyon", [("2", "BLUE-LAMP", 1)])},
    )
    order.apply_update(
        "S2", "wh-paris", UpdateKind.REJECTED, "source:wh-paris", at(3), reason="out of stock"
    )
    order.request_cancellation("customer changed their mind", ALICE, now=at(4))
    order.apply_update("S3", "wh-lyon", UpdateKind.CANCELLATION_CONFIRMED, "source:wh-lyon", at(5))
    return order


def changed_order(external_id: str = "WEB-1003") -> Order:
    """Routed, then changed by the channel: the open shipment is withdrawn."""
    order = placed_order(external_id)
    order.accept(INTAKE_ACTOR, now=at(1))
    _route(order, at(2), {"S4": ("wh-lyon", [("1", "RED-CHAIR", 2), ("2", "BLUE-LAMP", 1)])})
    lines = [{"line_id": "1", "sku": "RED-CHAIR", "quantity": 3, "unit_price": "19.90"}]
    revised = submission(external_id=external_id, lines=lines)
    order.change(
        revised,
        submission_digest(revised),
        revised.model_dump_json(),
        "channel:web-shop",
        now=at(3),
    )
    return order


def rejected_order(external_id: str = "WEB-1004") -> Order:
    order = placed_order(external_id)
    order.reject(["placed_at: in the future"], INTAKE_ACTOR, now=at(1))
    return order


def exception_case(order_id: str | None, exception_id: str = "EXC-1") -> ExceptionCase:
    """Raised by the jeopardy timer about an order, taken on and resolved by ops users. Opened
    and flagged at the instant the order was routed (4 s), resolved after the delivery."""
    case = ExceptionCase(exception_id, "jeopardy", order_id, "system:jeopardy", at(4))
    case.flag(Band.MEDIUM, "2026-11-21T17:00:00+00:00", "system:jeopardy", now=at(4))
    case.assign("alice", "user:bob", now=at(5.5))
    case.resolve("carrier confirmed the delivery date", ALICE, now=at(7.5))
    return case


def other_aggregates() -> list[Aggregate]:
    """One of every other aggregate, each with every event it can record."""
    stock = StockItem("wh-lyon", "RED-CHAIR", on_hand=10, safety_stock=1, at=NOW)
    stock.count(8, None, at(1), "cycle count")
    stock.adjust(5, at(2), "goods received")
    stock.reserve("order-1:S1:1", 2, at(3))
    stock.consume("order-1:S1:1", 1, at(4))
    stock.reserve("order-2:S2:1", 1, at(5))
    stock.release("order-2:S2:1", at(6), "order cancelled")

    policy = PolicyVersions("default")
    policy.publish("id: default\nversion: 1\n", "sha256:aaaa1111bbbb2222", ALICE, at(1))
    policy.publish("id: default\nversion: 2\n", "sha256:cccc3333dddd4444", ALICE, at(2))
    policy.roll_back(1, ALICE, at(3))

    definition = {
        "source_id": "wh-lyon",
        "name": "Lyon warehouse",
        "kind": "warehouse",
        "country": "FR",
    }
    source = FulfillmentSource("wh-lyon", definition, ALICE, at(1))
    source.redefine({**definition, "name": "Lyon central warehouse"}, ALICE, at(2))
    source.pause("stocktaking", ALICE, at(3))
    source.resume(ALICE, at(4))

    channel_definition = {
        "channel_id": "web-shop",
        "name": "Web shop",
        "kind": "web",
        "format": "canonical",
    }
    channel = Channel("web-shop", channel_definition, ALICE, at(1))
    channel.redefine({**channel_definition, "name": "The web shop"}, ALICE, at(2))
    key = ApiKey("key-7", "0" * 64, "channel", "web-shop", "web-shop production", ALICE, at(3))
    key.revoke(ALICE, at(4))

    directory = Directory("sources")
    directory.add("wh-lyon")

    refused = RejectedSubmission(
        channel="web-shop",
        raw_payload="{not json",
        format="canonical",
        reason="the payload is not valid JSON",
        problems=[{"loc": [], "msg": "Expecting property name"}],
        external_id=None,
        details={},
        actor="channel:web-shop",
        at=at(1),
    )
    return [stock, policy, source, channel, key, directory, refused]


# Orders, built once: histories and the trail each must end with, in the order expected.
_FULL = envelopes(full_order("WEB-2001"))
_FULL_ID = _FULL[0].subject
_CASE = envelopes(exception_case(_FULL_ID, "EXC-2001"))
_CANCELLED = envelopes(cancelled_order("WEB-2002"))
_CHANGED = envelopes(changed_order("WEB-2003"))
_REJECTED = envelopes(rejected_order("WEB-2004"))
_NOISE = envelopes(*other_aggregates(), exception_case(None, "EXC-NONE"))
_HISTORIES = {
    "full": _FULL + _CASE,
    "cancelled": _CANCELLED,
    "changed": _CHANGED,
    "rejected": _REJECTED,
    "noise": _NOISE,
}
_EXPECTED_IDS = {
    # Opened and flagged at the instant of routing: after the order's own events of it.
    _FULL_ID: [e.id for e in _FULL[:6]]
    + [_CASE[0].id, _CASE[1].id, _FULL[6].id, _CASE[2].id, _FULL[7].id, _FULL[8].id]
    + [_CASE[3].id]
    + [e.id for e in _FULL[9:]],
    _CANCELLED[0].subject: [e.id for e in _CANCELLED],
    _CHANGED[0].subject: [e.id for e in _CHANGED],
    _REJECTED[0].subject: [e.id for e in _REJECTED],
}


@st.composite
def deliveries(draw: st.DrawFn) -> list[list[EventEnvelope]]:
    """Batches as a follower may receive them: histories interleaved (each in its own order),
    events of other aggregates in between, and at-least-once redelivery."""
    chosen = draw(st.lists(st.sampled_from(sorted(_HISTORIES)), min_size=1, unique=True))
    queues = {name: list(_HISTORIES[name]) for name in chosen}
    delivered: list[EventEnvelope] = []
    while any(queues.values()):
        name = draw(st.sampled_from([n for n, q in queues.items() if q]))
        delivered.append(queues[name].pop(0))
        if draw(st.booleans()) and draw(st.booleans()):
            delivered.append(draw(st.sampled_from(delivered)))  # a redelivery
    cuts = sorted(draw(st.sets(st.integers(1, max(1, len(delivered) - 1)), max_size=6)))
    bounds = [0, *cuts, len(delivered)]
    return [delivered[a:b] for a, b in pairwise(bounds) if a < b]


# The property test runs once per backend subclass (so "differing executors"), and uses a
# fixture only to get a factory: every example builds its own fresh view.
_PER_BACKEND = [HealthCheck.function_scoped_fixture, HealthCheck.differing_executors]


class AuditTrailContract:
    @pytest.fixture
    def make_view(self) -> MakeView:
        raise NotImplementedError("a subclass provides a factory of fresh, empty views")

    @pytest.fixture
    def view(self, make_view: MakeView) -> AuditTrail:
        return make_view()

    # -- an empty view -------------------------------------------------------------------------

    def test_a_view_is_a_read_model_named_audit_trail(self, view: AuditTrail) -> None:
        model: ReadModel = view
        assert model.name == "audit_trail"

    def test_a_new_view_has_no_trail_and_no_positions(self, view: AuditTrail) -> None:
        assert view.trail(_FULL_ID) == []
        assert view.positions() == {}

    # -- one order's history -------------------------------------------------------------------

    def test_a_full_history_gives_one_entry_per_event_in_order(self, view: AuditTrail) -> None:
        history = envelopes(full_order())

        view.apply(history, {STREAM: len(history)})

        trail = view.trail(history[0].subject)
        assert [e.type for e in trail] == FULL_ORDER_TYPES
        assert [e.actor_kind for e in trail] == FULL_ORDER_ACTOR_KINDS
        assert [e.event_id for e in trail] == [env.id for env in history]
        assert [e.sequence for e in trail] == list(range(1, len(history) + 1))
        assert {e.order_id for e in trail} == {history[0].subject}

    def test_an_entry_keeps_who_when_and_exactly_what(self, view: AuditTrail) -> None:
        history = envelopes(full_order())

        view.apply(history, {STREAM: len(history)})

        for entry, env in zip(view.trail(history[0].subject), history, strict=True):
            assert entry.actor == str(env.actor)
            assert entry.actor.startswith(entry.actor_kind + ":")
            assert datetime.fromisoformat(entry.time) == env.time
            assert json.loads(entry.data) == env.data
        placed = view.trail(history[0].subject)[0]
        assert (placed.actor, placed.time) == (
            "channel:web-shop",
            "2026-11-20T09:00:00.000000+00:00",
        )

    def test_the_trail_is_in_time_order_however_it_was_delivered(self, view: AuditTrail) -> None:
        history = envelopes(full_order())
        shuffled = list(reversed(history))
        random.Random(7).shuffle(shuffled)

        view.apply(shuffled[:6], {STREAM: 6})
        view.apply(shuffled[6:], {STREAM: len(history)})

        assert [e.event_id for e in view.trail(history[0].subject)] == [env.id for env in history]

    def test_events_of_one_instant_follow_the_order_they_were_recorded_in(
        self, view: AuditTrail
    ) -> None:
        history = envelopes(full_order())
        routed, requested = history[4], history[5]
        invoiced, captured = history[9], history[10]
        assert routed.time == requested.time and invoiced.time == captured.time

        view.apply([captured, requested, invoiced, routed], {STREAM: 4})

        assert [e.type.rsplit(".", 1)[1] for e in view.trail(routed.subject)] == [
            "routed",
            "fulfillment_requested",
            "invoice_issued",
            "payment_captured",
        ]

    def test_an_order_event_the_view_has_no_sentence_for_is_still_recorded(
        self, view: AuditTrail
    ) -> None:
        placed, rejected = envelopes(rejected_order())
        gift = rejected.model_copy(update={"type": "orderhub.order.gift_wrapped"})

        view.apply([placed, gift], {STREAM: 2})

        assert [e.summary for e in view.trail(placed.subject)][1] == (
            "Event orderhub.order.gift_wrapped recorded"
        )

    # -- at-least-once delivery ----------------------------------------------------------------

    def test_a_redelivered_history_changes_nothing(self, view: AuditTrail) -> None:
        history = envelopes(full_order())
        view.apply(history, {STREAM: len(history)})
        before = view.trail(history[0].subject)

        view.apply(history, {STREAM: len(history)})
        view.apply(history[3:5] + history[3:5], {STREAM: len(history)})

        assert view.trail(history[0].subject) == before

    def test_interleaved_orders_redelivered_keep_each_trail_whole_and_apart(
        self, view: AuditTrail
    ) -> None:
        first, second = envelopes(cancelled_order()), envelopes(changed_order())
        interleaved = [env for pair in zip(first, second, strict=False) for env in pair]
        interleaved += first[len(second) :]

        view.apply(interleaved, {STREAM: len(interleaved)})
        view.apply(list(reversed(interleaved)), {STREAM: len(interleaved)})

        assert [e.event_id for e in view.trail(first[0].subject)] == [e.id for e in first]
        assert [e.event_id for e in view.trail(second[0].subject)] == [e.id for e in second]

    # -- what belongs to a trail ---------------------------------------------------------------

    def test_exception_case_events_land_in_their_orders_trail(self, view: AuditTrail) -> None:
        view.apply(_FULL + _CASE, {STREAM: len(_FULL) + len(_CASE)})

        trail = view.trail(_FULL_ID)
        assert [e.event_id for e in trail] == _EXPECTED_IDS[_FULL_ID]
        cases = [e for e in trail if e.type.startswith(EventFamily.EXCEPTION_CASE)]
        assert [(e.actor, e.summary) for e in cases] == [
            ("system:jeopardy", "Jeopardy exception EXC-2001 opened"),
            ("system:jeopardy", "Jeopardy raised (medium): promised by 2026-11-21 17:00 UTC"),
            ("user:bob", "Jeopardy exception EXC-2001 assigned to alice"),
            (
                "user:alice",
                "Jeopardy exception EXC-2001 resolved: carrier confirmed the delivery date",
            ),
        ]

    def test_events_of_other_aggregates_are_ignored_but_positions_advance(
        self, view: AuditTrail
    ) -> None:
        view.apply(_NOISE, {STREAM: 99})

        subjects = {env.subject for env in _NOISE} | {"EXC-NONE", "None", ""}
        assert all(view.trail(subject) == [] for subject in subjects)
        assert view.positions() == {STREAM: 99}

    # -- positions -----------------------------------------------------------------------------

    def test_positions_are_recorded_with_the_batch(self, view: AuditTrail) -> None:
        view.apply(_REJECTED, {STREAM: 41, "orderhub.orders.events:1": 7})

        assert view.positions() == {STREAM: 41, "orderhub.orders.events:1": 7}

    def test_a_position_never_moves_backwards(self, view: AuditTrail) -> None:
        view.apply([], {STREAM: 41})

        view.apply(_REJECTED, {STREAM: 12, "orderhub.orders.events:1": 3})

        assert view.positions() == {STREAM: 41, "orderhub.orders.events:1": 3}

    # -- reset ---------------------------------------------------------------------------------

    def test_reset_forgets_every_entry_and_position_and_a_replay_rebuilds_them(
        self, view: AuditTrail
    ) -> None:
        view.apply(_FULL + _CASE + _CANCELLED, {STREAM: 30})
        before = {oid: view.trail(oid) for oid in (_FULL_ID, _CANCELLED[0].subject)}

        view.reset()

        assert view.trail(_FULL_ID) == view.trail(_CANCELLED[0].subject) == []
        assert view.positions() == {}
        view.apply(_CANCELLED + _CASE + _FULL, {STREAM: 30})
        assert {oid: view.trail(oid) for oid in before} == before

    # -- what the lines say --------------------------------------------------------------------

    def test_every_line_says_something_specific(self, view: AuditTrail) -> None:
        histories = [_FULL, _CASE, _CANCELLED, _CHANGED, _REJECTED]
        everything = [env for history in histories for env in history]

        view.apply(everything, {STREAM: len(everything)})

        by_id = {env.id: env for env in everything}
        for order_id in _EXPECTED_IDS:
            for entry in view.trail(order_id):
                assert entry.summary.strip() == entry.summary != ""
                assert "\n" not in entry.summary
                assert entry.summary != generic(by_id[entry.event_id])

    @pytest.mark.parametrize(
        ("history", "kind", "says"),
        [
            ("full", "placed", ["web-shop", "WEB-2001", "2 lines", "44.80 EUR", "FR"]),
            ("full", "held", ["high_value", "total over 1000 EUR"]),
            ("full", "hold_released", ["customer verified by phone"]),
            ("full", "routed", ["default v1", "wh-lyon ships 2 units", "waits for BLUE-LAMP"]),
            ("full", "fulfillment_requested", ["S1", "wh-lyon", "2 RED-CHAIR"]),
            ("full", "shipment_progressed", ["S1", "wh-lyon"]),
            ("full", "invoice_issued", ["INV-1", "47.76 EUR", "20%"]),
            ("full", "payment_captured", ["47.76 EUR", "INV-1"]),
            ("full", "return_requested", ["RMA-1", "1 unit", "arrived broken"]),
            ("full", "return_received", ["RMA-1", "restocked at wh-lyon"]),
            ("full", "refunded", ["19.90 EUR", "arrived broken"]),
            ("cancelled", "shipment_rejected", ["S2", "wh-paris", "out of stock"]),
            ("cancelled", "cancellation_requested", ["customer changed", "S3 from wh-lyon"]),
            ("cancelled", "shipment_cancelled", ["S3", "wh-lyon"]),
            ("changed", "changed", ["revision 2", "59.70 EUR", "S4 from wh-lyon"]),
            ("rejected", "rejected", ["placed_at: in the future"]),
        ],
    )
    def test_a_line_names_what_matters_in_its_event(
        self, view: AuditTrail, history: str, kind: str, says: list[str]
    ) -> None:
        events = _HISTORIES[history]
        view.apply(events, {STREAM: len(events)})

        summaries = [
            e.summary for e in view.trail(events[0].subject) if e.type == f"orderhub.order.{kind}"
        ]
        assert summaries
        for fragment in says:
            assert fragment in summaries[0]

    def test_shipment_lines_name_the_carrier_and_tracking_once_shipped(
        self, view: AuditTrail
    ) -> None:
        view.apply(_FULL, {STREAM: len(_FULL)})

        progress = [e.summary for e in view.trail(_FULL_ID) if e.type.endswith("_progressed")]
        assert progress == [
            "Shipment S1 accepted by wh-lyon",
            "Shipment S1 shipped by wh-lyon via UPS (tracking 1Z999AA10123456784)",
            "Shipment S1 delivered (reported by wh-lyon)",
        ]

    # -- properties ----------------------------------------------------------------------------

    @settings(max_examples=examples(25), deadline=None, suppress_health_check=_PER_BACKEND)
    @given(batches=deliveries())
    def test_any_delivery_ends_in_each_orders_full_trail_once(
        self, make_view: MakeView, batches: list[list[EventEnvelope]]
    ) -> None:
        view = make_view()
        delivered = [env for batch in batches for env in batch]

        offset = 0
        for batch in batches:
            offset += len(batch)
            view.apply(batch, {STREAM: offset})

        assert view.positions() == {STREAM: len(delivered)}
        seen = {env.id for env in delivered}
        for order_id, expected in _EXPECTED_IDS.items():
            whole = expected if expected[0] in seen else []
            assert [e.event_id for e in view.trail(order_id)] == whole


def all_envelopes() -> Iterable[EventEnvelope]:
    """Every event of every history above: for tests that want one of each type."""
    return (env for history in _HISTORIES.values() for env in history)
