"""The event store's PostgreSQL recorder: the library's, with the events sent in binary.

`eventsourcing`'s recorder sends a save's events as one array of a composite type in text
format: PostgreSQL parses it back character by character (`array_in`, `record_in`) and each
state from hex (`hex_decode`): together about as much of its backend's CPU as the insert
itself (perf, benchmarks/README.md "PostgreSQL per routed order"). Here the same rows go as
four arrays in binary (uuid, bigint, text, bytea), copied as they are. Everything else is
the library's: the `EXCLUSIVE` table lock that keeps the notification log gapless (ids given
in commit order), the one transaction, the ids returned in order, the errors raised (a
conflicting version is an IntegrityError at `pipeline.sync()`). The table and its rows are
unchanged, so events stored before load as before.

Chosen by `APPLICATION_RECORDER_TOPIC` (hub.settings.Settings.eventsourcing_env).
"""

from collections.abc import Sequence
from typing import Any

from eventsourcing.persistence import StoredEvent
from eventsourcing.postgres import PostgresApplicationRecorder, PostgresDatastore
from psycopg import Cursor
from psycopg.rows import DictRow
from psycopg.sql import SQL, Identifier


class HubRecorder(PostgresApplicationRecorder):
    def __init__(self, datastore: PostgresDatastore, *, events_table_name: str = "stored_events"):
        super().__init__(datastore, events_table_name=events_table_name)
        self._insert_binary = SQL(
            "INSERT INTO {schema}.{table} (originator_id, originator_version, topic, state) "
            "SELECT * FROM unnest(%b::{id_type}[], %b::bigint[], %b::text[], %b::bytea[]) "
            "RETURNING notification_id"
        ).format(
            schema=Identifier(datastore.schema),
            table=Identifier(events_table_name),
            id_type=Identifier(datastore.originator_id_type),
        )

    def _insert_stored_events(
        self, curs: Cursor[DictRow], stored_events: Sequence[StoredEvent], **_: Any
    ) -> None:
        self._lock_table(curs)
        # The library's NOTIFY on its own channel, which the hub never LISTENs to (the relay is
        # woken by the trigger hub.streaming installs), is one statement a save less.
        curs.execute(
            self._insert_binary,
            (
                [e.originator_id for e in stored_events],
                [e.originator_version for e in stored_events],
                [e.topic for e in stored_events],
                [e.state for e in stored_events],
            ),
            prepare=True,
        )
