"""Order search: the filters the console offers, keyset cursors, and their SQL.

Both backends answer the same `OrderQuery` with the same rows in the same order; the SQL one
leans on one index per filter (see `SEARCH_INDEXES`) so that a page of a million orders is a
short index range scan, never a sort of the table.
"""

import base64
import json
from collections.abc import Callable
from dataclasses import dataclass
from typing import Any, Literal

from projections.base import prefix_upper_bound
from projections.order_children import CHILD_TABLES, SKU_ROWS
from projections.order_rows import FINAL_STATUSES, OrderStatusRow

Sort = Literal["placed_at", "updated_at"]


@dataclass(frozen=True)
class OrderQuery:
    status: tuple[str, ...] = ()
    channel: str | None = None
    customer_id: str | None = None
    sku: str | None = None
    source_id: str | None = None
    placed_from: str | None = None  # inclusive, ISO date or time
    placed_to: str | None = None  # exclusive
    text: str | None = None  # external id, case-insensitive prefix
    sort: Sort = "placed_at"
    descending: bool = True
    limit: int = 50
    after: str | None = None  # a cursor from the previous page


@dataclass(frozen=True)
class OrderPage:
    rows: list[OrderStatusRow]
    next_cursor: str | None


class BadCursorError(ValueError):
    pass


def encode_cursor(query: OrderQuery, row: OrderStatusRow) -> str:
    key = [query.sort, query.descending, getattr(row, query.sort), row.order_id]
    return base64.urlsafe_b64encode(json.dumps(key).encode()).decode().rstrip("=")


def decode_cursor(query: OrderQuery) -> tuple[str, str] | None:
    if not query.after:
        return None
    try:
        padded = query.after + "=" * (-len(query.after) % 4)
        sort, descending, value, order_id = json.loads(base64.urlsafe_b64decode(padded))
    except (ValueError, TypeError) as error:
        raise BadCursorError("after: not a cursor this search gave out") from error
    if sort != query.sort or descending != query.descending:
        raise BadCursorError("after: the cursor belongs to a search with another sort")
    return str(value), str(order_id)


def matches(query: OrderQuery) -> Callable[[OrderStatusRow], bool]:
    """The query as a predicate, for the in-memory backend (and as the SQL's specification)."""
    text = query.text.lower() if query.text else None

    def test(row: OrderStatusRow) -> bool:
        return (
            (not query.status or row.status in query.status)
            and (query.channel is None or row.channel == query.channel)
            and (query.customer_id is None or row.customer_id == query.customer_id)
            and (query.sku is None or query.sku in row.skus)
            and (query.source_id is None or query.source_id in row.sources)
            and (query.placed_from is None or row.placed_at >= query.placed_from)
            and (query.placed_to is None or row.placed_at < query.placed_to)
            and (text is None or row.external_id.lower().startswith(text))
        )

    return test


def page_in_memory(rows: list[OrderStatusRow], query: OrderQuery) -> OrderPage:
    test = matches(query)
    cursor = decode_cursor(query)
    key: Callable[[OrderStatusRow], tuple[str, str]] = lambda r: (  # noqa: E731
        getattr(r, query.sort),
        r.order_id,
    )
    chosen = sorted((r for r in rows if test(r)), key=key, reverse=query.descending)
    if cursor is not None:
        chosen = [r for r in chosen if (key(r) < cursor if query.descending else key(r) > cursor)]
    return page_of(query, chosen[: query.limit + 1])


def page_of(query: OrderQuery, rows: list[OrderStatusRow]) -> OrderPage:
    """A page from up to limit + 1 rows in the query's order: one more means a next page."""
    more = len(rows) > query.limit
    rows = rows[: query.limit]
    return OrderPage(rows, encode_cursor(query, rows[-1]) if more and rows else None)


# Where most of a long history's orders end. The SKU rows' status index leaves them out: its
# B-tree, keyed by SKU first, then holds the open orders and the rarely ended ones (returned,
# rejected), not every row ever written, so its pages stay in the buffers; at 200,000 orders
# none of the SKU rows' B-trees did (benchmarks/README.md, pghist10). A search by SKU for one
# of these statuses reads the SKU's rows in its placement or update order (the other indexes)
# and keeps those in the status: many of them in a long history, never more than the SKU's
# rows. The sources' rows keep a full status index: a source holds hundreds of times a SKU's
# rows, too many to walk for a status it has few of, and its index, 100 sources' right ends,
# stays in the buffers anyway.
DENSE_STATUSES = ("cancelled", "completed", "delivered", "shipped")
# The index's predicate, repeated word for word by a search that can use it: SQLite takes a
# partial index only for a query holding its terms, PostgreSQL proves it from parameters no
# better (a prepared statement's generic plan does not know their values).
RARE_STATUS = "{a}status NOT IN (" + ", ".join(f"'{s}'" for s in DENSE_STATUSES) + ")"

# Child tables (projections.order_children) make SKU and source filters index lookups; they
# carry both sort keys and the status too (they are rewritten with the order's row), so a
# filtered page is read in index order whatever the sort, and a status filter needs no visit
# to the orders' rows.
SEARCH_INDEXES = [
    "CREATE INDEX IF NOT EXISTS order_status_by_placed ON order_status (placed_at, order_id)",
    "CREATE INDEX IF NOT EXISTS order_status_by_updated ON order_status (updated_at, order_id)",
    "CREATE INDEX IF NOT EXISTS order_status_by_status "
    "ON order_status (status, placed_at, order_id)",
    "CREATE INDEX IF NOT EXISTS order_status_by_channel "
    "ON order_status (channel, placed_at, order_id)",
    "CREATE INDEX IF NOT EXISTS order_status_by_customer "
    "ON order_status (customer_id, placed_at, order_id)",
    # Only orders that can still be late are on the jeopardy clock's index.
    "CREATE INDEX IF NOT EXISTS order_status_open_promises ON order_status (promised_by) "
    "WHERE promised_by <> '' AND status NOT IN ("
    + ", ".join(f"'{s}'" for s in sorted(FINAL_STATUSES))
    + ")",
    f"CREATE INDEX IF NOT EXISTS {SKU_ROWS}_rare_status "
    f"ON {SKU_ROWS} (sku, status, placed_at, order_id) WHERE {RARE_STATUS.format(a='')}",
    *(
        f"CREATE INDEX IF NOT EXISTS {table}_by_status "
        f"ON {table} ({column}, status, placed_at, order_id)"
        for table, column in CHILD_TABLES.items()
        if table != SKU_ROWS
    ),
    *(
        f"CREATE INDEX IF NOT EXISTS {table}_by_updated ON {table} ({column}, updated_at, order_id)"
        for table, column in CHILD_TABLES.items()
    ),
]

# Indexes of earlier releases that no statement reads any more, dropped where they exist: a
# child table's (order_id) served the DELETE of an order's rows by order id, which became a
# DELETE by the primary key (key, order_id); the correlated filter of search_sql names both
# too. Each was written on every child row's insert and update (~3 % of the flow's WAL).
# Each child table's (key, placed_at, order_id) became its primary key (layouts 6 and 7).
RETIRED_INDEXES = [
    *(f"DROP INDEX IF EXISTS {table}_order" for table in CHILD_TABLES),
    # Every SKU row by status, the dense ones too: became _rare_status (see RARE_STATUS).
    f"DROP INDEX IF EXISTS {SKU_ROWS}_by_status",
    *(f"DROP INDEX IF EXISTS {table}_lookup" for table in CHILD_TABLES),
]

# With the sort keys: a text search picks its page from this index alone (see search_sql).
EXTERNAL_ID_INDEX = (
    "CREATE INDEX IF NOT EXISTS order_status_by_external_id "
    "ON order_status (external_key, placed_at, updated_at, order_id)"
)


_CHILD_FILTERS = (("order_status_skus", "sku"), ("order_status_sources", "source_id"))


class _Where:
    """WHERE clauses with their parameters, in order."""

    def __init__(self) -> None:
        self.clauses: list[str] = []
        self.params: list[Any] = []

    def add(self, clause: str, *params: Any) -> None:
        self.clauses.append(clause)
        self.params.extend(params)


def search_sql(query: OrderQuery, columns: list[str]) -> tuple[str, list[Any]]:
    """SELECT … for one page (limit + 1 rows, to know whether there is a next page)."""
    where = _Where()
    driving = next(((t, c, v) for t, c, v in _child_values(query) if v is not None), None)
    source = "order_status o"
    if driving is not None:
        # Drive the scan from the child table's (key, sort, order_id) indexes.
        source = f"{driving[0]} c JOIN order_status o ON o.order_id = c.order_id"
        where.add(f"c.{driving[1]} = ?", driving[2])
    # Filter and sort on the driving table's columns, so its indexes serve them.
    alias = "c" if driving is not None else "o"
    for table, column, value in _child_values(query):
        if value is not None and (driving is None or table != driving[0]):
            # Correlated with the driving table, so that it is probed row by row in index order
            # by its primary key (key, placed_at, order_id): only the sources' table is probed
            # (a SKU, when given, drives). OFFSET 0 keeps PostgreSQL from making the probe a
            # join, whose estimate of the two equalities is wrong (projections.order_children).
            where.add(
                f"EXISTS (SELECT 1 FROM {table} x WHERE x.{column} = ? "
                f"AND x.placed_at = {alias}.placed_at AND x.order_id = {alias}.order_id "
                "LIMIT 1 OFFSET 0)",
                value,
            )
    _row_filters(query, alias, where, driving)
    sort, ident = f"{alias}.{query.sort}", f"{alias}.order_id"
    cursor = decode_cursor(query)
    if cursor is not None:
        where.add(f"({sort}, {ident}) {'<' if query.descending else '>'} (?, ?)", *cursor)
    direction = "DESC" if query.descending else "ASC"
    params = [*where.params, query.limit + 1]
    selected = ", ".join("o." + c for c in columns)
    if query.text and alias == "o":
        return _text_page_sql(selected, where.clauses, sort, direction), params
    sql = (
        f"SELECT {selected} FROM {source}"
        + (f" WHERE {' AND '.join(where.clauses)}" if where.clauses else "")
        + f" ORDER BY {sort} {direction}, {ident} {direction} LIMIT ?"
    )
    return sql, params


def _child_values(query: OrderQuery) -> list[tuple[str, str, str | None]]:
    values = {"sku": query.sku, "source_id": query.source_id}
    return [(table, column, values[column]) for table, column in _CHILD_FILTERS]


def _row_filters(
    query: OrderQuery, alias: str, where: _Where, driving: tuple[str, str, str] | None
) -> None:
    """Status, channel, customer, placement window and external-id prefix."""
    _status_filter(query.status, alias, where, driving is not None and driving[0] == SKU_ROWS)
    for column, value in (("channel", query.channel), ("customer_id", query.customer_id)):
        if value is not None:
            where.add(f"o.{column} = ?", value)
    if query.placed_from is not None:
        where.add(f"{alias}.placed_at >= ?", query.placed_from)
    if query.placed_to is not None:
        where.add(f"{alias}.placed_at < ?", query.placed_to)
    if query.text:
        # A range on the lower-cased copy: an index serves it on both engines, and Python's
        # lower() folds every script (SQL's lower() may only fold ASCII).
        prefix = query.text.lower()
        where.add("o.external_key >= ?", prefix)
        bound = prefix_upper_bound(prefix)
        if bound is not None:
            where.add("o.external_key < ?", bound)


def _status_filter(status: tuple[str, ...], alias: str, where: _Where, by_sku: bool) -> None:
    if status:
        where.add(f"{alias}.status IN ({', '.join('?' for _ in status)})", *status)
        if by_sku and not set(status) & set(DENSE_STATUSES):
            # Only then may the SKU rows' partial index of rare statuses serve it.
            where.add(RARE_STATUS.format(a="c."))


def _text_page_sql(selected: str, clauses: list[str], sort: str, direction: str) -> str:
    # External ids are numbered in time, so the matches of an older prefix lie far down
    # the sort index, which a planner expecting them anywhere walks (most of the table).
    # The page's ids come from the external id index instead: sorting on an expression
    # keeps every index's order out of the plan, and only limit + 1 rows are then read.
    page = (
        f"SELECT o.order_id AS page_id, {sort} AS page_key FROM order_status o "
        f"WHERE {' AND '.join(clauses)} "
        f"ORDER BY {sort} || '' {direction}, o.order_id {direction} LIMIT ?"
    )
    return (
        f"SELECT {selected} FROM ({page}) p "
        "JOIN order_status o ON o.order_id = p.page_id "
        f"ORDER BY p.page_key {direction}, p.page_id {direction}"
    )
