"""The exception queue: the behaviour every backend must have, whatever stores its rows.

Subclass ``ExceptionQueueContract`` in a test module (named ``Test…``) and provide a
``make_view`` fixture: a callable that returns a fresh, EMPTY queue each time it is called. The
in-memory and SQLite subclasses live in ``tests/unit/test_exception_queue.py``, the PostgreSQL
one in ``tests/integration/test_ops_views_postgres.py``.

Lifecycle rules are checked on small histories made by the real aggregates (Order,
ExceptionCase, RejectedSubmission) and the real contract mapper; the queue's mechanics (pages,
counts, summaries, redelivery, interleaving) on the varied live history of
``order_search_contract.search_history``, against brute-force answers written here.
"""

import base64
import json
import random
from collections import Counter
from collections.abc import Callable, Iterator, Sequence
from dataclasses import replace
from datetime import datetime, timedelta
from typing import Any, Protocol

import pytest
from eventsourcing.domain import Aggregate
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from aggregates.contract import to_envelope
from aggregates.exception_case import Band, ExceptionCase
from aggregates.order import Order
from aggregates.order_values import RequestedShipment, ShipmentLine
from aggregates.submission import RejectedSubmission
from hub.services.intake import INTAKE_ACTOR, submission_digest
from projections.exception_rules import KINDS, SEVERITY_RANK, ExceptionRow
from projections.exceptions import (
    ExceptionPage,
    ExceptionQuery,
    InMemoryExceptionQueue,
    SummaryRow,
)
from projections.order_query import BadCursorError
from schemas.envelope import EventEnvelope
from schemas.event_types import EventFamily
from schemas.fulfillment import UpdateKind
from tests.contracts.factories import (
    NOW,
    order_envelopes,
    placed_order,
    recorded_decision,
    submission,
)
from tests.contracts.order_search_contract import search_history
from tests.support.examples import examples

STREAM = "notification_log"
ORCHESTRATOR = "system:orchestrator"
JEOPARDY = "system:jeopardy"
ALICE = "user:alice"
CAROL = "user:carol"
PROMISE = "2026-11-21T09:00:00.000000Z"
_PER_BACKEND = [HealthCheck.function_scoped_fixture, HealthCheck.differing_executors]


def deliver_live(view: Any) -> None:
    """The live history, delivered in batches: what the ``live`` fixture holds."""
    history = search_history()
    for start in range(0, len(history), 113):
        view.apply(list(history[start : start + 113]), {STREAM: start + 113})


class ExceptionQueue(Protocol):
    def apply(self, envelopes: Sequence[EventEnvelope], positions: dict[str, int]) -> None: ...
    def positions(self) -> dict[str, int]: ...
    def reset(self) -> None: ...
    def get(self, exception_id: str) -> ExceptionRow | None: ...
    def queue(self, query: ExceptionQuery) -> ExceptionPage: ...
    def counts(self, query: ExceptionQuery) -> dict[str, int]: ...
    def summary(self, by: Any, query: ExceptionQuery) -> list[SummaryRow]: ...


MakeView = Callable[[], ExceptionQueue]


def at(minutes: float) -> datetime:
    return NOW + timedelta(minutes=minutes)


def when(minutes: float) -> str:
    """An exception's opened_at/resolved_at text for an event at `at(minutes)`."""
    return at(minutes).isoformat()


# -- histories through the real aggregates ------------------------------------------------------


class History:
    """Events in the order they were recorded, across aggregates."""

    def __init__(self) -> None:
        self.log: list[EventEnvelope] = []
        self.cases: dict[str, ExceptionCase] = {}

    def record(self, *aggregates: Aggregate) -> None:
        for aggregate in aggregates:
            self.log.extend(to_envelope(e) for e in aggregate.collect_events())

    def order(self, external_id: str = "WEB-1001", **overrides: Any) -> Order:
        order = placed_order(external_id, **overrides)
        order.accept(INTAKE_ACTOR, now=at(0))
        self.record(order)
        return order

    def route(
        self,
        order: Order,
        minute: float,
        shipments: dict[str, tuple[str, list[tuple[str, str, int]]]] | None = None,
        waiting: dict[str, int] | None = None,
        unroutable: str | None = None,
        unfulfillable: dict[str, str] | None = None,
    ) -> None:
        """shipment id -> (source, [(line_id, sku, quantity)])"""
        order.route(
            decision=recorded_decision(),
            decision_digest="sha256:decision",
            explanation="nearest source with stock",
            inputs_digest="sha256:inputs",
            shipments=[
                RequestedShipment(sid, source, tuple(ShipmentLine(*line) for line in lines))
                for sid, (source, lines) in (shipments or {}).items()
            ],
            waiting=waiting or {},
            unroutable_reason=unroutable,
            actor=ORCHESTRATOR,
            now=at(minute),
            unfulfillable=unfulfillable,
        )
        self.record(order)

    def update(
        self, order: Order, shipment: str, kind: UpdateKind, minute: float, **extra: Any
    ) -> None:
        source = order.shipments[shipment].source_id
        if kind is UpdateKind.SHIPPED:
            extra = {"carrier": "UPS", "tracking": "1Z999", **extra}
        order.apply_update(shipment, source, kind, f"source:{source}", at(minute), **extra)
        self.record(order)

    def case(
        self, exception_id: str, kind: str, order: Order | None, minute: float
    ) -> ExceptionCase:
        if exception_id not in self.cases:
            self.cases[exception_id] = ExceptionCase(
                exception_id=exception_id,
                kind=kind,
                order_id=str(order.id) if order is not None else None,
                actor=JEOPARDY,
                at=at(minute),
            )
        return self.cases[exception_id]

    def flag(self, order: Order, band: str, minute: float, kind: str = "jeopardy") -> str:
        ident = f"{kind}:{order.id}"
        case = self.case(ident, kind, order, minute)
        assert case.flag(Band(band), PROMISE, JEOPARDY, at(minute))
        self.record(case)
        return ident

    def assign(self, ident: str, kind: str, order: Order | None, who: str, minute: float) -> None:
        case = self.case(ident, kind, order, minute)
        case.assign(who, CAROL, at(minute))
        self.record(case)

    def resolve(self, ident: str, kind: str, order: Order | None, note: str, minute: float) -> None:
        case = self.case(ident, kind, order, minute)
        case.resolve(note, CAROL, at(minute))
        self.record(case)

    def refused(self, reason: str, problems: int = 1, minute: float = 1) -> str:
        refused = RejectedSubmission(
            channel="marketplace",
            raw_payload=f'{{"n": {len(self.log)}}}',
            format="canonical",
            reason=reason,
            problems=[
                {"field": "lines", "message": "at least one line is needed", "code": "too_short"},
                {"field": "currency", "message": "unknown currency", "code": "invalid"},
            ][:problems],
            external_id="MKT-BAD-1",
            details={},
            actor="channel:marketplace",
            at=at(minute),
        )
        self.record(refused)
        return str(refused.id)


def on_hold_id(order: Order) -> str:
    """The exception a hold opens: named after the Held event's sequence."""
    return f"on_hold:{order.id}:{order.version}"


# -- brute force --------------------------------------------------------------------------------


def _key(row: ExceptionRow) -> tuple[int, datetime, str]:
    return (-SEVERITY_RANK[row.severity], datetime.fromisoformat(row.opened_at), row.exception_id)


def kept(rows: Sequence[ExceptionRow], query: ExceptionQuery) -> list[ExceptionRow]:
    def keep(r: ExceptionRow) -> bool:
        checks = [
            not query.kinds or r.kind in query.kinds,
            query.severity in (None, r.severity),
            query.channel in (None, r.channel),
            query.customer_id in (None, r.customer_id),
            query.sku is None or query.sku in r.skus,
            query.source_id in (None, r.source_id),
            query.order_id in (None, r.order_id),
            query.assignee in (None, r.assignee),
            query.state == "all" or (query.state == "open") == (r.resolved_at == ""),
        ]
        return all(checks)

    return sorted((r for r in rows if keep(r)), key=_key)


def all_rows(view: ExceptionQueue) -> list[ExceptionRow]:
    return view.queue(ExceptionQuery(state="all", limit=100_000)).rows


def pages(view: ExceptionQueue, query: ExceptionQuery) -> Iterator[ExceptionPage]:
    for _ in range(10_000):
        page = view.queue(query)
        yield page
        if page.next_cursor is None:
            return
        assert len(page.rows) == query.limit
        query = replace(query, after=page.next_cursor)
    raise AssertionError("the pages never end")


def order_key(env: EventEnvelope) -> str:
    """What must stay in order: an order's events with its exception cases."""
    if env.type.startswith(EventFamily.EXCEPTION_CASE):
        return str(env.data.get("order_id") or env.subject)
    return env.subject


def _cursor(*key: object) -> str:
    return base64.urlsafe_b64encode(json.dumps(list(key)).encode()).decode().rstrip("=")


class ExceptionQueueContract:
    @pytest.fixture
    def make_view(self) -> MakeView:
        raise NotImplementedError("a subclass provides a factory of fresh, empty queues")

    @pytest.fixture
    def view(self, make_view: MakeView) -> ExceptionQueue:
        return make_view()

    @pytest.fixture
    def live(self, make_view: MakeView) -> ExceptionQueue:
        view = make_view()
        deliver_live(view)
        return view

    def fold(self, make_view: MakeView, log: Sequence[EventEnvelope]) -> ExceptionQueue:
        """The queue after the log delivered one event at a time, checked to read the same as
        when the log is delivered all at once (batch boundaries never matter)."""
        whole, single = make_view(), make_view()
        whole.apply(list(log), {STREAM: len(log)})
        for n, env in enumerate(log, 1):
            single.apply([env], {STREAM: n})
        assert all_rows(whole) == all_rows(single)
        return single

    # -- on hold --------------------------------------------------------------------------------

    def test_a_hold_opens_an_on_hold_exception_with_the_orders_facts(
        self, make_view: MakeView
    ) -> None:
        h = History()
        order = h.order()
        order.put_on_hold("payment-not-authorized", "payment is pending", ORCHESTRATOR, at(1))
        h.record(order)

        view = self.fold(make_view, h.log)

        (row,) = view.queue(ExceptionQuery()).rows
        assert row == ExceptionRow(
            exception_id=on_hold_id(order),
            kind="on_hold",
            severity="medium",
            order_id=str(order.id),
            channel="web-shop",
            customer_id="CUST-ADA",
            skus=("BLUE-LAMP", "RED-CHAIR"),
            source_id="",
            reason="payment-not-authorized: payment is pending",
            opened_at=when(1),
        )
        assert view.get(row.exception_id) == row

    def test_releasing_the_hold_resolves_it_by_whoever_released_it(
        self, make_view: MakeView
    ) -> None:
        h = History()
        order = h.order()
        order.put_on_hold("payment-not-authorized", "payment is pending", ORCHESTRATOR, at(1))
        ident = on_hold_id(order)
        order.release_hold("paid by phone", ALICE, at(5))
        h.record(order)

        view = self.fold(make_view, h.log)

        assert view.queue(ExceptionQuery()).rows == []
        row = view.get(ident)
        assert row is not None
        assert (row.resolved_at, row.resolved_by, row.resolution) == (
            when(5),
            ALICE,
            "released: paid by phone",
        )
        assert view.queue(ExceptionQuery(state="resolved")).rows == [row]

    def test_a_re_route_resolves_the_hold(self, make_view: MakeView) -> None:
        h = History()
        order = h.order()
        order.put_on_hold("high-value", "over 1000 EUR", ORCHESTRATOR, at(1))
        ident = on_hold_id(order)
        order.reroute("wh-paris", "customer is known", ALICE, at(2))
        h.record(order)

        row = self.fold(make_view, h.log).get(ident)

        assert row is not None
        assert (row.resolved_by, row.resolution) == (
            ALICE,
            "re-routed to wh-paris: customer is known",
        )

    def test_a_hold_over_the_split_limit_is_its_own_kind_not_a_backorder(
        self, make_view: MakeView
    ) -> None:
        h = History()
        order = h.order()
        reason = "1 x RED-CHAIR (line 1) would need more than the 1 shipment(s) the policy allows"
        order.put_on_hold("over_split_limit", reason, ORCHESTRATOR, at(1))
        h.record(order)

        view = self.fold(make_view, h.log)

        (row,) = view.queue(ExceptionQuery()).rows
        assert (row.kind, row.severity) == ("over_split_limit", "medium")
        assert row.reason == f"over_split_limit: {reason}"
        assert view.counts(ExceptionQuery())["backordered"] == 0

    def test_releasing_a_hold_over_the_split_limit_resolves_it(self, make_view: MakeView) -> None:
        h = History()
        order = h.order()
        order.put_on_hold("over_split_limit", "too many parcels", ORCHESTRATOR, at(1))
        order.release_hold("two parcels are fine", ALICE, at(5))
        h.record(order)

        view = self.fold(make_view, h.log)

        assert view.queue(ExceptionQuery()).rows == []
        (row,) = view.queue(ExceptionQuery(state="resolved")).rows
        assert (row.kind, row.resolved_by) == ("over_split_limit", ALICE)

    # -- no route -------------------------------------------------------------------------------

    def test_an_unroutable_routing_opens_one_exception_until_a_routing_places_the_lines(
        self, make_view: MakeView
    ) -> None:
        h = History()
        order = h.order()
        h.route(order, 1, unroutable="no source ships to IS")
        order.reroute("wh-lyon", "try the big one", ALICE, at(2))
        h.record(order)
        h.route(order, 3, unroutable="1: no_stock")  # still nothing: no second exception
        view = self.fold(make_view, h.log)
        (row,) = view.queue(ExceptionQuery(state="all")).rows
        assert (row.kind, row.severity, row.reason, row.opened_at) == (
            "unroutable",
            "high",
            "no source ships to IS",
            when(1),
        )
        assert row.is_open

        order.reroute("wh-paris", "try paris", ALICE, at(4))
        h.record(order)
        h.route(order, 5, {"S1": ("wh-paris", [("1", "RED-CHAIR", 2), ("2", "BLUE-LAMP", 1)])})
        row = self.fold(make_view, h.log).get(row.exception_id)

        assert row is not None
        assert (row.resolved_at, row.resolution, row.resolved_by) == (
            when(5),
            "routed",
            ORCHESTRATOR,
        )

    def test_nowhere_left_after_a_source_rejected_names_that_source(
        self, make_view: MakeView
    ) -> None:
        h = History()
        order = h.order()
        h.route(order, 1, {"S1": ("wh-lyon", [("1", "RED-CHAIR", 2), ("2", "BLUE-LAMP", 1)])})
        h.update(order, "S1", UpdateKind.REJECTED, 2, reason="shelf empty")
        h.route(order, 3, unroutable="no source can ship this order")

        (row,) = self.fold(make_view, h.log).queue(ExceptionQuery()).rows

        assert (row.kind, row.severity, row.source_id) == ("no_source_left", "high", "wh-lyon")
        assert row.reason == (
            "rejected by wh-lyon; no other source can take it: no source can ship this order"
        )

    def test_lines_a_source_refused_that_now_wait_are_no_source_left_until_they_ship(
        self, make_view: MakeView
    ) -> None:
        h = History()
        order = h.order()
        h.route(order, 1, {"S1": ("wh-lyon", [("1", "RED-CHAIR", 2), ("2", "BLUE-LAMP", 1)])})
        h.update(order, "S1", UpdateKind.REJECTED, 2, reason="shelf empty")
        h.route(order, 3, waiting={"1": 2, "2": 1})
        h.route(order, 4, waiting={"1": 2, "2": 1})  # a sweep that found nothing
        view = self.fold(make_view, h.log)
        (row,) = view.queue(ExceptionQuery(state="all")).rows
        assert (row.kind, row.source_id, row.opened_at) == ("no_source_left", "wh-lyon", when(3))
        assert row.reason == (
            "rejected by wh-lyon; no other source can take it: waiting for BLUE-LAMP, RED-CHAIR"
        )

        h.route(order, 5, {"S2": ("wh-paris", [("1", "RED-CHAIR", 2), ("2", "BLUE-LAMP", 1)])})
        view = self.fold(make_view, h.log)

        (row,) = view.queue(ExceptionQuery(state="all")).rows
        assert (row.kind, row.resolved_at, row.resolution) == ("no_source_left", when(5), "routed")

    def test_a_later_unroutable_without_a_rejection_is_plain_unroutable(
        self, make_view: MakeView
    ) -> None:
        h = History()
        order = h.order()
        h.route(order, 1, {"S1": ("wh-lyon", [("1", "RED-CHAIR", 2), ("2", "BLUE-LAMP", 1)])})
        h.update(order, "S1", UpdateKind.REJECTED, 2, reason="shelf empty")
        h.route(order, 3, {"S2": ("wh-paris", [("1", "RED-CHAIR", 2), ("2", "BLUE-LAMP", 1)])})
        order.reroute("store-lille", "closer", ALICE, at(4))
        h.record(order)
        h.route(order, 5, unroutable="1: no_stock")

        (row,) = self.fold(make_view, h.log).queue(ExceptionQuery()).rows

        assert (row.kind, row.source_id) == ("unroutable", "")

    # -- backorders -----------------------------------------------------------------------------

    def test_waiting_lines_are_one_backordered_exception_until_stock_is_allocated(
        self, make_view: MakeView
    ) -> None:
        h = History()
        order = h.order()
        h.route(order, 1, {"S1": ("wh-lyon", [("1", "RED-CHAIR", 2)])}, waiting={"2": 1})
        h.route(order, 2, waiting={"2": 1})  # a sweep that found nothing: still one exception
        view = self.fold(make_view, h.log)
        (row,) = view.queue(ExceptionQuery(state="all")).rows
        assert (row.kind, row.severity, row.skus, row.reason) == (
            "backordered",
            "low",
            ("BLUE-LAMP",),
            "waiting for 1 x BLUE-LAMP",
        )

        h.route(order, 3, {"S2": ("wh-paris", [("2", "BLUE-LAMP", 1)])})
        row = self.fold(make_view, h.log).get(row.exception_id)

        assert row is not None
        assert (row.resolved_at, row.resolution) == (when(3), "stock allocated")

    def test_waiting_lines_no_holder_may_ship_are_unfulfillable_with_the_reason_per_line(
        self, make_view: MakeView
    ) -> None:
        h = History()
        order = h.order()
        why = "BLUE-LAMP: held only at st-de-0001 (does_not_ship_to_country)"
        h.route(order, 1, waiting={"1": 2, "2": 1}, unfulfillable={"2": why})
        # A source may ship it now (registered, redefined): it waits for stock like the other.
        h.route(order, 2, waiting={"1": 2, "2": 1})
        view = self.fold(make_view, h.log)
        rows = {r.kind: r for r in view.queue(ExceptionQuery(state="all")).rows}
        assert set(rows) == {"backordered", "unfulfillable"}
        stuck, waits = rows["unfulfillable"], rows["backordered"]
        assert (stuck.severity, stuck.skus, stuck.reason) == ("medium", ("BLUE-LAMP",), f"2: {why}")
        assert (stuck.opened_at, stuck.resolved_at) == (when(1), when(2))
        assert (waits.reason, waits.is_open) == ("waiting for 2 x RED-CHAIR", True)

    def test_a_routed_event_from_before_unfulfillable_lines_is_a_backorder(
        self, make_view: MakeView
    ) -> None:
        h = History()
        order = h.order()
        h.route(order, 1, waiting={"2": 1})
        (routed,) = [e for e in h.log if e.type == "orderhub.order.routed"]
        assert "unfulfillable" in routed.data
        old = routed.model_copy(
            update={"data": {k: v for k, v in routed.data.items() if k != "unfulfillable"}}
        )
        view = self.fold(make_view, [old if e is routed else e for e in h.log])
        (row,) = view.queue(ExceptionQuery(state="all")).rows
        assert (row.kind, row.reason) == ("backordered", "waiting for 1 x BLUE-LAMP")

    # -- deliveries -----------------------------------------------------------------------------

    def test_a_failed_delivery_is_open_until_that_shipment_is_delivered(
        self, make_view: MakeView
    ) -> None:
        h = History()
        order = h.order()
        h.route(
            order,
            1,
            {
                "S1": ("wh-lyon", [("1", "RED-CHAIR", 2)]),
                "S2": ("wh-paris", [("2", "BLUE-LAMP", 1)]),
            },
        )
        for sid in ("S1", "S2"):
            h.update(order, sid, UpdateKind.SHIPPED, 2)
        h.update(order, "S1", UpdateKind.DELIVERY_FAILED, 3, reason="nobody home")
        h.update(order, "S2", UpdateKind.DELIVERED, 4)  # the other shipment
        view = self.fold(make_view, h.log)
        (row,) = view.queue(ExceptionQuery()).rows
        assert (row.kind, row.severity, row.source_id, row.reason, row.skus) == (
            "delivery_failed",
            "high",
            "wh-lyon",
            "shipment S1: nobody home",
            ("BLUE-LAMP", "RED-CHAIR"),
        )

        h.update(order, "S1", UpdateKind.DELIVERED, 5)
        row = self.fold(make_view, h.log).get(row.exception_id)

        assert row is not None
        assert (row.resolved_at, row.resolution, row.resolved_by) == (
            when(5),
            "delivered",
            "source:wh-lyon",
        )

    # -- refused input --------------------------------------------------------------------------

    @pytest.mark.parametrize(
        ("reason", "kind", "severity"),
        [
            ("invalid_submission", "rejected_submission", "low"),
            ("unknown_channel", "rejected_submission", "low"),
            ("follower_failed", "parked", "high"),
            ("dead_lettered", "parked", "high"),
        ],
    )
    def test_a_refused_submission_is_an_exception_without_an_order(
        self, make_view: MakeView, reason: str, kind: str, severity: str
    ) -> None:
        h = History()
        subject = h.refused(reason, problems=2)

        (row,) = self.fold(make_view, h.log).queue(ExceptionQuery()).rows

        assert row == ExceptionRow(
            exception_id=f"{kind}:{subject}",
            kind=kind,
            severity=severity,
            order_id="",
            channel="marketplace",
            customer_id="",
            skus=(),
            source_id="",
            reason=f"{reason}: lines at least one line is needed (+1 more)",
            opened_at=when(1),
        )

    def test_an_order_rejected_at_intake_is_a_rejected_submission(
        self, make_view: MakeView
    ) -> None:
        log = order_envelopes("WEB-9", "rejected", reasons=("placed_at: in the future", "x: y"))

        (row,) = self.fold(make_view, log).queue(ExceptionQuery()).rows

        assert (row.kind, row.order_id, row.reason, row.customer_id) == (
            "rejected_submission",
            log[0].subject,
            "placed_at: in the future; x: y",
            "CUST-ADA",
        )

    # -- the jeopardy clock ---------------------------------------------------------------------

    def test_a_jeopardy_flag_is_one_row_whose_severity_follows_the_band(
        self, make_view: MakeView
    ) -> None:
        h = History()
        order = h.order()
        h.route(order, 1, waiting={"1": 2, "2": 1})
        ident = h.flag(order, "low", 10)
        view = self.fold(make_view, h.log)
        row = view.get(ident)
        assert row is not None
        assert (row.kind, row.severity, row.opened_at, row.reason) == (
            "jeopardy",
            "low",
            when(10),
            f"low risk: promised by {PROMISE}, not shipped yet",
        )

        h.flag(order, "medium", 20)
        h.flag(order, "high", 30)
        view = self.fold(make_view, h.log)

        jeopardy = view.queue(ExceptionQuery(kinds=("jeopardy",), state="all")).rows
        assert [(r.exception_id, r.severity, r.opened_at) for r in jeopardy] == [
            (ident, "high", when(10))
        ]
        assert jeopardy[0].reason == f"high risk: promised by {PROMISE}, not shipped yet"

    def test_late_is_high_and_resolves_the_jeopardy_flag(self, make_view: MakeView) -> None:
        h = History()
        order = h.order()
        h.route(order, 1, {"S1": ("wh-lyon", [("1", "RED-CHAIR", 2), ("2", "BLUE-LAMP", 1)])})
        jeopardy = h.flag(order, "medium", 10)
        late = h.flag(order, "high", 20, kind="late")

        view = self.fold(make_view, h.log)

        (row,) = view.queue(ExceptionQuery()).rows
        assert (row.exception_id, row.kind, row.severity, row.reason) == (
            late,
            "late",
            "high",
            f"promised by {PROMISE}, not shipped",
        )
        resolved = view.get(jeopardy)
        assert resolved is not None
        assert (resolved.resolved_at, resolved.resolution, resolved.resolved_by) == (
            when(20),
            "late now",
            JEOPARDY,
        )

    @pytest.mark.parametrize("state", [UpdateKind.SHIPPED, UpdateKind.DELIVERED])
    @pytest.mark.parametrize("kind", ["jeopardy", "late"])
    def test_a_shipment_that_left_resolves_the_flag(
        self, make_view: MakeView, state: UpdateKind, kind: str
    ) -> None:
        h = History()
        order = h.order()
        h.route(order, 1, {"S1": ("wh-lyon", [("1", "RED-CHAIR", 2), ("2", "BLUE-LAMP", 1)])})
        ident = h.flag(order, "high", 10, kind=kind)
        h.update(order, "S1", state, 20)

        view = self.fold(make_view, h.log)

        row = view.get(ident)
        assert row is not None
        assert (row.resolved_at, row.resolution) == (when(20), f"shipment {state.value}")
        assert view.queue(ExceptionQuery()).rows == []

    def test_a_delivery_failure_reported_first_still_resolves_the_flag(
        self, make_view: MakeView
    ) -> None:
        h = History()
        order = h.order()
        h.route(order, 1, {"S1": ("wh-lyon", [("1", "RED-CHAIR", 2), ("2", "BLUE-LAMP", 1)])})
        ident = h.flag(order, "high", 10, kind="late")
        h.update(order, "S1", UpdateKind.DELIVERY_FAILED, 20, reason="nobody home")
        assert order.status.value == "shipped"

        row = self.fold(make_view, h.log).get(ident)

        assert row is not None
        assert not row.is_open

    # -- people ---------------------------------------------------------------------------------

    def test_an_assignment_and_a_resolution_by_a_person_show_with_their_actor(
        self, make_view: MakeView
    ) -> None:
        h = History()
        order = h.order()
        order.put_on_hold("payment-not-authorized", "payment is pending", ORCHESTRATOR, at(1))
        h.record(order)
        ident = on_hold_id(order)
        h.assign(ident, "on_hold", order, "bob", 2)
        view = self.fold(make_view, h.log)
        assert [(r.exception_id, r.assignee) for r in view.queue(ExceptionQuery()).rows] == [
            (ident, "bob")
        ]
        assert view.queue(ExceptionQuery(assignee="bob")).rows == view.queue(ExceptionQuery()).rows
        assert view.queue(ExceptionQuery(assignee="eve")).rows == []

        h.resolve(ident, "on_hold", order, "called the bank", 3)
        order.release_hold("paid", ALICE, at(4))  # resolves nothing more: it is resolved
        h.record(order)
        view = self.fold(make_view, h.log)

        row = view.get(ident)
        assert row is not None
        assert (row.assignee, row.resolved_at, row.resolved_by, row.resolution) == (
            "bob",
            when(3),
            CAROL,
            "called the bank",
        )

    def test_a_person_resolves_a_refused_submission(self, make_view: MakeView) -> None:
        h = History()
        subject = h.refused("invalid_submission")
        ident = f"rejected_submission:{subject}"
        h.assign(ident, "rejected_submission", None, "bob", 2)
        h.resolve(ident, "rejected_submission", None, "asked the channel to re-send", 3)

        row = self.fold(make_view, h.log).get(ident)

        assert row is not None
        assert (row.assignee, row.resolved_by, row.resolution) == (
            "bob",
            CAROL,
            "asked the channel to re-send",
        )

    def test_a_person_resolved_flag_is_raised_again_when_the_band_escalates(
        self, make_view: MakeView
    ) -> None:
        h = History()
        order = h.order()
        h.route(order, 1, waiting={"1": 2, "2": 1})
        ident = h.flag(order, "low", 10)
        h.assign(ident, "jeopardy", order, "bob", 11)
        h.resolve(ident, "jeopardy", order, "customer knows", 12)
        view = self.fold(make_view, h.log)
        row = view.get(ident)
        assert row is not None
        assert not row.is_open

        h.flag(order, "medium", 20)
        row = self.fold(make_view, h.log).get(ident)

        assert row is not None
        assert row.is_open
        assert (row.severity, row.opened_at, row.resolved_by, row.resolution) == (
            "medium",
            when(20),
            "",
            "",
        )

    # -- cancellation ---------------------------------------------------------------------------

    def test_a_cancellation_resolves_everything_open_on_the_order_and_nothing_else(
        self, make_view: MakeView
    ) -> None:
        h = History()
        order = h.order()
        other = h.order("WEB-2002")
        h.route(order, 1, {"S1": ("wh-lyon", [("1", "RED-CHAIR", 2)])}, waiting={"2": 1})
        h.route(other, 1, waiting={"1": 2, "2": 1})
        h.flag(order, "medium", 10)
        h.flag(other, "medium", 10)
        h.assign(f"jeopardy:{order.id}", "jeopardy", order, "bob", 11)
        order.request_cancellation("customer changed their mind", "channel:web-shop", at(20))
        h.record(order)

        view = self.fold(make_view, h.log)

        mine = view.queue(ExceptionQuery(order_id=str(order.id), state="all")).rows
        assert {r.kind for r in mine} == {"backordered", "jeopardy"}
        assert all(
            (r.resolved_at, r.resolved_by, r.resolution)
            == (when(20), "channel:web-shop", "order cancelled: customer changed their mind")
            for r in mine
        )
        theirs = view.queue(ExceptionQuery(order_id=str(other.id))).rows
        assert {r.kind for r in theirs} == {"backordered", "jeopardy"}

    # -- a row's facts --------------------------------------------------------------------------

    def test_a_re_raised_flag_is_found_by_the_orders_skus_of_now_only(
        self, make_view: MakeView
    ) -> None:
        """An order changed to other SKUs: a flag raised again carries the new ones, and the
        SKU filter and summary follow the row."""
        h = History()
        order = h.order()
        h.route(order, 1, waiting={"1": 2, "2": 1})
        ident = h.flag(order, "low", 10)
        h.resolve(ident, "jeopardy", order, "customer knows", 11)
        revised = submission(
            lines=[{"line_id": "1", "sku": "OAK-TABLE", "quantity": 1, "unit_price": "249.00"}]
        )
        order.change(revised, submission_digest(revised), "{}", ALICE, at(12))
        h.record(order)
        h.flag(order, "medium", 20)

        view = self.fold(make_view, h.log)

        row = view.get(ident)
        assert row is not None
        assert row.skus == ("OAK-TABLE",)
        assert [r.exception_id for r in view.queue(ExceptionQuery(sku="OAK-TABLE")).rows] == [ident]
        everything = ExceptionQuery(state="all", kinds=("jeopardy",))
        assert view.queue(replace(everything, sku="RED-CHAIR")).rows == []
        assert [s.key for s in view.summary("sku", everything)] == ["OAK-TABLE"]

    # -- redelivery and interleaving ------------------------------------------------------------

    def test_the_live_history_has_every_kind_of_exception(self, live: ExceptionQueue) -> None:
        rows = all_rows(live)
        kinds = Counter(r.kind for r in rows)
        assert set(kinds) >= {
            "on_hold",
            "unroutable",
            "backordered",
            "delivery_failed",
            "jeopardy",
            "late",
            "rejected_submission",
        }
        assert any(not r.is_open for r in rows)
        assert any(r.assignee for r in rows)
        assert any(r.resolved_by == CAROL for r in rows)
        assert len({r.opened_at for r in rows}) > 3

    def test_redelivering_the_whole_history_changes_nothing(self, live: ExceptionQueue) -> None:
        before = all_rows(live)
        history = search_history()

        live.apply(list(history), {STREAM: len(history)})
        live.apply(list(history[::-1]), {STREAM: len(history)})  # even backwards

        assert all_rows(live) == before

    @settings(max_examples=examples(12), deadline=None, suppress_health_check=_PER_BACKEND)
    @given(data=st.data())
    def test_any_interleaving_of_orders_with_redeliveries_gives_the_same_queue(
        self, make_view: MakeView, data: st.DataObject
    ) -> None:
        history = search_history()
        keys = sorted({order_key(env) for env in history})
        chosen = set(data.draw(st.lists(st.sampled_from(keys), min_size=1, max_size=25)))
        log = [env for env in history if order_key(env) in chosen]
        expected = InMemoryExceptionQueue()
        expected.apply(log, {STREAM: 1})
        rng = random.Random(data.draw(st.integers(0, 2**32)))
        queues = {k: [e for e in log if order_key(e) == k] for k in sorted(chosen)}
        delivered: list[EventEnvelope] = []
        while any(queues.values()):
            key = rng.choice([k for k, q in queues.items() if q])
            delivered.append(queues[key].pop(0))
            if rng.random() < 0.2:
                delivered.append(rng.choice(delivered))  # at least once
        view = make_view()
        start = 0
        while start < len(delivered):
            size = rng.randint(1, 40)
            view.apply(delivered[start : start + size], {STREAM: start + size})
            start += size

        assert all_rows(view) == all_rows(expected)

    # -- reading the queue ----------------------------------------------------------------------

    def test_each_filter_alone_is_the_brute_force_answer(self, live: ExceptionQueue) -> None:
        rows = all_rows(live)
        some = next(r for r in rows if r.kind == "backordered")
        failed = next(r for r in rows if r.kind == "delivery_failed")
        queries = [
            ExceptionQuery(),
            ExceptionQuery(state="resolved"),
            ExceptionQuery(kinds=("on_hold", "late")),
            ExceptionQuery(kinds=("parked",)),
            ExceptionQuery(severity="high"),
            ExceptionQuery(severity="low", state="all"),
            ExceptionQuery(channel="marketplace", state="all"),
            ExceptionQuery(customer_id=some.customer_id),
            ExceptionQuery(sku=some.skus[0], state="all"),
            ExceptionQuery(sku="GREEN-SOFA"),
            ExceptionQuery(source_id=failed.source_id),
            ExceptionQuery(order_id=some.order_id, state="all"),
            ExceptionQuery(assignee="bob", state="all"),
            ExceptionQuery(assignee="nobody"),
        ]
        for query in queries:
            assert live.queue(replace(query, limit=10_000)).rows == kept(rows, query), query

    @pytest.mark.parametrize("state", ["open", "resolved", "all"])
    @pytest.mark.parametrize("limit", [1, 4, 25])
    def test_pages_are_most_severe_then_oldest_first_each_row_once(
        self, live: ExceptionQueue, state: str, limit: int
    ) -> None:
        query = ExceptionQuery(state=state, limit=limit)  # type: ignore[arg-type]

        got = [row for page in pages(live, query) for row in page.rows]

        assert got == kept(all_rows(live), query)
        assert len({r.exception_id for r in got}) == len(got)
        ranks = [SEVERITY_RANK[r.severity] for r in got]
        assert ranks == sorted(ranks, reverse=True)

    def test_filtered_pages_follow_the_same_order(self, live: ExceptionQueue) -> None:
        for query in (
            ExceptionQuery(kinds=("jeopardy", "backordered"), state="all", limit=3),
            ExceptionQuery(sku="RED-CHAIR", state="all", limit=2),
            ExceptionQuery(channel="web-shop", limit=1),
        ):
            got = [row for page in pages(live, query) for row in page.rows]
            assert got == kept(all_rows(live), query), query

    @pytest.mark.parametrize(
        "cursor",
        [
            "garbage",
            "é",
            _cursor("placed_at", True, "2026-11-20T09:00:00Z", "x"),  # the order search's
            _cursor("high", "2026-11-20T09:00:00+00:00", "x"),
            _cursor(None, "2026-11-20T09:00:00+00:00", "x"),
            base64.urlsafe_b64encode(b"\xff").decode(),
        ],
    )
    def test_a_foreign_or_garbled_cursor_is_refused(
        self, live: ExceptionQueue, cursor: str
    ) -> None:
        with pytest.raises(BadCursorError):
            live.queue(ExceptionQuery(after=cursor))

    @pytest.mark.parametrize(
        "query",
        [
            ExceptionQuery(),
            ExceptionQuery(state="all"),
            ExceptionQuery(state="resolved"),
            ExceptionQuery(kinds=("on_hold",)),
            ExceptionQuery(kinds=("late", "jeopardy"), channel="web-shop"),
            ExceptionQuery(severity="high", state="all"),
            ExceptionQuery(sku="RED-CHAIR", state="all"),
            ExceptionQuery(assignee="bob", state="all"),
            ExceptionQuery(customer_id="CUST-ADA"),
        ],
        ids=lambda q: (
            ",".join(f"{k}={v}" for k, v in vars(q).items() if v not in ((), None)) or "default"
        ),
    )
    def test_counts_per_kind_match_the_queue_and_ignore_the_kinds_filter(
        self, live: ExceptionQueue, query: ExceptionQuery
    ) -> None:
        every_kind = replace(query, kinds=(), limit=100_000)
        expected = dict.fromkeys(KINDS, 0)
        expected.update(Counter(r.kind for r in live.queue(every_kind).rows))

        assert live.counts(query) == expected
        assert live.counts(replace(query, kinds=("parked",))) == expected

    @pytest.mark.parametrize("by", ["customer_id", "sku", "source_id", "channel"])
    @pytest.mark.parametrize("state", ["open", "all"])
    def test_a_summary_adds_up_the_queue(self, live: ExceptionQueue, by: str, state: str) -> None:
        query = ExceptionQuery(state=state)  # type: ignore[arg-type]
        rows = live.queue(replace(query, limit=100_000)).rows
        groups: dict[str, list[ExceptionRow]] = {}
        for row in rows:
            for key in row.skus if by == "sku" else (getattr(row, by),):
                if key:
                    groups.setdefault(key, []).append(row)
        expected = sorted(
            (
                SummaryRow(
                    key,
                    len(members),
                    sum(m.severity == "high" for m in members),
                    min((m.opened_at for m in members), key=datetime.fromisoformat),
                )
                for key, members in groups.items()
            ),
            key=lambda s: (-s.open, s.key),
        )

        assert live.summary(by, query) == expected
        assert live.summary(by, replace(query, kinds=("backordered",))) == [
            s for s in _summary_of(rows, by, "backordered")
        ]

    # -- reset ----------------------------------------------------------------------------------

    def test_reset_forgets_everything_and_a_replay_rebuilds_the_same_queue(
        self, live: ExceptionQueue
    ) -> None:
        before = all_rows(live)
        some = before[0].exception_id

        live.reset()

        assert all_rows(live) == []
        assert live.get(some) is None
        assert live.positions() == {}
        assert live.counts(ExceptionQuery(state="all")) == dict.fromkeys(KINDS, 0)
        assert live.summary("sku", ExceptionQuery(state="all")) == []
        history = search_history()
        live.apply(list(history), {STREAM: len(history)})
        assert all_rows(live) == before
        assert live.positions() == {STREAM: len(history)}

    def test_an_unknown_exception_is_none(self, live: ExceptionQueue) -> None:
        assert live.get("jeopardy:nobody") is None


def _summary_of(rows: Sequence[ExceptionRow], by: str, kind: str) -> list[SummaryRow]:
    groups: dict[str, list[ExceptionRow]] = {}
    for row in rows:
        if row.kind != kind:
            continue
        for key in row.skus if by == "sku" else (getattr(row, by),):
            if key:
                groups.setdefault(key, []).append(row)
    return sorted(
        (
            SummaryRow(
                k,
                len(m),
                sum(x.severity == "high" for x in m),
                min(x.opened_at for x in m),
            )
            for k, m in groups.items()
        ),
        key=lambda s: (-s.open, s.key),
    )
