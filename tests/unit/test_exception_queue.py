"""The exception queue: lifecycle rules, pages, counts and summaries, redelivery; the contract
run in memory and on SQLite."""

import copy
from collections.abc import Iterator
from datetime import UTC, datetime
from pathlib import Path

import pytest

from aggregates.contract import to_envelope
from aggregates.stock import StockItem
from projections.exceptions import InMemoryExceptionQueue, SqlExceptionQueue
from projections.sqldb import SqlDatabase
from tests.contracts.exceptions_contract import ExceptionQueueContract, MakeView, deliver_live
from tests.support.views import sqlite_copy, sqlite_filled, sqlite_views

# The history is applied once per module; each test's view is a copy of that filled one.


@pytest.fixture(scope="module")
def filled_in_memory() -> InMemoryExceptionQueue:
    view = InMemoryExceptionQueue()
    deliver_live(view)
    return view


@pytest.fixture(scope="module")
def filled_sqlite(tmp_path_factory: pytest.TempPathFactory) -> Path:
    return sqlite_filled(tmp_path_factory.mktemp("filled"), SqlExceptionQueue, deliver_live)


class TestInMemoryExceptionQueue(ExceptionQueueContract):
    @pytest.fixture
    def make_view(self) -> MakeView:
        return InMemoryExceptionQueue

    @pytest.fixture
    def live(self, filled_in_memory: InMemoryExceptionQueue) -> InMemoryExceptionQueue:
        return copy.deepcopy(filled_in_memory)


class TestSqliteExceptionQueue(ExceptionQueueContract):
    @pytest.fixture
    def make_view(self, tmp_path: Path) -> Iterator[MakeView]:
        yield from sqlite_views(tmp_path, SqlExceptionQueue)

    @pytest.fixture
    def live(self, filled_sqlite: Path, tmp_path: Path) -> Iterator[SqlExceptionQueue]:
        yield from sqlite_copy(filled_sqlite, tmp_path, SqlExceptionQueue)


def test_events_no_rule_reads_leave_no_trace_but_move_the_position(tmp_path: Path) -> None:
    """Stock counts and source events open no exception: the view keeps no context for them
    (one per stock item was written on every count), yet its position moves past them."""
    at = datetime(2026, 11, 20, 9, 0, tzinfo=UTC)
    item = StockItem(source_id="dc-fr", sku="RED-CHAIR", on_hand=5, safety_stock=0, at=at)
    item.count(7, None, at, "cycle count")
    envelopes = [to_envelope(e) for e in item.collect_events()]
    db = SqlDatabase(f"sqlite:///{tmp_path / 'views.sqlite3'}")
    view = SqlExceptionQueue(db)
    view.apply(envelopes, {"notification_log": 2})
    assert view.positions() == {"notification_log": 2}
    with db.transaction() as cur:
        cur.execute("SELECT COUNT(*) FROM exception_context")
        assert cur.fetchall()[0][0] == 0
