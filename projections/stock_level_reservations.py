"""The stock view's open reservations, one row each (projections/stock_levels.py says why):
read for a batch's events, written back as its fold changed them, and moved out of the JSON
text of layout 1's rows."""

from collections.abc import Sequence

from projections import multirow
from projections.sqldb import Cursor
from projections.stock_rows import FOLLOWER, ReservationKey, Reservations

RESERVATIONS_DDL = """
CREATE TABLE IF NOT EXISTS stock_level_reservations (
    source_id TEXT{collate} NOT NULL,
    sku TEXT{collate} NOT NULL,
    order_id TEXT{collate} NOT NULL,
    quantity BIGINT NOT NULL,
    PRIMARY KEY (source_id, sku, order_id)
)"""


def load_reservations(cur: Cursor, keys: Sequence[ReservationKey], dialect: str) -> Reservations:
    """The open reservations among `keys` (those of a batch's events), by their primary key:
    on PostgreSQL in one statement, the keys as three arrays joined to the table (as
    `_load_rows`); on SQLite one look-up each, in process (a list of row values was a scan)."""
    held: dict[ReservationKey, int] = {}
    if not keys:
        return Reservations(held)
    if dialect == "postgres":
        cur.execute(
            "SELECT r.source_id, r.sku, r.order_id, r.quantity "
            "FROM unnest(?::text[], ?::text[], ?::text[]) AS k(source_id, sku, order_id) "
            "JOIN stock_level_reservations r ON r.source_id = k.source_id AND r.sku = k.sku "
            "AND r.order_id = k.order_id",
            [multirow.array_literal([key[n] for key in keys], "text") for n in range(3)],
        )
        for source_id, sku, order_id, quantity in cur.fetchall():
            held[(source_id, sku, order_id)] = int(quantity)
        return Reservations(held)
    for key in keys:
        cur.execute(
            "SELECT quantity FROM stock_level_reservations "
            "WHERE source_id = ? AND sku = ? AND order_id = ?",
            key,
        )
        found = cur.fetchone()
        if found is not None:
            held[key] = int(found[0])
    return Reservations(held)


def write_reservations(cur: Cursor, reservations: Reservations) -> None:
    """The reservations the fold changed: those still open written, the others deleted."""
    changed = sorted(reservations.changed)
    held = reservations.held
    gone = [key for key in changed if key not in held]
    if gone:
        cur.executemany(
            "DELETE FROM stock_level_reservations WHERE source_id = ? AND sku = ? AND order_id = ?",
            gone,
        )
    kept = [(*key, held[key]) for key in changed if key in held]
    if kept:
        cur.executemany(
            "INSERT INTO stock_level_reservations (source_id, sku, order_id, quantity) "
            "VALUES (?, ?, ?, ?) ON CONFLICT (source_id, sku, order_id) "
            "DO UPDATE SET quantity = excluded.quantity",
            kept,
        )


def upgrade_from_1(cur: Cursor, dialect: str, version: int) -> None:
    """A view of layout 1 (no version recorded, its reservations as JSON text in a column of
    the item's row) upgraded in place: the reservations moved to their table, the column
    dropped, `version` recorded. Nothing to do for any other layout or a new database."""
    cur.execute("SELECT version FROM orderhub_view_versions WHERE view = ?", (FOLLOWER,))
    if cur.fetchone() is not None or "reservations" not in _columns(cur, dialect):
        return
    each = (
        "json_each_text(l.reservations::json) AS j"
        if dialect == "postgres"
        else "json_each(l.reservations) AS j"
    )
    cur.execute(
        "INSERT INTO stock_level_reservations (source_id, sku, order_id, quantity) "
        f"SELECT l.source_id, l.sku, j.key, CAST(j.value AS BIGINT) FROM stock_levels l, {each}"
    )
    cur.execute("ALTER TABLE stock_levels DROP COLUMN reservations")
    cur.execute(
        "INSERT INTO orderhub_view_versions (view, version) VALUES (?, ?)", (FOLLOWER, version)
    )


def _columns(cur: Cursor, dialect: str) -> set[str]:
    """The columns of the stock_levels table; none when there is no such table."""
    if dialect == "postgres":
        cur.execute(
            "SELECT column_name FROM information_schema.columns "
            "WHERE table_schema = current_schema() AND table_name = 'stock_levels'"
        )
    else:
        cur.execute("SELECT name FROM pragma_table_info('stock_levels')")
    return {str(name) for (name,) in cur.fetchall()}
