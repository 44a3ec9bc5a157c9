"""The jeopardy clock on an embedded hub with a clock the test moves: flags rise by thirds of the
margin, turn into lateness after the promise, are recorded once however often the clock ticks,
clear when the order ships, and respect a person's resolution until the band escalates."""

from collections import Counter
from collections.abc import Iterator
from contextlib import closing
from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import Any
from uuid import UUID

import pytest

import hub.services.jeopardy as jeopardy_module
from hub.bootstrap import Hub
from hub.services.jeopardy import Tick
from orchestration_policies.promise import Risk, promised_by, risk
from projections.exception_rules import ExceptionRow
from projections.exceptions import ExceptionQuery
from schemas.event_types import EventFamily
from schemas.fulfillment import FulfillmentUpdate, UpdateKind
from tests.contracts.factories import NOW, named_cases, submit_order
from tests.contracts.order_search_contract import LYON, report_all
from tests.support.running_hub import Clock, embedded_hub, stock_up

MARGIN = timedelta(hours=24)  # the settings' default: thirds of 8 hours
PROMISE = NOW + timedelta(hours=30)
CAROL = "user:carol"
CHAIRS_AND_LAMPS = {"RED-CHAIR": 50, "BLUE-LAMP": 50}


@pytest.fixture
def hub(tmp_path: Path, clock: Clock) -> Iterator[Hub]:
    with closing(embedded_hub(tmp_path, clock)) as hub:
        assert hub.settings.jeopardy_margin_hours == 24
        stock_up(
            hub,
            {
                "wh-lyon": (45.75, 4.85, CHAIRS_AND_LAMPS),
                "wh-paris": (48.86, 2.35, CHAIRS_AND_LAMPS),
            },
        )
        yield hub


def place(hub: Hub, external_id: str, promise: datetime | None = PROMISE, **overrides: Any) -> str:
    extra = {"promised_by": promise.isoformat(), **overrides} if promise else overrides
    command = submit_order(
        external_id=external_id,
        correlation_id=external_id,
        ship_to=LYON,
        payment_state="authorized",
        **extra,
    )
    hub.intake.place_orders([command])
    hub.deliver()
    return str(command.order_id)


def tick_at(hub: Hub, clock: Clock, when: datetime) -> Tick:
    clock.at = when
    tick = hub.jeopardy.tick()
    hub.deliver()
    return tick


def case_events(hub: Hub) -> Counter[str]:
    return Counter(
        env.type.removeprefix(EventFamily.EXCEPTION_CASE)
        for _, env in hub.store.read_envelopes(None, 100_000)
        if env.type.startswith(EventFamily.EXCEPTION_CASE)
    )


def flag_id(hub: Hub, kind: str, order_id: str) -> str:
    """The clock's case for the order's current promise."""
    row = hub.order_status.get(order_id)
    assert row is not None
    return f"{kind}:{order_id}:{row.promised_by}"


def flag_of(hub: Hub, kind: str, order_id: str) -> ExceptionRow | None:
    return hub.exceptions.get(flag_id(hub, kind, order_id))


def open_flags(hub: Hub) -> list[tuple[str, str]]:
    rows = hub.exceptions.queue(ExceptionQuery(kinds=("jeopardy", "late"))).rows
    return [(r.kind, r.severity) for r in rows]


# -- the clock ------------------------------------------------------------------------------------


def test_an_order_promised_beyond_the_margin_is_not_looked_at(hub: Hub, clock: Clock) -> None:
    place(hub, "WEB-1")

    assert tick_at(hub, clock, NOW) == Tick(looked_at=0, flagged=0)
    assert case_events(hub) == Counter()


def test_the_band_rises_by_thirds_of_the_margin_then_the_order_is_late(
    hub: Hub, clock: Clock
) -> None:
    order_id = place(hub, "WEB-1")
    row = hub.order_status.get(order_id)
    assert row is not None
    assert row.promised_by == "2026-11-21T15:00:00.000000Z"

    seen = []
    for left, band in (
        (MARGIN, "low"),  # the margin's edge is inside it
        (MARGIN * 2 / 3, "medium"),
        (MARGIN / 3, "high"),
    ):
        assert tick_at(hub, clock, PROMISE - left) == Tick(looked_at=1, flagged=1)
        seen.append(open_flags(hub))
        flag = flag_of(hub, "jeopardy", order_id)
        assert flag is not None
        assert flag.reason == f"{band} risk: promised by {row.promised_by}, not shipped yet"
    assert seen == [[("jeopardy", "low")], [("jeopardy", "medium")], [("jeopardy", "high")]]
    assert case_events(hub) == Counter({"opened": 1, "flagged": 3})

    assert tick_at(hub, clock, PROMISE + timedelta(microseconds=1)) == Tick(1, 1)

    assert open_flags(hub) == [("late", "high")]
    jeopardy = flag_of(hub, "jeopardy", order_id)
    assert jeopardy is not None
    assert (jeopardy.resolution, jeopardy.resolved_by) == ("late now", "system:jeopardy")
    assert case_events(hub) == Counter({"opened": 2, "flagged": 4})


def test_a_band_skipped_between_two_ticks_is_raised_at_once(hub: Hub, clock: Clock) -> None:
    order_id = place(hub, "WEB-1")

    tick_at(hub, clock, PROMISE - timedelta(hours=1))

    assert open_flags(hub) == [("jeopardy", "high")]
    assert case_events(hub) == Counter({"opened": 1, "flagged": 1})
    assert flag_of(hub, "late", order_id) is None


@pytest.mark.parametrize("deliver_between", [True, False])
def test_ticking_again_records_nothing_new(hub: Hub, clock: Clock, deliver_between: bool) -> None:
    place(hub, "WEB-1")
    place(hub, "WEB-2", promise=PROMISE + timedelta(hours=9))
    for moment in (PROMISE - timedelta(hours=20), PROMISE - timedelta(hours=5), PROMISE):
        clock.at = moment
        hub.jeopardy.tick()
        if deliver_between:
            hub.deliver()
        before = case_events(hub)

        again = [hub.jeopardy.tick() for _ in range(3)]
        hub.deliver()
        clock.at = moment + timedelta(minutes=1)  # same bands a minute later
        again.append(hub.jeopardy.tick())

        assert [t.flagged for t in again] == [0, 0, 0, 0]
        assert case_events(hub) == before
    assert sorted(open_flags(hub)) == [("jeopardy", "medium"), ("late", "high")]


def test_every_due_order_is_looked_at_across_pages(
    hub: Hub, clock: Clock, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setattr(jeopardy_module, "SCAN_PAGE", 2)
    ids = [place(hub, f"WEB-{n}", PROMISE + timedelta(minutes=n)) for n in range(5)]

    tick = tick_at(hub, clock, PROMISE - timedelta(hours=2))

    assert tick == Tick(looked_at=5, flagged=5)
    assert all(flag_of(hub, "jeopardy", order_id) for order_id in ids)


# -- what ends a flag ------------------------------------------------------------------------------


def test_the_flag_clears_when_the_order_ships_and_the_clock_stops_watching(
    hub: Hub, clock: Clock
) -> None:
    order_id = place(hub, "WEB-1")
    tick_at(hub, clock, PROMISE - timedelta(hours=10))
    assert open_flags(hub) == [("jeopardy", "medium")]

    clock.advance(hours=1)
    report_all(hub, order_id, UpdateKind.SHIPPED)

    flag = flag_of(hub, "jeopardy", order_id)
    assert flag is not None
    assert (flag.resolution, flag.resolved_by) == ("shipment shipped", "source:wh-lyon")
    events = case_events(hub)
    assert tick_at(hub, clock, PROMISE + timedelta(days=3)) == Tick(0, 0)
    assert case_events(hub) == events
    assert open_flags(hub) == []


def test_a_persons_resolution_holds_at_the_same_band_but_not_once_it_escalates(
    hub: Hub, clock: Clock
) -> None:
    order_id = place(hub, "WEB-1")
    tick_at(hub, clock, PROMISE - timedelta(hours=20))
    hub.ops.resolve_exception(
        flag_id(hub, "jeopardy", order_id), "customer knows it is late", CAROL
    )
    hub.deliver()
    events = case_events(hub)

    assert tick_at(hub, clock, PROMISE - timedelta(hours=17)).flagged == 0  # still low

    assert case_events(hub) == events
    flag = flag_of(hub, "jeopardy", order_id)
    assert flag is not None
    assert (flag.is_open, flag.resolved_by) == (False, CAROL)

    assert tick_at(hub, clock, PROMISE - timedelta(hours=15)).flagged == 1  # medium now

    flag = flag_of(hub, "jeopardy", order_id)
    assert flag is not None
    assert (flag.is_open, flag.severity, flag.resolved_by) == (True, "medium", "")
    assert flag.opened_at == (PROMISE - timedelta(hours=15)).isoformat()
    hub.ops.resolve_exception(
        flag_id(hub, "jeopardy", order_id), "still fine", CAROL
    )  # resolvable again
    hub.deliver()
    assert open_flags(hub) == []


def test_orders_cancelled_or_rejected_are_not_watched(hub: Hub, clock: Clock) -> None:
    watched = place(hub, "WEB-1")
    nobody_has_it = [{"line_id": "1", "sku": "GREEN-SOFA", "quantity": 1, "unit_price": "899"}]
    waiting = place(hub, "WEB-2", lines=nobody_has_it)
    hub.fulfillment.cancel_order(UUID(waiting), "gave up waiting", CAROL)
    future = place(
        hub,
        "WEB-3",
        promise=NOW + timedelta(days=2),
        placed_at=(NOW + timedelta(days=1)).isoformat(),  # refused at intake
    )
    hub.deliver()
    statuses = {}
    for order_id in (watched, waiting, future):
        row = hub.order_status.get(order_id)
        assert row is not None
        statuses[order_id] = row.status
    assert statuses == {watched: "routed", waiting: "cancelled", future: "rejected"}

    tick = tick_at(hub, clock, PROMISE + timedelta(hours=1))

    assert tick == Tick(looked_at=1, flagged=1)  # WEB-1 only
    assert flag_of(hub, "late", watched) is not None


def test_an_order_being_cancelled_is_not_flagged(hub: Hub, clock: Clock) -> None:
    order_id = place(hub, "WEB-1")
    hub.fulfillment.cancel_order(UUID(order_id), "customer changed their mind", CAROL)
    hub.deliver()
    row = hub.order_status.get(order_id)
    assert row is not None
    assert row.status == "cancelling"  # the source has not confirmed the withdrawal yet

    tick = tick_at(hub, clock, PROMISE - timedelta(hours=2))

    assert tick.flagged == 0
    assert open_flags(hub) == []


def test_without_a_channel_promise_the_first_routing_makes_one(hub: Hub, clock: Clock) -> None:
    order_id = place(hub, "WEB-1", promise=None)

    row = hub.order_status.get(order_id)

    # placed 08:00; wh-lyon's lead time is 1 day, standard transit 3 days
    assert row is not None
    assert row.promised_by == "2026-11-24T08:00:00.000000Z"
    assert tick_at(hub, clock, datetime(2026, 11, 23, 8, tzinfo=UTC)) == Tick(1, 1)
    assert open_flags(hub) == [("jeopardy", "low")]


# -- the arithmetic --------------------------------------------------------------------------------

H = timedelta(hours=1)
US = timedelta(microseconds=1)


@pytest.mark.parametrize(
    ("case", "left", "margin", "expected"),
    **named_cases(
        [
            ("far away", 30 * H, 24 * H, Risk.NONE),
            ("just outside the margin", 24 * H + US, 24 * H, Risk.NONE),
            ("at the margin's edge", 24 * H, 24 * H, Risk.LOW),
            ("just above two thirds", 16 * H + US, 24 * H, Risk.LOW),
            ("at two thirds", 16 * H, 24 * H, Risk.MEDIUM),
            ("just above one third", 8 * H + US, 24 * H, Risk.MEDIUM),
            ("at one third", 8 * H, 24 * H, Risk.HIGH),
            ("a moment before the promise", US, 24 * H, Risk.HIGH),
            ("at the promise itself", timedelta(0), 24 * H, Risk.LATE),
            ("after the promise", -H, 24 * H, Risk.LATE),
            ("odd margin, low", 2 * H + US, 3 * H, Risk.LOW),
            ("odd margin, medium", 2 * H, 3 * H, Risk.MEDIUM),
            ("odd margin, high", H, 3 * H, Risk.HIGH),
            ("no margin, before", H, timedelta(0), Risk.NONE),
            ("no margin, after", -US, timedelta(0), Risk.LATE),
            ("negative margin", H, -H, Risk.NONE),
        ]
    ),
)
def test_risk_bands(case: str, left: timedelta, margin: timedelta, expected: Risk) -> None:
    assert risk(PROMISE - left, PROMISE, margin) is expected


@pytest.mark.parametrize(
    ("case", "method", "lead", "channel", "expected"),
    **named_cases(
        [
            ("standard", "standard", 2, None, NOW + timedelta(days=5)),
            ("express", "express", 0, None, NOW + timedelta(days=1)),
            ("same day", "same_day", 0, None, NOW + timedelta(hours=12)),
            ("click and collect", "click_and_collect", 1, None, NOW + timedelta(days=2)),
            ("unknown method is standard", "pigeon", 1, None, NOW + timedelta(days=4)),
            ("the channel's promise wins", "express", 9, NOW + H, NOW + H),
        ]
    ),
)
def test_promised_by(
    case: str, method: str, lead: int, channel: datetime | None, expected: datetime
) -> None:
    assert promised_by(NOW, method, lead, channel) == expected


# -- withdrawals nobody answers -------------------------------------------------------------------


def unanswered(hub: Hub) -> list[ExceptionRow]:
    return hub.exceptions.queue(ExceptionQuery(kinds=("withdrawal_unconfirmed",))).rows


def confirm_withdrawals(hub: Hub, order_id: str, deliver: bool = True) -> None:
    """The sources confirm the withdrawal of every shipment of the order."""
    order = hub.intake.find(UUID(order_id))
    assert order is not None
    for shipment_id in sorted(order.withdrawing):
        hub.fulfillment.apply_update(
            FulfillmentUpdate(
                order_id=UUID(order_id),
                shipment_id=shipment_id,
                source_id=order.shipments[shipment_id].source_id,
                kind=UpdateKind.CANCELLATION_CONFIRMED,
                at=hub.clock(),
            )
        )
    if deliver:
        hub.deliver()


def cancelled(hub: Hub, clock: Clock) -> tuple[str, datetime]:
    """An order promised far ahead, cancelled: its shipment's withdrawal is not answered."""
    order_id = place(hub, "WEB-1", promise=NOW + timedelta(days=30))
    hub.fulfillment.cancel_order(UUID(order_id), "customer changed their mind", CAROL)
    hub.deliver()
    return order_id, clock()


def test_a_withdrawal_nobody_answers_is_flagged_after_the_patience_until_the_source_answers(
    hub: Hub, clock: Clock
) -> None:
    order_id, cancelled_at = cancelled(hub, clock)

    assert tick_at(hub, clock, cancelled_at + timedelta(minutes=59)).unanswered == 0
    assert tick_at(hub, clock, cancelled_at + timedelta(minutes=61)).unanswered == 1
    assert tick_at(hub, clock, cancelled_at + timedelta(hours=5)).unanswered == 0, "once"

    (flag,) = unanswered(hub)
    assert (flag.order_id, flag.severity, flag.is_open) == (order_id, "medium", True)
    assert "withdrawal is unanswered since" in flag.reason
    assert open_flags(hub) == [], "not late: it is being cancelled"

    confirm_withdrawals(hub, order_id)

    assert unanswered(hub) == []
    row = hub.exceptions.get(flag.exception_id)
    assert row is not None and row.resolution == "the source answered"
    assert tick_at(hub, clock, cancelled_at + timedelta(hours=6)).unanswered == 0


def test_a_cancelled_order_whose_withdrawal_was_answered_is_not_flagged_from_a_lagging_view(
    hub: Hub, clock: Clock
) -> None:
    order_id, cancelled_at = cancelled(hub, clock)
    confirm_withdrawals(hub, order_id, deliver=False)  # answered, not in the views yet
    row = hub.order_status.get(order_id)
    assert row is not None and row.status == "cancelling", "the view lags"

    clock.at = cancelled_at + timedelta(hours=2)
    assert hub.jeopardy.tick().unanswered == 0
    hub.deliver()
    assert unanswered(hub) == []
