"""A stock levels view as layout 1 left it (its open reservations as JSON text in a column of
the item's row, no layout version recorded), and what the upgrade in place must make of it."""

from datetime import timedelta

from projections.positions import create_positions_table, save_positions
from projections.sqldb import SqlDatabase
from projections.stock_levels import SqlStockLevels
from tests.contracts.stock_levels_contract import (
    STREAM,
    events_of,
    figures,
    row_figures,
    stock_item,
)

# Layout 1's table, as that release made it.
_LAYOUT_1 = """
CREATE TABLE stock_levels (
    source_id TEXT{collate} NOT NULL,
    sku TEXT{collate} NOT NULL,
    on_hand BIGINT NOT NULL,
    reserved BIGINT NOT NULL,
    safety_stock BIGINT NOT NULL,
    available BIGINT NOT NULL,
    updated_at TEXT NOT NULL,
    version BIGINT NOT NULL,
    reservations TEXT NOT NULL DEFAULT '{{}}',
    PRIMARY KEY (source_id, sku)
)"""


def upgraded_in_place(db: SqlDatabase) -> None:
    """Layout 1 with two items (one holding two reservations, one none) upgraded by opening the
    view: every figure kept, the list's column gone, nothing rebuilt, the next events folded
    on it."""
    held = stock_item("wh-lyon", "RED-CHAIR", on_hand=10, safety_stock=1)
    held.reserve("WEB-1:1", 3, at=held.counted_at)
    held.reserve("WEB-2:1", 4, at=held.counted_at + timedelta(minutes=1))
    empty = stock_item("st-paris", "RED-CHAIR", on_hand=5)
    history = events_of(held, empty)
    collate = ' COLLATE "C"' if db.dialect == "postgres" else ""
    with db.schema_transaction() as cur:
        cur.execute(_LAYOUT_1.format(collate=collate))
        create_positions_table(cur)
        cur.executemany(
            "INSERT INTO stock_levels VALUES (?, ?, ?, ?, ?, ?, ?, ?, ?)",
            [
                ("wh-lyon", "RED-CHAIR", 10, 7, 1, 2, "t", 3, '{"WEB-1:1":3,"WEB-2:1":4}'),
                ("st-paris", "RED-CHAIR", 5, 0, 0, 5, "t", 1, "{}"),
            ],
        )
        save_positions(cur, "stock_levels", {STREAM: len(history)})

    view = SqlStockLevels(db)

    assert not view.needs_rebuild
    assert view.positions() == {STREAM: len(history)}
    assert row_figures(view.get("wh-lyon", "RED-CHAIR")) == figures(held)
    assert row_figures(view.get("st-paris", "RED-CHAIR")) == figures(empty)
    with db.transaction() as cur:
        cur.execute("SELECT version FROM orderhub_view_versions WHERE view = 'stock_levels'")
        assert cur.fetchall() == [(2,)]
        cur.execute("SELECT * FROM stock_levels WHERE source_id = 'wh-lyon'")
        assert len(cur.fetchall()[0]) == 8  # the reservations' column gone
    assert not SqlStockLevels(db).needs_rebuild  # opened again: nothing more to do

    held.release("WEB-1:1", at=held.counted_at + timedelta(minutes=2), reason="cancelled")
    held.consume("WEB-2:1", 4, at=held.counted_at + timedelta(minutes=3))
    view.apply(events_of(held), {STREAM: len(history) + 2})
    assert row_figures(view.get("wh-lyon", "RED-CHAIR")) == figures(held)
    assert figures(held)[2:5] == (6, 0, 1)  # 4 shipped of 10, nothing reserved
