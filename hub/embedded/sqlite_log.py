"""The SQLite event store's log read without the events no lane reads.

A lane asks for the events of its followers' types. Read through the library, every event of
the range came back as a row and a `Notification` (its state's bytes, its id made a `UUID`) to
be dropped in Python: the routing process keeps two events of an order's ten or so (its
acceptance and its `Routed`), the views lane all but the decision inputs, the largest rows.
Here SQLite leaves out the rows of the topics known to be of no asked type, in C, and the
read's end (the last position it covers, whatever its type) comes from the same snapshot: a
read transaction sees one state of the log, and SQLite has one writer at a time, so positions
are handed out in commit order and none can appear later below the end read.

Topics are left out once seen, never named in advance: an event stored under a topic this
release does not list (an earlier release's) is still read and its type found from it.
"""

from dataclasses import dataclass

from eventsourcing.persistence import Notification
from eventsourcing.sqlite import SQLiteApplicationRecorder


@dataclass(frozen=True)
class Slice:
    """The notifications read, and the last position the read covers (None: nothing new)."""

    notifications: list[Notification]
    last: int | None


def read_leaving_out(
    recorder: SQLiteApplicationRecorder, after: int, limit: int, left_out: list[str]
) -> Slice:
    """Up to `limit` notifications after `after`, none of the `left_out` topics; the last
    position covered is the last one returned when `limit` were, else the log's end."""
    table = recorder.events_table_name
    skip = f"AND topic NOT IN ({','.join('?' * len(left_out))}) " if left_out else ""
    statement = (
        "SELECT rowid, originator_id, originator_version, topic, state "
        f"FROM {table} WHERE rowid > ? {skip}ORDER BY rowid LIMIT ?"
    )
    with recorder.datastore.transaction(commit=False) as c:
        c.execute(statement, [after, *left_out, limit])
        rows = c.fetchall()
        if len(rows) >= limit:
            end: int | None = rows[-1][0]
        else:
            c.execute(f"SELECT MAX(rowid) FROM {table}")
            end = c.fetchone()[0]
    convert = recorder.convert_originator_id
    found = [
        Notification(
            id=row[0],
            originator_id=convert(row[1]),
            originator_version=row[2],
            topic=row[3],
            state=row[4],
        )
        for row in rows
    ]
    return Slice(found, end if end is not None and end > after else None)
