"""The backorder view on PostgreSQL: a table made by an earlier release gains `held` and
`unfulfillable` and keeps its rows, the orders held then marked held; holds and releases
written in the views' shared (pipelined) write (the SQLite cases are in
tests/unit/test_backorder_view.py)."""

import pytest

from projections.backorders import SqlBackorderView
from projections.base import write_together
from projections.sqldb import SqlDatabase
from tests.support.views import in_schema
from tests.unit.test_backorder_view import (
    HELD_HISTORY,
    RANK,
    check_migrated,
    hold,
    made_by_an_earlier_release,
)


@pytest.mark.postgres
def test_a_table_made_by_an_earlier_release_gains_the_columns_on_postgres(
    database_url: str,
) -> None:
    db = SqlDatabase(in_schema(database_url, "backorders_earlier"))
    try:
        made_by_an_earlier_release(db)
        check_migrated(db)
    finally:
        db.close()


@pytest.mark.postgres
def test_holds_and_releases_written_with_the_other_views_on_postgres(database_url: str) -> None:
    db = SqlDatabase(in_schema(database_url, "backorders_held"))
    try:
        view = SqlBackorderView(db)
        cut = 3
        for batch in (HELD_HISTORY[:cut], HELD_HISTORY[cut:]):
            write_together([(view, batch, {"notification_log": cut})])
        assert view.lines_of("o1") == [("1", "A", 2, True, None), ("2", "B", 1, True, None)]
        assert [o for o, _ in view.all_waiting(RANK)] == ["o2", "o3"]
        write_together([(view, [hold("o1", 5, released=True)], {"notification_log": 9})])
        assert view.waiting_for_many(["A"], RANK) == {"A": ["o1", "o2"]}
    finally:
        db.close()
