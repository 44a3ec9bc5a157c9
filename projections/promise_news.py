"""Open promises new or changed since the jeopardy clock last looked.

The clock's tick reads the promises whose risk band rose since its last tick (ranges of
`promised_by` against the bands' edges), which misses a promise that arrived already inside
the margin (a new order promised soon, a re-planned promise). The order-status view therefore
writes each new or changed open promise's order into this small table in the same transaction
as the row; the clock reads it, flags what is due, and deletes exactly the rows it read (a row
committed after the read, whatever its number, is read at the next tick: no commit-order gap).
The table holds only what changed since the last tick.
"""

from collections.abc import Iterable, Mapping, Sequence
from typing import NamedTuple

from projections.order_rows import FINAL_STATUSES, OrderStatusRow
from projections.sqldb import Cursor

TABLE = "order_promise_news"


class PromiseNews(NamedTuple):
    """A news row with the order's promise as the view holds it now ('' when the order is
    closed or has no promise: nothing to watch)."""

    seq: int
    promised_by: str
    order_id: str


def news_ddl(dialect: str) -> str:
    # Numbers never reused (SQLite's AUTOINCREMENT): the clock deletes the numbers it read, and
    # a view reset meanwhile (a rebuild) must not have given them to new rows.
    seq = (
        "INTEGER PRIMARY KEY AUTOINCREMENT"
        if dialect == "sqlite"
        else "BIGINT GENERATED ALWAYS AS IDENTITY PRIMARY KEY"
    )
    return f"CREATE TABLE IF NOT EXISTS {TABLE} (seq {seq}, order_id TEXT NOT NULL)"


def open_promise(row: OrderStatusRow | None) -> str:
    """The row's promise while the order is open ('' otherwise: nothing to watch)."""
    if row is None or row.status in FINAL_STATUSES:
        return ""
    return row.promised_by


def news_of(rows: Iterable[OrderStatusRow], before: Mapping[str, OrderStatusRow]) -> list[str]:
    """The orders whose open promise is new: a new order, a promise re-planned, or an order
    open again. A row's other changes (most of them: routed, shipped in part) are none."""
    return [
        row.order_id
        for row in rows
        if open_promise(row) and open_promise(before.get(row.order_id)) != row.promised_by
    ]


def record_news(
    cur: Cursor, rows: Sequence[OrderStatusRow], before: Mapping[str, OrderStatusRow]
) -> None:
    news = [(order_id,) for order_id in news_of(rows, before)]
    cur.executemany(f"INSERT INTO {TABLE} (order_id) VALUES (?)", news)


def read_news(cur: Cursor, after: int, limit: int) -> list[PromiseNews]:
    final = ", ".join(f"'{s}'" for s in sorted(FINAL_STATUSES))
    cur.execute(
        f"SELECT n.seq, CASE WHEN s.status IN ({final}) THEN '' "
        "ELSE COALESCE(s.promised_by, '') END, n.order_id "
        f"FROM {TABLE} n LEFT JOIN order_status s ON s.order_id = n.order_id "
        "WHERE n.seq > ? ORDER BY n.seq LIMIT ?",
        [after, limit],
    )
    return [PromiseNews(int(seq), str(p), str(o)) for seq, p, o in cur.fetchall()]


def forget_news(cur: Cursor, seqs: Sequence[int]) -> None:
    cur.executemany(f"DELETE FROM {TABLE} WHERE seq = ?", [(s,) for s in seqs])
