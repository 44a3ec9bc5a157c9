"""The order status read model: the pure fold, and one contract run against each view."""

from collections.abc import Iterator
from pathlib import Path

import pytest
from hypothesis import given
from hypothesis import strategies as st

from projections.order_status import (
    InMemoryOrderStatusView,
    OrderStatusRow,
    SqlOrderStatusView,
    fold,
)
from projections.sqldb import SqlDatabase
from schemas.envelope import EventEnvelope
from tests.contracts.factories import order_envelopes
from tests.contracts.order_status_contract import (
    STREAM,
    MakeView,
    OrderStatusViewContract,
    deliveries,
)
from tests.support.views import sqlite_views


def _fold_all(events: list[EventEnvelope], subject: str) -> OrderStatusRow | None:
    row = None
    for env in events:
        if env.subject == subject:
            row = fold(row, env)
    return row


class TestFold:
    @pytest.mark.parametrize(
        ("decision", "status", "version"),
        [("placed", "placed", 1), ("accepted", "accepted", 2), ("rejected", "rejected", 2)],
    )
    def test_an_order_history_folds_to_the_status_of_its_last_event(
        self, decision: str, status: str, version: int
    ) -> None:
        history = order_envelopes("WEB-1001", decision)  # type: ignore[arg-type]

        row = _fold_all(history, history[0].subject)

        assert row is not None
        assert (row.status, row.version) == (status, version)

    def test_the_total_is_exact_decimal_arithmetic_over_every_line(self) -> None:
        lines = [
            {"line_id": "1", "sku": "RED-CHAIR", "quantity": 3, "unit_price": "0.10"},
            {"line_id": "2", "sku": "BLUE-LAMP", "quantity": 1, "unit_price": "0.20"},
        ]
        (placed,) = order_envelopes("WEB-1001", "placed", lines=lines)

        row = fold(None, placed)

        assert row is not None
        assert row.total == "0.50"

    @given(events=deliveries(), data=st.data())
    def test_fold_is_idempotent_applying_an_event_twice_equals_once(
        self, events: list[EventEnvelope], data: st.DataObject
    ) -> None:
        env = data.draw(st.sampled_from(events))
        before = _fold_all(events[: events.index(env)], env.subject)

        once = fold(before, env)

        assert fold(once, env) == once

    @given(events=deliveries())
    def test_a_redelivered_history_folds_to_the_same_row(self, events: list[EventEnvelope]) -> None:
        for subject in {env.subject for env in events}:
            assert _fold_all(events + events, subject) == _fold_all(events, subject)


class TestInMemoryOrderStatusView(OrderStatusViewContract):
    @pytest.fixture
    def make_view(self) -> MakeView:
        return InMemoryOrderStatusView


class TestSqliteOrderStatusView(OrderStatusViewContract):
    @pytest.fixture
    def make_view(self, tmp_path: Path) -> Iterator[MakeView]:
        yield from sqlite_views(tmp_path, SqlOrderStatusView)

    def test_rows_and_positions_survive_reopening_the_database(self, tmp_path: Path) -> None:
        url = f"sqlite:///{tmp_path / 'views.sqlite3'}"
        history = order_envelopes("WEB-1001", "rejected", reasons=("placed_at: in the future",))
        first = SqlDatabase(url)
        SqlOrderStatusView(first).apply(history, {STREAM: 1})
        expected = InMemoryOrderStatusView()
        expected.apply(history, {STREAM: 1})
        first.close()

        second = SqlDatabase(url)
        try:
            reopened = SqlOrderStatusView(second)
            assert reopened.get(history[0].subject) == expected.get(history[0].subject)
            assert reopened.positions() == {STREAM: 1}
        finally:
            second.close()
