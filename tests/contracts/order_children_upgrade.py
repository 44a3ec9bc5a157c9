"""An order status view whose child tables an earlier release made (layout 5: keyed by
(key, order_id), a (key, placed_at, order_id) index beside the key) is upgraded in place when a
new release opens it: rows, positions and answers kept, no rebuild, the new key in use.

`check_upgrade(make_view)` runs it on a backend's fresh views (SQLite, PostgreSQL)."""

from collections import Counter
from collections.abc import Callable

from projections.order_children import CHILD_DDL, CHILD_TABLES, KEYED_BY_ORDER
from projections.order_query import OrderQuery
from projections.order_status import VERSION, InMemoryOrderStatusView, SqlOrderStatusView
from projections.sqldb import SqlDatabase
from tests.contracts.order_search_contract import STREAM, apply_in_batches, search_history

# What releases up to layout 5 created: the same columns, keyed by (key, order_id), and a
# (key, placed_at, order_id) index beside the key.
EARLIER_KEY = "{column}, order_id"
EARLIER_INDEXES = (
    "CREATE INDEX {table}_lookup ON {table} ({column}, placed_at, order_id)",
    "CREATE INDEX {table}_by_status ON {table} ({column}, status, placed_at, order_id)",
    "CREATE INDEX {table}_by_updated ON {table} ({column}, updated_at, order_id)",
)
COLUMNS = "placed_at, order_id, updated_at, status"


def to_earlier_layout(db: SqlDatabase) -> None:
    """The view's child tables remade as layout 5 had them, their rows kept."""
    with db.transaction() as cur:
        for table, column in CHILD_TABLES.items():
            cur.execute(f"CREATE TABLE {table}_kept AS SELECT {column}, {COLUMNS} FROM {table}")
            cur.execute(f"DROP TABLE {table}")
            key = EARLIER_KEY.format(column=column)
            cur.execute(db.ddl(CHILD_DDL.format(table=table, column=column, key=key)))
            cur.execute(f"INSERT INTO {table} SELECT {column}, {COLUMNS} FROM {table}_kept")
            cur.execute(f"DROP TABLE {table}_kept")
            for index in EARLIER_INDEXES:
                cur.execute(index.format(table=table, column=column))
        cur.execute(
            "UPDATE orderhub_view_versions SET version = ? WHERE view = 'order_status'",
            (KEYED_BY_ORDER,),
        )


def child_rows(db: SqlDatabase) -> dict[str, list[tuple[object, ...]]]:
    with db.transaction() as cur:
        found = {}
        for table, column in CHILD_TABLES.items():
            cur.execute(f"SELECT {column}, {COLUMNS} FROM {table} ORDER BY {column}, order_id")
            found[table] = [tuple(r) for r in cur.fetchall()]
        return found


def _queries(view: SqlOrderStatusView) -> list[OrderQuery]:
    """Searches driven by each child table, each probing the other, with and without a status
    filter, in both sorts."""
    rows = view.search(OrderQuery(limit=1000)).rows
    skus = Counter(s for r in rows for s in r.skus).most_common(2)
    sources = Counter(s for r in rows for s in r.sources).most_common(2)
    statuses = Counter(r.status for r in rows).most_common(2)
    return [
        OrderQuery(sku=sku, source_id=source, status=status, sort=sort, limit=500)
        for sku in (None, *(s for s, _ in skus))
        for source in (None, *(s for s, _ in sources))
        for status in ((), tuple(s for s, _ in statuses))
        for sort in ("placed_at", "updated_at")
    ]


def check_upgrade(
    make_view: Callable[[], SqlOrderStatusView], key_of: Callable[[SqlDatabase, str], list[str]]
) -> None:
    """`key_of(db, table)`: the columns of the table's primary key, in order."""
    history = search_history()
    half = len(history) // 2
    view = make_view()
    apply_in_batches(view, history[:half], 97)
    db = view.database
    queries = _queries(view)
    expected = [view.search(q) for q in queries]
    rows = child_rows(db)
    to_earlier_layout(db)
    assert key_of(db, "order_status_skus") == ["sku", "order_id"]

    upgraded = SqlOrderStatusView(db)

    assert not upgraded.needs_rebuild
    assert upgraded.positions() == {STREAM: half}
    assert key_of(db, "order_status_skus") == ["sku", "placed_at", "order_id"]
    assert key_of(db, "order_status_sources") == ["source_id", "order_id"]
    assert child_rows(db) == rows
    assert [upgraded.search(q) for q in queries] == expected
    assert any(page.rows for page in expected)
    # It goes on from its positions, and ends as the whole history folded in memory.
    apply_in_batches(upgraded, history[half:], 97, start=half)
    whole = InMemoryOrderStatusView()
    whole.apply(list(history), {STREAM: len(history)})
    for q in queries:
        assert upgraded.search(q) == whole.search(q), q
    with db.transaction() as cur:
        cur.execute("SELECT version FROM orderhub_view_versions WHERE view = 'order_status'")
        assert cur.fetchone()[0] == VERSION
    assert not SqlOrderStatusView(db).needs_rebuild  # and a second start leaves it be
