"""The exception queue: lifecycle rules, pages, counts and summaries, redelivery; the contract
run in memory and on SQLite."""

from collections.abc import Iterator
from pathlib import Path

import pytest

from projections.exceptions import InMemoryExceptionQueue, SqlExceptionQueue
from tests.contracts.exceptions_contract import ExceptionQueueContract, MakeView
from tests.support.views import sqlite_views


class TestInMemoryExceptionQueue(ExceptionQueueContract):
    @pytest.fixture
    def make_view(self) -> MakeView:
        return InMemoryExceptionQueue


class TestSqliteExceptionQueue(ExceptionQueueContract):
    @pytest.fixture
    def make_view(self, tmp_path: Path) -> Iterator[MakeView]:
        yield from sqlite_views(tmp_path, SqlExceptionQueue)
