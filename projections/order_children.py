"""The order status view's child tables (a row per SKU, or per source, of each order): their
layout, how a batch's rows are written, and the upgrade of an earlier release's tables.

A child row carries the order's placement, update time and status, so that a search by SKU or
source is read in index order whatever its sort or status filter (projections.order_query).
Every child row is in each of its table's B-trees, written again whenever the order's status or
update time moves. Keyed by SKU (10,000 of them), a batch's rows touch pages all over the SKU
table's indexes, which at 200,000 orders of history no longer stay in the buffers
(benchmarks/README.md, projhist8: most of PostgreSQL's growth per order). Since layout 6 the SKU
rows' primary key is (sku, placed_at, order_id), since layout 7 the sources' rows' (source_id,
placed_at, order_id): it serves the upsert, the delete and the search by key sorted by
placement, which needed an index of its own beside a key of (key, order_id); an order's
placement never changes, so it names the same rows. The sources' old key also took each new
order's rows at a random place in its source's range (order ids are random), a page read from
outside the buffers per row on a long history (benchmarks/README.md, pg11); the new one takes
them at the source's newest end. A search by SKU and source probes the sources' key with the
placement and the order id (projections.order_query), as a subquery PostgreSQL may not turn
into a join: as a join its planner took the two equalities as independent, expected one match
and hashed every match of both keys (0.4-0.8 s on 1 M orders, views9)."""

from projections.order_rows import OrderStatusRow
from projections.sqldb import Cursor, SqlDatabase

CHILD_TABLES = {
    "order_status_skus": "sku",
    "order_status_sources": "source_id",
}
CHILD_KEYS = {
    "order_status_skus": ("sku", "placed_at", "order_id"),
    "order_status_sources": ("source_id", "placed_at", "order_id"),
}
SKU_ROWS = "order_status_skus"
CHILD_DDL = """
CREATE TABLE IF NOT EXISTS {table} (
    {column} TEXT NOT NULL,
    placed_at TEXT NOT NULL,
    order_id TEXT NOT NULL,
    updated_at TEXT NOT NULL,
    status TEXT NOT NULL,
    PRIMARY KEY ({key})
)"""
# The view's layouts whose child tables were keyed by (key, order_id), with a (key, placed_at,
# order_id) index beside the key: both tables in 5, the sources' in 6. Upgraded in place (see
# upgrade_children), each table whose key lacks the placement.
KEYED_BY_ORDER = 5
SKUS_REKEYED = 6
REKEYED_LAYOUT = 7  # the layout the upgrade leaves (a later one rebuilds from it as usual)
_KEYED_BY_ORDER = {KEYED_BY_ORDER: tuple(CHILD_TABLES), SKUS_REKEYED: ("order_status_sources",)}
# The order's columns a child row repeats (beside its key and the order id).
_CHILD_COLUMNS = ("placed_at", "updated_at", "status")
_CHILD_ATTRIBUTES = {"sku": "skus", "source_id": "sources"}


def upgrade_children(cur: Cursor, db: SqlDatabase, follower: str) -> bool:
    """An earlier release's child tables (layouts `KEYED_BY_ORDER`, `SKUS_REKEYED`) given the
    new key in place, their rows kept, and the view's recorded layout moved to
    `REKEYED_LAYOUT`: the view goes on from its positions, where a new layout would drop it and
    rebuild it from the event store (hours at a million orders). True if it upgraded. An older
    process started beside it afterwards is refused by the version
    (projections.base.ensure_version), before it writes with the old key."""
    cur.execute("SELECT version FROM orderhub_view_versions WHERE view = ?", (follower,))
    found = cur.fetchone()
    tables = _KEYED_BY_ORDER.get(int(found[0])) if found is not None else None
    if tables is None:
        return False
    for table in tables:
        if _exists(cur, db, table):  # else made anew by the view's constructor
            _rekey(cur, db, table)
    cur.execute(
        "UPDATE orderhub_view_versions SET version = ? WHERE view = ?", (REKEYED_LAYOUT, follower)
    )
    return True


def _rekey(cur: Cursor, db: SqlDatabase, table: str) -> None:
    column, key = CHILD_TABLES[table], ", ".join(CHILD_KEYS[table])
    if db.dialect == "postgres":
        # The key's index is built from the table's rows, sorted once; the old key's
        # constraint and the index the new key replaces are dropped.
        cur.execute(f"ALTER TABLE {table} DROP CONSTRAINT {table}_pkey, ADD PRIMARY KEY ({key})")
        cur.execute(f"DROP INDEX IF EXISTS {table}_lookup")
    else:
        # SQLite cannot change a table's key: the rows go to a new table (its indexes,
        # dropped with the old one, are made again by the view's constructor).
        cur.execute(f"ALTER TABLE {table} RENAME TO {table}_upgraded")
        cur.execute(db.ddl(child_ddl(table)))
        cur.execute(
            f"INSERT INTO {table} ({column}, placed_at, order_id, updated_at, status) "
            f"SELECT {column}, placed_at, order_id, updated_at, status FROM {table}_upgraded"
        )
        cur.execute(f"DROP TABLE {table}_upgraded")


def child_ddl(table: str) -> str:
    key = ", ".join(CHILD_KEYS[table])
    return CHILD_DDL.format(table=table, column=CHILD_TABLES[table], key=key)


def _exists(cur: Cursor, db: SqlDatabase, table: str) -> bool:
    if db.dialect == "postgres":
        cur.execute("SELECT to_regclass(?) IS NOT NULL", (table,))
    else:
        cur.execute(
            "SELECT count(*) > 0 FROM sqlite_master WHERE type = 'table' AND name = ?", (table,)
        )
    found = cur.fetchone()
    return found is not None and bool(found[0])


def save_children(
    cur: Cursor, rows: list[OrderStatusRow], before: dict[str, OrderStatusRow]
) -> None:
    """Every child table brought in line with the orders' new rows (`before`: as stored)."""
    for table, column in CHILD_TABLES.items():
        _save_children(cur, table, column, rows, before)


def _save_children(
    cur: Cursor,
    table: str,
    column: str,
    rows: list[OrderStatusRow],
    before: dict[str, OrderStatusRow],
) -> None:
    """A child table's rows (one per SKU, or per source, of each order, with the order's
    placement, update time and status) brought in line with the orders' new rows.

    Only what differs is written: a key the order no longer has is deleted, a new one
    inserted, and a kept one rewritten when the columns it repeats changed. Deleting and
    inserting every key of every changed order was most of the view's SQL (a child row is in
    every B-tree of its table, and most events change an order's status and time, not its
    SKUs or sources). New and changed rows are one upsert, so that PostgreSQL takes them as
    one statement (projections.multirow), not an UPDATE a row; a column rewritten with its
    own value changes no index entry."""
    attribute = _CHILD_ATTRIBUTES[column]
    gone: list[tuple[str, str, str]] = []
    written: list[tuple[str, str, str, str, str]] = []
    for row in rows:
        _differences(row, before.get(row.order_id), attribute, gone, written)
    key = CHILD_KEYS[table]
    cur.executemany(f"DELETE FROM {table} WHERE " + " AND ".join(f"{c} = ?" for c in key), gone)
    cur.executemany(
        f"INSERT INTO {table} ({column}, placed_at, order_id, updated_at, status) "
        f"VALUES (?, ?, ?, ?, ?) ON CONFLICT ({', '.join(key)}) DO UPDATE SET "
        + ", ".join(f"{c} = excluded.{c}" for c in _CHILD_COLUMNS if c not in key),
        written,
    )


def _differences(
    row: OrderStatusRow,
    old: OrderStatusRow | None,
    attribute: str,
    gone: list[tuple[str, str, str]],
    written: list[tuple[str, str, str, str, str]],
) -> None:
    """One order's child keys to delete (`gone`) and rows to upsert (`written`)."""
    keys = getattr(row, attribute)
    kept = set(getattr(old, attribute)) if old is not None else set()
    if old is not None:
        if old.placed_at != row.placed_at:
            # No event moves it today; the key holds the placement, so its rows go anew.
            kept, dropped = set(), kept
        else:
            dropped = kept - set(keys)
        gone.extend((key, old.placed_at, row.order_id) for key in dropped)
    moved = old is not None and any(getattr(row, c) != getattr(old, c) for c in _CHILD_COLUMNS)
    written.extend(
        (key, row.placed_at, row.order_id, row.updated_at, row.status)
        for key in keys
        if moved or key not in kept
    )
