"""The jeopardy clock's ranges and the view's promise news: a promise is in a tick's ranges
exactly when its band rose since the tick before, and only a new, re-planned or re-opened open
promise is news."""

from datetime import UTC, datetime, timedelta

from hypothesis import given
from hypothesis import strategies as st

from hub.services.jeopardy import risen_ranges
from orchestration_policies.promise import risk
from projections.order_rows import OrderStatusRow, utc_text
from projections.promise_news import news_of

T0 = datetime(2026, 12, 6, 4, 0, tzinfo=UTC)
MARGIN = timedelta(hours=24)


def test_a_minute_between_ticks_reads_four_thin_ranges() -> None:
    ranges = risen_ranges(T0, T0 + timedelta(minutes=1), MARGIN)

    assert ranges == [
        (utc_text(T0 + edge), utc_text(T0 + edge + timedelta(minutes=1)))
        for edge in (timedelta(0), MARGIN / 3, MARGIN * 2 / 3, MARGIN)
    ]


def test_ticks_further_apart_than_a_third_of_the_margin_read_one_merged_range() -> None:
    assert risen_ranges(T0, T0 + timedelta(hours=10), MARGIN) == [
        (utc_text(T0), utc_text(T0 + timedelta(hours=34)))
    ]
    assert risen_ranges(T0, T0, MARGIN) == []
    assert risen_ranges(T0, T0 - timedelta(minutes=1), MARGIN) == []


@given(
    st.timedeltas(timedelta(hours=-2), timedelta(hours=30)),
    st.timedeltas(timedelta(0), timedelta(hours=12)),
    st.sampled_from([MARGIN, timedelta(hours=1), timedelta(microseconds=1), timedelta(0)]),
)
def test_a_promise_is_in_the_ranges_exactly_when_its_band_rose(
    ahead: timedelta, between: timedelta, margin: timedelta
) -> None:
    promise, now = T0 + ahead, T0 + between
    text = utc_text(promise)

    found = any(low < text <= high for low, high in risen_ranges(T0, now, margin))

    assert found == (risk(T0, promise, margin) is not risk(now, promise, margin))


def row(order_id: str = "o-1", status: str = "routed", promised_by: str = "P1") -> OrderStatusRow:
    return OrderStatusRow(
        order_id=order_id,
        channel="web",
        external_id=order_id,
        status=status,
        customer_id="c",
        demand_class="standard",
        country="FR",
        currency="EUR",
        total="1.00",
        line_count=1,
        placed_at="t",
        received_at="t",
        updated_at="t",
        version=1,
        digest="d",
        promised_by=promised_by,
    )


def test_only_a_new_replanned_or_reopened_open_promise_is_news() -> None:
    before = {"o-1": row(), "o-2": row("o-2"), "o-3": row("o-3", status="cancelled")}
    rows = [
        row(status="in_fulfillment"),  # the same promise, another status: not news
        row("o-2", promised_by="P2"),  # re-planned
        row("o-3"),  # open again
        row("o-4"),  # new
        row("o-5", status="shipped"),  # new but closed
        row("o-6", promised_by=""),  # no promise
    ]

    assert news_of(rows, before) == ["o-2", "o-3", "o-4"]
