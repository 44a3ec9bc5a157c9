"""The behaviour every OrderStatusView must have, whatever stores its rows.

Subclass ``OrderStatusViewContract`` in a test module (named ``Test…``) and provide a
``make_view`` fixture: a callable that returns a fresh, EMPTY view each time it is called (the
hypothesis tests call it once per example). The in-memory and SQLite subclasses live in
``tests/unit/test_order_status_view.py``; a PostgreSQL one only has to supply its own factory.
"""

from collections.abc import Callable, Sequence
from datetime import datetime, timedelta

import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from projections.order_status import OrderStatusView
from schemas.envelope import EventEnvelope
from tests.contracts.factories import DEFAULT_TOTAL, NOW, PLACED_AT, order_envelopes
from tests.support.examples import examples

STREAM = "orderhub.orders.events:0"

MakeView = Callable[[], OrderStatusView]

# A few orders' full histories, built once through the real aggregate and mapper.
_HISTORIES: dict[str, list[EventEnvelope]] = {
    "WEB-2001": order_envelopes("WEB-2001", "accepted"),
    "WEB-2002": order_envelopes("WEB-2002", "rejected", reasons=("placed_at: in the future",)),
    "WEB-2003": order_envelopes("WEB-2003", "placed"),
    "WEB-2004": order_envelopes("WEB-2004", "accepted", channel="store-lyon"),
}


@st.composite
def deliveries(draw: st.DrawFn) -> list[EventEnvelope]:
    """Events as a follower may receive them: orders interleaved, each in its own order,
    with at-least-once redelivery of some already-delivered events."""
    chosen = draw(st.lists(st.sampled_from(sorted(_HISTORIES)), min_size=1, unique=True))
    queues = {name: list(_HISTORIES[name]) for name in chosen}
    delivered: list[EventEnvelope] = []
    while any(queues.values()):
        name = draw(st.sampled_from([n for n, q in queues.items() if q]))
        delivered.append(queues[name].pop(0))
        if draw(st.booleans()) and draw(st.booleans()):
            delivered.append(draw(st.sampled_from(delivered)))  # a redelivery
    return delivered


def _rows(view: OrderStatusView, envelopes: Sequence[EventEnvelope]) -> dict[str, object]:
    return {env.subject: view.get(env.subject) for env in envelopes}


# The contract's property tests run once per backend subclass (so "differing executors"), and
# use a fixture only to get a factory: every example builds its own fresh views.
_PER_BACKEND = [HealthCheck.function_scoped_fixture, HealthCheck.differing_executors]


class OrderStatusViewContract:
    @pytest.fixture
    def make_view(self) -> MakeView:
        raise NotImplementedError("a subclass provides a factory of fresh, empty views")

    @pytest.fixture
    def view(self, make_view: MakeView) -> OrderStatusView:
        return make_view()

    # -- reading -------------------------------------------------------------------------------

    def test_an_unknown_order_has_no_row(self, view: OrderStatusView) -> None:
        assert view.get("7d3f1c1e-0000-4000-8000-000000000000") is None

    def test_a_new_view_has_no_positions(self, view: OrderStatusView) -> None:
        assert view.positions() == {}

    # -- one order's life ----------------------------------------------------------------------

    def test_a_placed_order_shows_what_the_channel_submitted(self, view: OrderStatusView) -> None:
        placed, _ = order_envelopes("WEB-1001", "accepted")

        view.apply([placed], {STREAM: 0})

        row = view.get(placed.subject)
        assert row is not None
        assert (row.order_id, row.channel, row.external_id) == (
            placed.subject,
            "web-shop",
            "WEB-1001",
        )
        assert row.status == "placed"
        assert (row.customer_id, row.demand_class) == ("CUST-ADA", "standard")
        assert (row.country, row.currency) == ("FR", "EUR")
        assert row.total == DEFAULT_TOTAL
        assert row.line_count == 2
        # Kept as the same moment, in the views' one spelling of UTC times.
        assert datetime.fromisoformat(row.placed_at) == datetime.fromisoformat(PLACED_AT)
        assert row.received_at == NOW.isoformat()
        assert row.version == 1
        assert row.digest == placed.data["digest"]
        assert row.reasons == ()

    def test_an_accepted_order_moves_to_accepted_at_the_acceptance_time(
        self, view: OrderStatusView
    ) -> None:
        placed, accepted = order_envelopes("WEB-1001", "accepted")

        view.apply([placed, accepted], {STREAM: 1})

        row = view.get(placed.subject)
        assert row is not None
        assert (row.status, row.version) == ("accepted", 2)
        assert row.updated_at == (NOW + timedelta(seconds=1)).isoformat()
        assert row.received_at == NOW.isoformat()

    def test_a_rejected_order_keeps_every_reason(self, view: OrderStatusView) -> None:
        reasons = ("placed_at: in the future", "ship_to: not served")
        placed, rejected = order_envelopes("WEB-1001", "rejected", reasons=reasons)

        view.apply([placed, rejected], {STREAM: 1})

        row = view.get(placed.subject)
        assert row is not None
        assert (row.status, row.reasons) == ("rejected", reasons)

    def test_events_split_across_batches_give_the_same_row_as_one_batch(
        self, make_view: MakeView
    ) -> None:
        placed, accepted = order_envelopes("WEB-1001", "accepted")
        together, apart = make_view(), make_view()

        together.apply([placed, accepted], {STREAM: 1})
        apart.apply([placed], {STREAM: 0})
        apart.apply([accepted], {STREAM: 1})

        assert apart.get(placed.subject) == together.get(placed.subject)

    # -- at-least-once delivery ----------------------------------------------------------------

    def test_a_redelivered_batch_changes_nothing(self, view: OrderStatusView) -> None:
        history = order_envelopes("WEB-1001", "rejected")
        view.apply(history, {STREAM: 1})
        before = view.get(history[0].subject)

        view.apply(history, {STREAM: 1})

        assert view.get(history[0].subject) == before

    def test_an_older_event_delivered_late_never_rewinds_the_status(
        self, view: OrderStatusView
    ) -> None:
        placed, accepted = order_envelopes("WEB-1001", "accepted")
        view.apply([placed, accepted], {STREAM: 1})

        view.apply([placed], {STREAM: 0})

        row = view.get(placed.subject)
        assert row is not None
        assert (row.status, row.version) == ("accepted", 2)

    def test_a_decision_for_an_order_never_placed_here_creates_no_row(
        self, view: OrderStatusView
    ) -> None:
        _, accepted = order_envelopes("WEB-1001", "accepted")

        view.apply([accepted], {STREAM: 1})

        assert view.get(accepted.subject) is None

    def test_event_types_the_view_does_not_know_are_ignored(self, view: OrderStatusView) -> None:
        placed, accepted = order_envelopes("WEB-1001", "accepted")
        gift_wrapped = accepted.model_copy(update={"type": "orderhub.order.gift_wrapped"})

        view.apply([placed, gift_wrapped], {STREAM: 1})

        row = view.get(placed.subject)
        assert row is not None
        assert (row.status, row.version) == ("placed", 1)

    # -- positions -----------------------------------------------------------------------------

    def test_positions_are_recorded_with_the_batch(self, view: OrderStatusView) -> None:
        view.apply(order_envelopes("WEB-1001"), {STREAM: 41, "orderhub.orders.events:1": 7})

        assert view.positions() == {STREAM: 41, "orderhub.orders.events:1": 7}

    def test_a_position_never_moves_backwards(self, view: OrderStatusView) -> None:
        view.apply([], {STREAM: 41})

        view.apply([], {STREAM: 12})

        assert view.positions() == {STREAM: 41}

    def test_a_batch_that_cannot_be_applied_records_neither_rows_nor_positions(
        self, view: OrderStatusView
    ) -> None:
        good = order_envelopes("WEB-1001", "accepted")
        broken_placed = order_envelopes("WEB-1002", "placed")[0]
        broken = broken_placed.model_copy(update={"data": {"digest": "no submission"}})
        view.apply([], {STREAM: 3})

        with pytest.raises(KeyError):
            view.apply([*good, broken], {STREAM: 9})

        assert view.get(good[0].subject) is None
        assert view.positions() == {STREAM: 3}

    # -- properties ----------------------------------------------------------------------------

    @settings(max_examples=examples(25), deadline=None, suppress_health_check=_PER_BACKEND)
    @given(events=deliveries())
    def test_applying_a_batch_in_one_go_equals_applying_it_event_by_event(
        self, make_view: MakeView, events: list[EventEnvelope]
    ) -> None:
        at_once, one_by_one = make_view(), make_view()

        at_once.apply(events, {STREAM: len(events)})
        for offset, env in enumerate(events, start=1):
            one_by_one.apply([env], {STREAM: offset})

        assert _rows(one_by_one, events) == _rows(at_once, events)
        assert one_by_one.positions() == at_once.positions() == {STREAM: len(events)}

    @settings(max_examples=examples(25), deadline=None, suppress_health_check=_PER_BACKEND)
    @given(events=deliveries())
    def test_every_order_ends_in_the_status_of_its_last_event(
        self, make_view: MakeView, events: list[EventEnvelope]
    ) -> None:
        view = make_view()

        view.apply(events, {STREAM: len(events)})
        view.apply(events, {STREAM: len(events)})  # and a full redelivery on top

        for env in events:
            last = max((e for e in events if e.subject == env.subject), key=lambda e: e.sequence)
            row = view.get(env.subject)
            assert row is not None
            assert (row.status, row.version) == (last.type.rsplit(".", 1)[-1], last.sequence)
