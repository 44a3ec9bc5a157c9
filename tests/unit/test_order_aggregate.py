"""The Order aggregate: placed by a channel, then accepted or rejected at intake."""

from datetime import timedelta

import pytest
from hypothesis import given
from hypothesis import strategies as st

from aggregates import InvalidTransitionError, Order, OrderStatus, order_id_for
from aggregates.order import MAX_CLOCK_SKEW
from hub.services.intake import INTAKE_ACTOR
from tests.contracts.factories import NOW, in_the_future, named_cases, placed_order, popo_store


class TestIdentity:
    def test_an_order_id_is_derived_from_its_channel_and_external_id(self) -> None:
        order = placed_order("WEB-1001")

        assert order.id == order_id_for("web-shop", "WEB-1001")
        assert order.id == order_id_for("web-shop", "WEB-1001")  # and always the same

    @pytest.mark.parametrize(
        ("one", "other"),
        [
            (("web-shop", "1001"), ("store-lyon", "1001")),
            (("web-shop", "1001"), ("web-shop", "1002")),
            (("web-shop", "WEB-1001"), ("web-shop", "web-1001")),
        ],
    )
    def test_different_channel_orders_never_share_an_id(
        self, one: tuple[str, str], other: tuple[str, str]
    ) -> None:
        assert order_id_for(*one) != order_id_for(*other)


class TestPlacing:
    def test_a_placed_order_records_what_was_submitted_and_by_whom(self) -> None:
        order = placed_order("WEB-1001")

        assert order.status is OrderStatus.PLACED
        assert (order.channel, order.external_id) == ("web-shop", "WEB-1001")
        assert order.placed_by == "channel:web-shop"
        assert order.received_at == NOW
        assert order.submission.lines[0].sku == "RED-CHAIR"
        assert order.rejection_reasons == []
        assert [type(e).__name__ for e in order.collect_events()] == ["Placed"]


class TestIntakeDecision:
    @pytest.mark.parametrize(
        ("case", "placed_ahead_by", "status"),
        **named_cases(
            [
                ("placed an hour ago", -timedelta(hours=1), OrderStatus.ACCEPTED),
                ("placed just now", timedelta(0), OrderStatus.ACCEPTED),
                ("clock skew within tolerance", MAX_CLOCK_SKEW, OrderStatus.ACCEPTED),
                (
                    "one second beyond tolerance",
                    MAX_CLOCK_SKEW + timedelta(seconds=1),
                    OrderStatus.REJECTED,
                ),
                ("placed tomorrow", timedelta(days=1), OrderStatus.REJECTED),
            ]
        ),
    )
    def test_an_order_is_accepted_unless_it_was_placed_in_the_future(
        self, case: str, placed_ahead_by: timedelta, status: OrderStatus
    ) -> None:
        order = placed_order(placed_at=in_the_future(NOW, placed_ahead_by))

        order.take_intake_decision(actor=INTAKE_ACTOR, now=NOW)

        assert order.status is status

    def test_a_future_order_is_rejected_with_a_reason_naming_placed_at(self) -> None:
        order = placed_order(placed_at=in_the_future(NOW, timedelta(days=1)))

        order.take_intake_decision(actor=INTAKE_ACTOR, now=NOW)

        (reason,) = order.rejection_reasons
        assert reason.startswith("placed_at:")
        assert "2026-11-21T09:00:00+00:00" in reason
        assert "5 minutes" in reason

    def test_the_decision_uses_the_time_passed_in_not_the_wall_clock(self) -> None:
        # Placed in 2026 relative to a "now" ten years earlier: only the given now can say so.
        order = placed_order()

        order.take_intake_decision(actor=INTAKE_ACTOR, now=NOW - timedelta(days=3650))

        assert order.status is OrderStatus.REJECTED


class TestTransitions:
    def test_an_accepted_order_cannot_be_accepted_again(self) -> None:
        order = placed_order()
        order.accept(actor=INTAKE_ACTOR, now=NOW)

        with pytest.raises(InvalidTransitionError) as caught:
            order.accept(actor=INTAKE_ACTOR, now=NOW)

        assert "is accepted; it cannot be accepted" in str(caught.value)
        assert caught.value.order_id == order.id

    def test_an_accepted_order_cannot_be_rejected(self) -> None:
        order = placed_order()
        order.accept(actor=INTAKE_ACTOR, now=NOW)

        with pytest.raises(InvalidTransitionError):
            order.reject(["too late"], actor=INTAKE_ACTOR, now=NOW)

        assert order.status is OrderStatus.ACCEPTED

    def test_a_rejected_order_cannot_be_accepted(self) -> None:
        order = placed_order()
        order.reject(["ship_to: not served"], actor=INTAKE_ACTOR, now=NOW)

        with pytest.raises(InvalidTransitionError):
            order.accept(actor=INTAKE_ACTOR, now=NOW)

    def test_a_rejection_needs_at_least_one_reason(self) -> None:
        order = placed_order()

        with pytest.raises(ValueError, match="at least one reason"):
            order.reject([], actor=INTAKE_ACTOR, now=NOW)

        assert order.status is OrderStatus.PLACED
        assert [type(e).__name__ for e in order.collect_events()] == ["Placed"]

    def test_a_failed_transition_records_no_event(self) -> None:
        order = placed_order()
        order.accept(actor=INTAKE_ACTOR, now=NOW)
        order.collect_events()

        with pytest.raises(InvalidTransitionError):
            order.reject(["too late"], actor=INTAKE_ACTOR, now=NOW)

        assert order.collect_events() == []


@given(
    ahead_minutes=st.integers(min_value=-60 * 24, max_value=60 * 24),
    seconds=st.integers(min_value=0, max_value=59),
)
def test_replaying_the_stored_history_gives_the_same_order_as_live(
    ahead_minutes: int, seconds: int
) -> None:
    placed_at = in_the_future(NOW, timedelta(minutes=ahead_minutes, seconds=seconds))
    live = placed_order(placed_at=placed_at)
    live.take_intake_decision(actor=INTAKE_ACTOR, now=NOW)
    store = popo_store()
    store.save(live)

    replayed = store.repository.get(live.id)

    assert isinstance(replayed, Order)
    assert (replayed.status, replayed.rejection_reasons, replayed.version) == (
        live.status,
        live.rejection_reasons,
        live.version,
    )
    assert (replayed.digest, replayed.submission, replayed.received_at) == (
        live.digest,
        live.submission,
        live.received_at,
    )


@given(ahead=st.timedeltas(min_value=timedelta(days=-30), max_value=timedelta(days=30)))
def test_the_intake_decision_is_deterministic(ahead: timedelta) -> None:
    first, second = (
        placed_order(placed_at=in_the_future(NOW, ahead)),
        placed_order(placed_at=in_the_future(NOW, ahead)),
    )

    first.take_intake_decision(actor=INTAKE_ACTOR, now=NOW)
    second.take_intake_decision(actor=INTAKE_ACTOR, now=NOW)

    assert (first.status, first.rejection_reasons) == (second.status, second.rejection_reasons)
    assert first.status is (
        OrderStatus.REJECTED if ahead > MAX_CLOCK_SKEW else OrderStatus.ACCEPTED
    )
