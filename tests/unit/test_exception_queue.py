"""The exception queue: lifecycle rules, pages, counts and summaries, redelivery; the contract
run in memory and on SQLite."""

from collections.abc import Iterator
from itertools import count
from pathlib import Path

import pytest

from projections.exceptions import InMemoryExceptionQueue, SqlExceptionQueue
from projections.sqldb import SqlDatabase
from tests.contracts.exceptions_contract import ExceptionQueueContract, MakeView


class TestInMemoryExceptionQueue(ExceptionQueueContract):
    @pytest.fixture
    def make_view(self) -> MakeView:
        return InMemoryExceptionQueue


class TestSqliteExceptionQueue(ExceptionQueueContract):
    @pytest.fixture
    def make_view(self, tmp_path: Path) -> Iterator[MakeView]:
        numbers = count()
        opened: list[SqlDatabase] = []

        def make() -> SqlExceptionQueue:
            db = SqlDatabase(f"sqlite:///{tmp_path / f'views-{next(numbers)}.sqlite3'}")
            opened.append(db)
            return SqlExceptionQueue(db)

        yield make
        for db in opened:
            db.close()
