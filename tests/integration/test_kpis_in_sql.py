"""The KPIs the database sums (SQLite, PostgreSQL) equal the KPIs defined in Python over the
same orders' rows, for every channel and day of a varied live history."""

from collections.abc import Iterator
from pathlib import Path

import pytest

from projections.kpis import kpis
from projections.order_status import InMemoryOrderStatusView, SqlOrderStatusView
from projections.sqldb import SqlDatabase
from tests.contracts.order_search_contract import apply_in_batches, search_history

START, END = "2000-01-01", "2100-01-01"


@pytest.fixture(params=["sqlite", pytest.param("postgres", marks=pytest.mark.postgres)])
def sql_view(request: pytest.FixtureRequest, tmp_path: Path) -> Iterator[SqlOrderStatusView]:
    if request.param == "sqlite":
        url = f"sqlite:///{tmp_path / 'views.sqlite3'}"
    else:
        url = request.getfixturevalue("database_url")
    db = SqlDatabase(url)
    try:
        yield SqlOrderStatusView(db)
    finally:
        db.close()


def test_the_database_sums_the_kpis_as_python_defines_them(sql_view: SqlOrderStatusView) -> None:
    history = search_history()
    reference = InMemoryOrderStatusView()
    apply_in_batches(reference, history, 50)
    apply_in_batches(sql_view, history, 50)
    rows = reference.placed_between(START, END, None)
    assert len(rows) > 20, "a varied history"
    expected = kpis(rows)
    assert any(d.cycle_hours_p50 is not None for d in expected), "some orders shipped"
    assert any(d.split_rate for d in expected), "some orders split"

    assert sql_view.kpi_days(START, END, None) == expected
    channel = rows[0].channel
    assert sql_view.kpi_days(START, END, channel) == [d for d in expected if d.channel == channel]
