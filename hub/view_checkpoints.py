"""Checkpoints of in-memory views, in a table of the event store's own database.

One row per view and format version: the newest checkpoint's bytes and the notification-log
position it covers. A write replaces the row in one statement (an upsert) inside one
transaction, so a crash while writing leaves the previous checkpoint whole; and it only ever
moves the position forward, so several processes keeping the same view (orchestration
workers, an embedded hub) may all write: whichever is newest stays. Rows of older formats are
dropped by a write of a newer one (that release could not read them anyway).

Reached as hub/multi_get.py reaches the store: through the recorder's own datastore, SQLite
or PostgreSQL. The in-memory recorder (tests) has no table: no checkpoints, a view rebuilds.
"""

from dataclasses import dataclass
from datetime import UTC, datetime
from typing import Any, Protocol

from eventsourcing.persistence import Recorder
from eventsourcing.postgres import PostgresDatastore, PostgresRecorder
from eventsourcing.sqlite import SQLiteDatastore, SQLiteRecorder
from psycopg.sql import SQL, Composable, Composed, Identifier

TABLE = "orderhub_view_checkpoints"
# Several workers start together: CREATE TABLE IF NOT EXISTS is not safe against a twin.
_PG_SCHEMA_LOCK = 0x0D_C8_EC_C0
_COLUMNS = "view_name, format_version, log_position, written_at, state"
_CREATE = (
    "CREATE TABLE IF NOT EXISTS {t} (view_name TEXT NOT NULL, format_version INTEGER NOT NULL, "
    "log_position BIGINT NOT NULL, written_at {time} NOT NULL, state {blob} NOT NULL, "
    "PRIMARY KEY (view_name, format_version))"
)
# Only ever forward: an older checkpoint written late by a slower process does not win.
_UPSERT = (
    f"INSERT INTO {{t}} AS c ({_COLUMNS}) VALUES ({{p}}, {{p}}, {{p}}, {{p}}, {{p}}) "
    "ON CONFLICT (view_name, format_version) DO UPDATE SET "
    "log_position = excluded.log_position, written_at = excluded.written_at, "
    "state = excluded.state WHERE excluded.log_position > c.log_position"
)
_DROP_OLDER = "DELETE FROM {t} WHERE view_name = {p} AND format_version < {p}"
_READ = f"SELECT {_COLUMNS} FROM {{t}} WHERE view_name = {{p}}"
_CLEAR = "DELETE FROM {t} WHERE view_name = {p}"
_POSITION = "SELECT log_position FROM {t} WHERE view_name = {p} AND format_version = {p}"


@dataclass(frozen=True, slots=True)
class StoredCheckpoint:
    view: str
    format: int
    position: int
    written_at: datetime
    state: bytes


class CheckpointTable(Protocol):
    def read(self, view: str) -> list[StoredCheckpoint]:
        """Every stored checkpoint of a view (one per format version)."""

    def write(self, checkpoint: StoredCheckpoint) -> bool:
        """Store it unless one of its format at the same or a later position is stored; drop
        older formats. Whether it was stored."""

    def position(self, view: str, format: int) -> int | None:
        """The position of the stored checkpoint of this format, without reading its bytes."""

    def clear(self, view: str) -> None:
        """Drop a view's checkpoints: its next start rebuilds it from the log."""


def checkpoint_table(recorder: Recorder) -> CheckpointTable | None:
    """The table in the database of this recorder, created if missing; None in memory."""
    if isinstance(recorder, PostgresRecorder):
        return PostgresCheckpoints(recorder.datastore)
    if isinstance(recorder, SQLiteRecorder):
        return SQLiteCheckpoints(recorder.datastore)
    return None


def _row(row: Any) -> StoredCheckpoint:
    at = row["written_at"]
    return StoredCheckpoint(
        row["view_name"],
        row["format_version"],
        row["log_position"],
        at if isinstance(at, datetime) else datetime.fromisoformat(at),
        bytes(row["state"]),
    )


class SQLiteCheckpoints:
    def __init__(self, datastore: SQLiteDatastore) -> None:
        self._datastore = datastore
        with datastore.transaction(commit=True) as c:
            c.execute(_sqlite(_CREATE, time="TEXT", blob="BLOB"))

    def read(self, view: str) -> list[StoredCheckpoint]:
        with self._datastore.transaction(commit=False) as c:
            c.execute(_sqlite(_READ), (view,))
            return [_row(r) for r in c.fetchall()]

    def write(self, checkpoint: StoredCheckpoint) -> bool:
        cp = checkpoint
        at = cp.written_at.astimezone(UTC).isoformat()
        with self._datastore.transaction(commit=True) as c:
            c.execute(_sqlite(_UPSERT), (cp.view, cp.format, cp.position, at, cp.state))
            stored: bool = c.sqlite_cursor.rowcount > 0
            c.execute(_sqlite(_DROP_OLDER), (cp.view, cp.format))
            return stored

    def position(self, view: str, format: int) -> int | None:
        with self._datastore.transaction(commit=False) as c:
            c.execute(_sqlite(_POSITION), (view, format))
            row = c.fetchone()
            return None if row is None else int(row["log_position"])

    def clear(self, view: str) -> None:
        with self._datastore.transaction(commit=True) as c:
            c.execute(_sqlite(_CLEAR), (view,))


def _sqlite(statement: str, **types: str) -> str:
    return statement.format(t=TABLE, p="?", **types)


class PostgresCheckpoints:
    def __init__(self, datastore: PostgresDatastore) -> None:
        self._datastore = datastore
        self._table = Identifier(datastore.schema, TABLE)
        with datastore.transaction(commit=True) as curs:
            curs.execute("SELECT pg_advisory_xact_lock(%s)", (_PG_SCHEMA_LOCK,))
            curs.execute(self._sql(_CREATE, time=SQL("TIMESTAMPTZ"), blob=SQL("BYTEA")))

    def read(self, view: str) -> list[StoredCheckpoint]:
        with self._datastore.transaction(commit=False) as curs:
            curs.execute(self._sql(_READ), (view,))
            return [_row(r) for r in curs.fetchall()]

    def write(self, checkpoint: StoredCheckpoint) -> bool:
        cp = checkpoint
        with self._datastore.transaction(commit=True) as curs:
            curs.execute(
                self._sql(_UPSERT), (cp.view, cp.format, cp.position, cp.written_at, cp.state)
            )
            stored = curs.rowcount > 0
            curs.execute(self._sql(_DROP_OLDER), (cp.view, cp.format))
            return stored

    def position(self, view: str, format: int) -> int | None:
        with self._datastore.transaction(commit=False) as curs:
            curs.execute(self._sql(_POSITION), (view, format))
            row = curs.fetchone()
            return None if row is None else int(row["log_position"])

    def clear(self, view: str) -> None:
        with self._datastore.transaction(commit=True) as curs:
            curs.execute(self._sql(_CLEAR), (view,))

    def _sql(self, statement: str, **types: Composable) -> Composed:
        # The statements are this module's constants: only names and placeholders go in.
        return SQL(statement).format(t=self._table, p=SQL("%s"), **types)
