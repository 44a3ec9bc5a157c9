"""An earlier release's order status view on SQLite, upgraded in place by a new release."""

from pathlib import Path

from projections.order_children import SKUS_REKEYED
from projections.order_status import SqlOrderStatusView
from projections.sqldb import SqlDatabase
from tests.contracts.order_children_upgrade import check_status_index_upgrade, check_upgrade


def _key(db: SqlDatabase, table: str) -> list[str]:
    with db.transaction() as cur:
        cur.execute(f"PRAGMA table_info({table})")
        columns = [(int(r[5]), str(r[1])) for r in cur.fetchall() if int(r[5]) > 0]
    return [name for _, name in sorted(columns)]


def test_an_earlier_release_s_child_tables_are_upgraded_in_place(tmp_path: Path) -> None:
    db = SqlDatabase(f"sqlite:///{tmp_path / 'views.sqlite3'}")
    try:
        check_upgrade(lambda: SqlOrderStatusView(db), _key, _indexes)
    finally:
        db.close()


def test_a_view_whose_sources_rows_are_keyed_by_order_is_upgraded_in_place(
    tmp_path: Path,
) -> None:
    db = SqlDatabase(f"sqlite:///{tmp_path / 'views.sqlite3'}")
    try:
        check_upgrade(lambda: SqlOrderStatusView(db), _key, _indexes, SKUS_REKEYED)
    finally:
        db.close()


def _indexes(db: SqlDatabase, table: str) -> set[str]:
    with db.transaction() as cur:
        cur.execute(
            "SELECT name FROM sqlite_master WHERE type = 'index' AND tbl_name = ?", (table,)
        )
        return {str(r[0]) for r in cur.fetchall()}


def _plan(db: SqlDatabase, sql: str, params: list[object]) -> str:
    with db.transaction() as cur:
        cur.execute("EXPLAIN QUERY PLAN " + sql, params)
        return " ".join(str(r[-1]) for r in cur.fetchall())


def test_the_full_status_index_of_child_rows_becomes_the_rare_statuses_one(
    tmp_path: Path,
) -> None:
    db = SqlDatabase(f"sqlite:///{tmp_path / 'views.sqlite3'}")
    try:
        check_status_index_upgrade(lambda: SqlOrderStatusView(db), _indexes, _plan)
    finally:
        db.close()
