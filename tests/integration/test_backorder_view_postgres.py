"""The backorder view's table made by an earlier release, on PostgreSQL: it gains `held` and
`unfulfillable` and keeps its rows, the orders held then marked held (the SQLite case is in
tests/unit/test_backorder_view.py)."""

import pytest

from projections.sqldb import SqlDatabase
from tests.support.views import in_schema
from tests.unit.test_backorder_view import check_migrated, made_by_an_earlier_release


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
