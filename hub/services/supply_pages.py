"""The supply view's catch-up read: the log's end and the first page of supply events after a
position, in one statement on PostgreSQL.

A refresh asked for the log's end, then for the supply events up to it: two statements, two
checkouts of a pooled connection and two round trips for every batch the orchestration role
decides (benchmarks.route_batches: ~0.6 ms of a batch, most of what a batch of one order pays
besides its save). One statement gives both, from one snapshot: the end, and the events after
the position up to that end (the same rows the two gave: inserts take the table's lock, so ids
commit in order and nothing appears below an end once read). SQLite, or any other recorder,
reads them as before.
"""

from collections.abc import Sequence
from typing import Any

from eventsourcing.persistence import InterfaceError, Notification, OperationalError
from eventsourcing.postgres import PostgresApplicationRecorder
from eventsourcing.utils import retry
from psycopg.rows import tuple_row
from psycopg.sql import SQL, Identifier, Literal

from hub.store import OrderStore

# The end as a one-row relation, and the page joined to it: a row per event, or one row with
# NULL event columns when none is new (the end is still read).
_STATEMENT = """
SELECT e.top, n.notification_id, n.originator_id, n.originator_version, n.topic, n.state
FROM (SELECT max(notification_id) AS top FROM {table}) AS e
LEFT JOIN LATERAL (
    SELECT notification_id, originator_id, originator_version, topic, state FROM {table}
    WHERE notification_id > %s AND notification_id <= e.top AND topic IN ({topics})
    ORDER BY notification_id LIMIT %s
) AS n ON true
ORDER BY n.notification_id
"""

_COMPOSED: dict[tuple[str, str, tuple[str, ...]], bytes] = {}


def first_page(
    store: OrderStore, start: int, topics: Sequence[str], limit: int
) -> tuple[int, Sequence[Notification]]:
    """The log's end (0 when empty), and up to `limit` notifications of `topics` after `start`
    and up to that end, in order."""
    recorder = store.recorder
    if not isinstance(recorder, PostgresApplicationRecorder):
        top = store.max_position()
        if start >= top:
            return top, []
        page = recorder.select_notifications(
            start=start, limit=limit, stop=top, topics=topics, inclusive_of_start=False
        )
        return top, page
    found: tuple[int, Sequence[Notification]] = _postgres_page(
        recorder, start, tuple(topics), limit
    )
    return found


def _statement(recorder: PostgresApplicationRecorder, topics: tuple[str, ...], conn: Any) -> bytes:
    """The statement for this recorder's table and these topics, composed once, the topics
    written in it: composing it, and sending the topics as a parameter with every refresh,
    cost more than running it when nothing was new."""
    key = (recorder.datastore.schema, recorder.events_table_name, topics)
    statement = _COMPOSED.get(key)
    if statement is None:
        composed = SQL(_STATEMENT).format(
            table=Identifier(*key[:2]), topics=SQL(", ").join(Literal(t) for t in topics)
        )
        statement = _COMPOSED[key] = composed.as_bytes(conn)
    return statement


@retry((InterfaceError, OperationalError), max_attempts=10, wait=0.2)
def _postgres_page(
    recorder: PostgresApplicationRecorder, start: int, topics: tuple[str, ...], limit: int
) -> tuple[int, Sequence[Notification]]:
    # Rows as tuples: a dict per row was a third of reading a batch's 160 supply events.
    with recorder.datastore.get_connection() as conn, conn.cursor(row_factory=tuple_row) as curs:
        curs.execute(_statement(recorder, topics, conn), (start, limit), prepare=True)
        rows = curs.fetchall()
    top = (rows[0][0] if rows else None) or 0
    return top, [
        Notification(
            id=notification_id,
            originator_id=originator_id,
            originator_version=originator_version,
            topic=topic,
            state=bytes(state),
        )
        for _, notification_id, originator_id, originator_version, topic, state in rows
        if notification_id is not None
    ]
