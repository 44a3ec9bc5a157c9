"""Order search and the exception queue against PostgreSQL.

Each view the contracts ask for gets its own schema in one database per test class (a fresh
schema is far cheaper than a fresh database, and the property tests ask for many views). The
views filled with the live history are filled once per class: the tests only read them, or
reset and refill them.
"""

from collections.abc import Iterator

import pytest

from projections.exceptions import SqlExceptionQueue
from projections.order_children import SKUS_REKEYED
from projections.order_query import OrderQuery
from projections.order_status import OrderStatusView, SqlOrderStatusView
from projections.sqldb import SqlDatabase
from tests.contracts.exceptions_contract import (
    STREAM,
    ExceptionQueue,
    ExceptionQueueContract,
)
from tests.contracts.exceptions_contract import MakeView as MakeQueue
from tests.contracts.order_children_upgrade import check_status_index_upgrade, check_upgrade
from tests.contracts.order_search_contract import (
    MakeView,
    OrderSearchContract,
    apply_in_batches,
    search_history,
)
from tests.harness.services import create_database, drop_database
from tests.support.views import postgres_views

pytestmark = pytest.mark.postgres


@pytest.fixture(scope="class")
def class_database(postgres_server_url: str) -> Iterator[str]:
    url = create_database(postgres_server_url)
    try:
        yield url
    finally:
        drop_database(postgres_server_url, url)


class TestPostgresOrderSearch(OrderSearchContract):
    @pytest.fixture(scope="class")
    @classmethod
    def make_view(cls, class_database: str) -> Iterator[MakeView]:
        yield from postgres_views(class_database, SqlOrderStatusView, pool_size=1)

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

    def test_a_view_started_on_an_earlier_layout_drops_the_order_id_indexes_and_reads_its_rows(
        self, make_view: MakeView
    ) -> None:
        view = make_view()
        apply_in_batches(view, search_history(), 97)
        db: SqlDatabase = view._db  # type: ignore[attr-defined]
        sku = next(r.skus[0] for r in view.search(OrderQuery(limit=500)).rows if r.skus)
        expected = view.search(OrderQuery(sku=sku))
        with db.transaction() as cur:  # what releases before 2026-12-05 created
            for table in ("order_status_skus", "order_status_sources"):
                cur.execute(f"CREATE INDEX {table}_order ON {table} (order_id)")

        restarted = SqlOrderStatusView(db)

        with db.transaction() as cur:
            cur.execute(
                "SELECT indexname FROM pg_indexes WHERE schemaname = current_schema() "
                "AND indexname IN (?, ?)",
                ("order_status_skus_order", "order_status_sources_order"),
            )
            assert cur.fetchall() == []
        assert restarted.search(OrderQuery(sku=sku)) == expected
        assert expected.rows

    def test_an_earlier_release_s_child_tables_are_upgraded_in_place(
        self, make_view: MakeView
    ) -> None:
        check_upgrade(make_view, _primary_key, _indexes)  # type: ignore[arg-type]

    def test_a_view_whose_sources_rows_are_keyed_by_order_is_upgraded_in_place(
        self, make_view: MakeView
    ) -> None:
        check_upgrade(make_view, _primary_key, _indexes, SKUS_REKEYED)  # type: ignore[arg-type]

    def test_the_full_status_index_of_child_rows_becomes_the_rare_statuses_one(
        self, make_view: MakeView
    ) -> None:
        check_status_index_upgrade(make_view, _indexes, _plan)  # type: ignore[arg-type]


def _indexes(db: SqlDatabase, table: str) -> set[str]:
    with db.transaction() as cur:
        cur.execute(
            "SELECT indexname FROM pg_indexes WHERE schemaname = current_schema() "
            "AND tablename = ?",
            (table,),
        )
        return {str(r[0]) for r in cur.fetchall()}


def _plan(db: SqlDatabase, sql: str, params: list[object]) -> str:
    # The test's tables are small: without this a scan of the table is as cheap.
    with db.transaction() as cur:
        cur.execute("SET LOCAL enable_seqscan = off")
        cur.execute("EXPLAIN " + sql, params)
        return " ".join(str(r[0]) for r in cur.fetchall())


def _primary_key(db: SqlDatabase, table: str) -> list[str]:
    with db.transaction() as cur:
        cur.execute(
            "SELECT a.attname FROM pg_index i "
            "CROSS JOIN LATERAL unnest(i.indkey) WITH ORDINALITY AS k(attnum, n) "
            "JOIN pg_attribute a ON a.attrelid = i.indrelid AND a.attnum = k.attnum "
            "WHERE i.indrelid = to_regclass(?) AND i.indisprimary ORDER BY k.n",
            (table,),
        )
        return [str(r[0]) for r in cur.fetchall()]


class TestPostgresExceptionQueue(ExceptionQueueContract):
    @pytest.fixture(scope="class")
    @classmethod
    def make_view(cls, class_database: str) -> Iterator[MakeQueue]:
        yield from postgres_views(class_database, SqlExceptionQueue, pool_size=1)

    @pytest.fixture(scope="class")
    @classmethod
    def live(cls, make_view: MakeQueue) -> ExceptionQueue:
        view = make_view()
        history = search_history()
        view.apply(list(history), {STREAM: len(history)})
        return view
