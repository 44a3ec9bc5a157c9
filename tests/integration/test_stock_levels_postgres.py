"""The stock levels contract against PostgreSQL, and the query plans the console relies on.

Every view gets its own schema in the test's fresh database (``search_path`` in the URL), so the
two views a property example compares never share a table.
"""

from collections.abc import Iterator

import pytest

from projections.sqldb import SqlDatabase
from projections.stock_levels import SqlStockLevels
from tests.contracts.stock_levels_contract import (
    STREAM,
    MakeView,
    StockLevelsContract,
    events_of,
    stock_item,
)
from tests.support.stock_layout_1 import upgraded_in_place
from tests.support.views import in_schema, postgres_views

pytestmark = pytest.mark.postgres

# No example uses more than three views at once: older ones are closed as new ones are made,
# so a hypothesis run does not hold one connection pool per example until the test ends.
_OPEN_VIEWS = 4


class TestPostgresStockLevels(StockLevelsContract):
    @pytest.fixture
    def make_view(self, database_url: str) -> Iterator[MakeView]:
        yield from postgres_views(database_url, SqlStockLevels, keep_open=_OPEN_VIEWS)

    def test_the_keys_sort_in_code_point_order_whatever_the_database_collation(
        self, database_url: str
    ) -> None:
        db = SqlDatabase(in_schema(database_url, "keys_order"))
        try:
            view = SqlStockLevels(db)
            skus = ["b-1", "B-2", "a_1", "A.1", "a-1", "Z"]
            view.apply(events_of(*(stock_item("wh-lyon", sku) for sku in skus)), {STREAM: 5})
            with db.transaction() as cur:
                # The server here may default to C already: check the columns say so themselves.
                cur.execute(
                    "SELECT table_name, column_name, collation_name "
                    "FROM information_schema.columns WHERE table_schema = current_schema() "
                    "AND column_name IN ('source_id', 'sku') "
                    "AND table_name IN ('stock_levels', 'stock_level_sources')"
                )
                collations = sorted(cur.fetchall())

            assert [r.sku for r in view.search().rows] == sorted(skus)
        finally:
            db.close()
        assert collations == [
            ("stock_level_sources", "source_id", "C"),
            ("stock_levels", "sku", "C"),
            ("stock_levels", "source_id", "C"),
        ]

    def test_the_console_queries_use_their_indexes(self, database_url: str) -> None:
        db = SqlDatabase(in_schema(database_url, "plans"))
        try:
            view = SqlStockLevels(db)
            items = [
                stock_item(f"wh-{n % 40:02d}", f"SKU-{n:05d}", on_hand=n % 5) for n in range(4000)
            ]
            view.apply(events_of(*items), {STREAM: len(items)})
            with db.transaction() as cur:
                cur.execute("ANALYZE stock_levels")
                cur.execute("SET LOCAL enable_seqscan = off")
                plans = {}
                for name, query, params in [
                    (
                        "short",
                        "SELECT source_id, sku FROM stock_levels WHERE available = 0 "
                        "ORDER BY source_id, sku LIMIT 51",
                        (),
                    ),
                    (
                        "prefix",
                        "SELECT source_id, sku FROM stock_levels WHERE sku >= ? AND sku < ?",
                        ("SKU-0012", "SKU-0013"),
                    ),
                    (
                        "page",
                        "SELECT source_id, sku FROM stock_levels "
                        "WHERE (source_id, sku) > (?, ?) ORDER BY source_id, sku LIMIT 51",
                        ("wh-07", "SKU-00007"),
                    ),
                ]:
                    cur.execute(f"EXPLAIN {query}", params)
                    plans[name] = " ".join(str(r[0]) for r in cur.fetchall())
        finally:
            db.close()
        assert "stock_levels_short" in plans["short"]
        assert "stock_levels_sku" in plans["prefix"]
        assert "stock_levels_pkey" in plans["page"]


def test_a_layout_1_view_is_upgraded_in_place(database_url: str) -> None:
    db = SqlDatabase(in_schema(database_url, "layout_1"))
    try:
        upgraded_in_place(db)
    finally:
        db.close()
