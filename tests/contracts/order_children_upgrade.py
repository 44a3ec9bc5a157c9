"""An order status view whose child tables an earlier release made (layout 5: both keyed by
(key, order_id), a (key, placed_at, order_id) index beside the key; layout 6: the sources' rows
still so) is upgraded in place when a new release opens it: rows, positions and answers kept,
no rebuild, the new keys in use; and one whose SKU rows are all in a status index has that
index replaced by the partial one.

`check_upgrade(make_view)` and `check_status_index_upgrade` run it on a backend's fresh views
(SQLite, PostgreSQL)."""

from collections import Counter
from collections.abc import Callable

from projections.order_children import CHILD_DDL, CHILD_TABLES, KEYED_BY_ORDER, SKUS_REKEYED
from projections.order_query import DENSE_STATUSES, OrderPage, OrderQuery, search_sql
from projections.order_status import VERSION, InMemoryOrderStatusView, SqlOrderStatusView
from projections.sqldb import SqlDatabase
from schemas.envelope import EventEnvelope
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
DENSE = frozenset(DENSE_STATUSES)


# The tables each earlier layout keyed by (key, order_id).
KEYED_BY_ORDER_IN = {KEYED_BY_ORDER: tuple(CHILD_TABLES), SKUS_REKEYED: ("order_status_sources",)}


def to_earlier_layout(db: SqlDatabase, layout: int) -> None:
    """The view's child tables remade as `layout` had them, their rows kept."""
    with db.transaction() as cur:
        for table in KEYED_BY_ORDER_IN[layout]:
            column = CHILD_TABLES[table]
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
            (layout,),
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
    make_view: Callable[[], SqlOrderStatusView],
    key_of: Callable[[SqlDatabase, str], list[str]],
    indexes_of: Callable[[SqlDatabase, str], set[str]],
    layout: int = KEYED_BY_ORDER,
) -> None:
    """`key_of(db, table)`: the columns of the table's primary key, in order; `indexes_of(db,
    table)`: the names of its indexes; `layout`: the earlier layout made."""
    history, half, db, queries, expected = _half_applied(make_view, _queries)
    rows = child_rows(db)
    to_earlier_layout(db, layout)
    assert key_of(db, "order_status_sources") == ["source_id", "order_id"]

    upgraded = SqlOrderStatusView(db)

    assert not upgraded.needs_rebuild
    assert upgraded.positions() == {STREAM: half}
    for table, column in CHILD_TABLES.items():
        assert key_of(db, table) == [column, "placed_at", "order_id"]
        assert f"{table}_lookup" not in indexes_of(db, table)
    assert child_rows(db) == rows
    assert [upgraded.search(q) for q in queries] == expected
    assert any(page.rows for page in expected)
    _rest_applied(upgraded, history, half, queries)
    with db.transaction() as cur:
        cur.execute("SELECT version FROM orderhub_view_versions WHERE view = 'order_status'")
        assert cur.fetchone()[0] == VERSION
    assert not SqlOrderStatusView(db).needs_rebuild  # and a second start leaves it be


# What releases up to 2026-12-06 made beside the key: every child row by status.
FULL_STATUS_INDEX = EARLIER_INDEXES[1]


def _status_queries(view: SqlOrderStatusView) -> list[OrderQuery]:
    """Searches driven by each child table for a rare status (the partial index's), a dense
    one (the other indexes') and both, in both sorts."""
    rows = view.search(OrderQuery(limit=1000)).rows
    rare = tuple(s for s, _ in Counter(r.status for r in rows).most_common() if s not in DENSE)
    assert rare
    waiting = [r for r in rows if r.status == rare[0]]
    sku = Counter(s for r in waiting for s in r.skus).most_common(1)[0][0]
    source = Counter(s for r in waiting for s in r.sources).most_common(1)[0][0]
    return [
        OrderQuery(status=status, sort=sort, limit=500, **driving)  # type: ignore[arg-type]
        for driving in ({"sku": sku}, {"source_id": source})
        for status in (rare[:1], rare, ("shipped",), ("shipped", rare[0]))
        for sort in ("placed_at", "updated_at")
    ]


def check_status_index_upgrade(
    make_view: Callable[[], SqlOrderStatusView],
    indexes_of: Callable[[SqlDatabase, str], set[str]],
    plan_of: Callable[[SqlDatabase, str, list[object]], str],
) -> None:
    """A view whose SKU rows have an earlier release's full status index, opened by this
    release: that index replaced by the partial one of rare statuses (the sources' rows keep
    theirs), the answers kept, the rare statuses' searches by SKU reading the partial index
    (`plan_of(db, sql, params)`: the engine's plan as text)."""
    history, half, db, queries, expected = _half_applied(make_view, _status_queries)
    with db.transaction() as cur:
        cur.execute("DROP INDEX order_status_skus_rare_status")
        cur.execute(FULL_STATUS_INDEX.format(table="order_status_skus", column="sku"))

    upgraded = SqlOrderStatusView(db)

    found = indexes_of(db, "order_status_skus")
    assert "order_status_skus_rare_status" in found, found
    assert "order_status_skus_by_status" not in found, found
    assert "order_status_sources_by_status" in indexes_of(db, "order_status_sources")
    assert [upgraded.search(q) for q in queries] == expected
    assert expected[0].rows and expected[8].rows  # the SKU's and the source's rare ones
    sql, params = search_sql(queries[0], ["order_id"])
    assert "order_status_skus_rare_status" in plan_of(db, sql, params)
    _rest_applied(upgraded, history, half, queries)


def _half_applied(
    make_view: Callable[[], SqlOrderStatusView],
    queries_of: Callable[[SqlOrderStatusView], list[OrderQuery]],
) -> tuple[tuple[EventEnvelope, ...], int, SqlDatabase, list[OrderQuery], list[OrderPage]]:
    """A view given the first half of the history, its queries and their answers."""
    history = search_history()
    half = len(history) // 2
    view = make_view()
    apply_in_batches(view, history[:half], 97)
    queries = queries_of(view)
    return history, half, view.database, queries, [view.search(q) for q in queries]


def _rest_applied(
    upgraded: SqlOrderStatusView,
    history: tuple[EventEnvelope, ...],
    half: int,
    queries: list[OrderQuery],
) -> None:
    """It goes on from its positions, and ends as the whole history folded in memory."""
    apply_in_batches(upgraded, history[half:], 97, start=half)
    whole = InMemoryOrderStatusView()
    whole.apply(list(history), {STREAM: len(history)})
    for q in queries:
        assert upgraded.search(q) == whole.search(q), q
