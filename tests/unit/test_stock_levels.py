"""The stock levels read model: the contract run against the in-memory and SQLite views, and
what only the SQL backend has to show (it survives reopening)."""

from collections.abc import Iterator
from pathlib import Path

import pytest

from projections.base import prefix_upper_bound
from projections.sqldb import SqlDatabase
from projections.stock_levels import InMemoryStockLevels, SqlStockLevels
from projections.stock_rows import decode_cursor, encode_cursor
from tests.contracts.stock_levels_contract import (
    STREAM,
    MakeView,
    StockLevelsContract,
    events_of,
    source,
    stock_item,
)
from tests.support.stock_layout_1 import upgraded_in_place
from tests.support.views import sqlite_views


class TestInMemoryStockLevels(StockLevelsContract):
    @pytest.fixture
    def make_view(self) -> MakeView:
        return InMemoryStockLevels


class TestSqliteStockLevels(StockLevelsContract):
    @pytest.fixture
    def make_view(self, tmp_path: Path) -> Iterator[MakeView]:
        yield from sqlite_views(tmp_path, SqlStockLevels)

    def test_rows_and_positions_survive_reopening_the_database(self, tmp_path: Path) -> None:
        url = f"sqlite:///{tmp_path}/views.db"
        item = stock_item(on_hand=9)
        item.reserve("WEB-1:1", 4, at=item.counted_at)
        history = [*events_of(item), *events_of(source("wh-lyon", "Lyon warehouse"))]
        expected = InMemoryStockLevels()
        expected.apply(history, {STREAM: 2})
        first = SqlDatabase(url)
        SqlStockLevels(first).apply(history, {STREAM: 2})
        first.close()

        second = SqlDatabase(url)
        try:
            reopened = SqlStockLevels(second)
            assert reopened.get("wh-lyon", "RED-CHAIR") == expected.get("wh-lyon", "RED-CHAIR")
            assert reopened.positions() == {STREAM: 2}
        finally:
            second.close()

    def test_the_short_and_prefix_searches_use_their_indexes(self, tmp_path: Path) -> None:
        db = SqlDatabase(f"sqlite:///{tmp_path}/views.db")
        try:
            SqlStockLevels(db)
            with db.transaction() as cur:
                cur.execute(
                    "EXPLAIN QUERY PLAN SELECT source_id, sku FROM stock_levels "
                    "WHERE available = 0 ORDER BY source_id, sku"
                )
                short_plan = " ".join(str(r[-1]) for r in cur.fetchall())
                cur.execute(
                    "EXPLAIN QUERY PLAN SELECT source_id, sku FROM stock_levels "
                    "WHERE sku >= ? AND sku < ?",
                    ("RED", "REE"),
                )
                prefix_plan = " ".join(str(r[-1]) for r in cur.fetchall())
        finally:
            db.close()
        assert "stock_levels_short" in short_plan
        assert "stock_levels_sku" in prefix_plan


def test_a_layout_1_view_is_upgraded_in_place(tmp_path: Path) -> None:
    db = SqlDatabase(f"sqlite:///{tmp_path}/views.db")
    try:
        upgraded_in_place(db)
    finally:
        db.close()


class TestHelpers:
    @pytest.mark.parametrize(
        ("prefix", "bound"),
        [
            ("RED", "REE"),
            ("A-", "A."),
            ("z\U0010ffff", "{"),
            ("\U0010ffff", None),
            ("\ud7ff", "\ue000"),
        ],
        ids=["plain", "punctuation", "last char maxed", "only max", "skips surrogates"],
    )
    def test_the_prefix_bound_is_the_least_string_above_the_prefix(
        self, prefix: str, bound: str | None
    ) -> None:
        assert prefix_upper_bound(prefix) == bound

    @pytest.mark.parametrize(
        ("source_id", "sku"), [("wh-lyon", "RED-CHAIR"), ("", ""), ('a"b', "é/ü:\\")]
    )
    def test_a_cursor_decodes_to_what_it_encodes(self, source_id: str, sku: str) -> None:
        cursor = encode_cursor(source_id, sku)

        assert decode_cursor(cursor) == (source_id, sku)
        assert cursor.isascii() and "=" not in cursor
