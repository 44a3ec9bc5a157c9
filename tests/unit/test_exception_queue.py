"""The exception queue: lifecycle rules, pages, counts and summaries, redelivery; the contract
run in memory and on SQLite."""

import copy
from collections.abc import Iterator
from pathlib import Path

import pytest

from projections.exceptions import InMemoryExceptionQueue, SqlExceptionQueue
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
