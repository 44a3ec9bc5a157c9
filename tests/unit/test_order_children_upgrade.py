"""An earlier release's order status view on SQLite, upgraded in place by a new release."""

from pathlib import Path

from projections.order_status import SqlOrderStatusView
from projections.sqldb import SqlDatabase
from tests.contracts.order_children_upgrade import check_upgrade


def _key(db: SqlDatabase, table: str) -> list[str]:
    with db.transaction() as cur:
        cur.execute(f"PRAGMA table_info({table})")
        columns = [(int(r[5]), str(r[1])) for r in cur.fetchall() if int(r[5]) > 0]
    return [name for _, name in sorted(columns)]


def test_an_earlier_release_s_child_tables_are_upgraded_in_place(tmp_path: Path) -> None:
    db = SqlDatabase(f"sqlite:///{tmp_path / 'views.sqlite3'}")
    try:
        check_upgrade(lambda: SqlOrderStatusView(db), _key)
    finally:
        db.close()
