"""A save to the event store made by hand on a connection of the test's own, its transaction
left open (psycopg's default): what holds the lock saves take turns by (hub.pg_recorder)."""

from typing import Any

import psycopg
from eventsourcing.persistence import StoredEvent

from hub.pg_recorder import HubRecorder


def save_on(
    conn: psycopg.Connection[Any],
    recorder: HubRecorder,
    events: list[StoredEvent],
    lock_timeout: str = "5s",
) -> list[Any]:
    """The recorder's insert function called on `conn`: the rows of the new ids."""
    return conn.execute(
        f"SELECT * FROM {recorder.insert_function_name}"
        "(%s::uuid[], %s::bigint[], %s::text[], %s::bytea[], %s)",
        [
            [e.originator_id for e in events],
            [e.originator_version for e in events],
            [e.topic for e in events],
            [e.state for e in events],
            lock_timeout,
        ],
    ).fetchall()
