"""Order search and the exception queue against PostgreSQL.

Each view the contracts ask for gets its own schema in one database per test class (a fresh
schema is far cheaper than a fresh database, and the property tests ask for many views). The
views filled with the live history are filled once per class: the tests only read them, or
reset and refill them.
"""

from collections.abc import Iterator
from itertools import count
from typing import Any
from urllib.parse import quote

import psycopg
import pytest

from projections.exceptions import SqlExceptionQueue
from projections.order_status import OrderStatusView, SqlOrderStatusView
from projections.sqldb import SqlDatabase
from tests.contracts.exceptions_contract import (
    STREAM,
    ExceptionQueue,
    ExceptionQueueContract,
)
from tests.contracts.exceptions_contract import MakeView as MakeQueue
from tests.contracts.order_search_contract import (
    MakeView,
    OrderSearchContract,
    apply_in_batches,
    search_history,
)
from tests.harness.services import create_database, drop_database

pytestmark = pytest.mark.postgres


@pytest.fixture(scope="class")
def class_database(postgres_server_url: str) -> Iterator[str]:
    url = create_database(postgres_server_url)
    try:
        yield url
    finally:
        drop_database(postgres_server_url, url)


def _in_schema(database_url: str, schema: str) -> str:
    """The URL of a database whose connections see only this schema."""
    with psycopg.connect(database_url, autocommit=True) as conn:
        conn.execute(f'CREATE SCHEMA "{schema}"')
    separator = "&" if "?" in database_url else "?"
    return f"{database_url}{separator}options={quote(f'-csearch_path={schema}')}"


def _factory(database_url: str, build: Any) -> Iterator[Any]:
    numbers = count()
    opened: list[SqlDatabase] = []

    def make() -> Any:
        db = SqlDatabase(_in_schema(database_url, f"view_{next(numbers)}"), pool_size=1)
        opened.append(db)
        return build(db)

    yield make
    for db in opened:
        db.close()


class TestPostgresOrderSearch(OrderSearchContract):
    @pytest.fixture(scope="class")
    @classmethod
    def make_view(cls, class_database: str) -> Iterator[MakeView]:
        yield from _factory(class_database, SqlOrderStatusView)

    @pytest.fixture(scope="class")
    @classmethod
    def view(cls, make_view: MakeView) -> OrderStatusView:
        view = make_view()
        apply_in_batches(view, search_history(), 97)
        return view

    def test_a_search_page_reads_an_index_not_the_whole_table(self, make_view: MakeView) -> None:
        view = make_view()
        db: SqlDatabase = view._db  # type: ignore[attr-defined]
        with db.transaction() as cur:
            cur.execute("SET LOCAL enable_seqscan = off")
            cur.execute(
                "EXPLAIN SELECT order_id FROM order_status WHERE customer_id = ? "
                "ORDER BY placed_at DESC, order_id DESC LIMIT 51",
                ("CUST-ADA",),
            )
            plan = " ".join(row[0] for row in cur.fetchall())
        assert "order_status_by_customer" in plan


class TestPostgresExceptionQueue(ExceptionQueueContract):
    @pytest.fixture(scope="class")
    @classmethod
    def make_view(cls, class_database: str) -> Iterator[MakeQueue]:
        yield from _factory(class_database, SqlExceptionQueue)

    @pytest.fixture(scope="class")
    @classmethod
    def live(cls, make_view: MakeQueue) -> ExceptionQueue:
        view = make_view()
        history = search_history()
        view.apply(list(history), {STREAM: len(history)})
        return view
