"""Rejected submissions, searchable by channel and time, each with its reasons and raw payload."""

import json
from collections.abc import Sequence
from dataclasses import dataclass
from datetime import datetime
from typing import Any

from projections.base import SqlView
from projections.positions import create_positions_table, read_positions, save_positions
from projections.sqldb import Cursor, SqlDatabase
from schemas.envelope import EventEnvelope
from schemas.event_types import EventType

FOLLOWER = "rejected_submissions"
_DDL = """
CREATE TABLE IF NOT EXISTS rejected_submissions (
    id TEXT PRIMARY KEY,
    channel TEXT NOT NULL,
    format TEXT NOT NULL,
    reason TEXT NOT NULL,
    external_id TEXT,
    problems TEXT NOT NULL,
    details TEXT NOT NULL,
    raw_payload TEXT NOT NULL,
    recorded_at TEXT NOT NULL
)"""


@dataclass(frozen=True)
class RejectedRow:
    id: str
    channel: str
    format: str
    reason: str
    external_id: str | None
    problems: list[dict[str, Any]]
    details: dict[str, Any]
    raw_payload: str
    recorded_at: str


class SqlRejectedSubmissionsView(SqlView):
    event_types = frozenset({EventType.REJECTED_SUBMISSION_RECORDED})  # the only ones it reads

    def __init__(self, db: SqlDatabase) -> None:
        self._db = db
        with db.schema_transaction() as cur:
            cur.execute(_DDL)
            cur.execute(
                "CREATE INDEX IF NOT EXISTS rejected_submissions_channel_time "
                "ON rejected_submissions (channel, recorded_at)"
            )
            create_positions_table(cur)

    def write(
        self, cur: Cursor, envelopes: Sequence[EventEnvelope], positions: dict[str, int]
    ) -> None:
        rows = [
            (
                env.subject,
                env.data["channel"],
                env.data["format"],
                env.data["reason"],
                env.data.get("external_id"),
                json.dumps(env.data.get("problems", [])),
                json.dumps(env.data.get("details", {})),
                env.data["raw_payload"],
                env.time.isoformat(),
            )
            for env in envelopes
            if env.type == EventType.REJECTED_SUBMISSION_RECORDED
        ]
        if rows:
            cur.executemany(
                "INSERT INTO rejected_submissions VALUES (?, ?, ?, ?, ?, ?, ?, ?, ?) "
                "ON CONFLICT (id) DO NOTHING",
                rows,
            )
        save_positions(cur, FOLLOWER, positions)

    def search(
        self,
        channel: str | None = None,
        since: datetime | None = None,
        until: datetime | None = None,
        limit: int = 100,
    ) -> list[RejectedRow]:
        """Newest first. Times compare as ISO-8601 UTC text, which sorts like time."""
        clauses, params = [], []
        if channel is not None:
            clauses.append("channel = ?")
            params.append(channel)
        if since is not None:
            clauses.append("recorded_at >= ?")
            params.append(since.isoformat())
        if until is not None:
            clauses.append("recorded_at < ?")
            params.append(until.isoformat())
        where = f"WHERE {' AND '.join(clauses)}" if clauses else ""
        with self._db.transaction() as cur:
            cur.execute(
                "SELECT id, channel, format, reason, external_id, problems, details, raw_payload, "
                f"recorded_at FROM rejected_submissions {where} "
                "ORDER BY recorded_at DESC, id LIMIT ?",
                [*params, limit],
            )
            records = cur.fetchall()
        return [
            RejectedRow(
                id=r[0],
                channel=r[1],
                format=r[2],
                reason=r[3],
                external_id=r[4],
                problems=json.loads(r[5]),
                details=json.loads(r[6]),
                raw_payload=r[7],
                recorded_at=r[8],
            )
            for r in records
        ]

    def positions(self) -> dict[str, int]:
        with self._db.transaction() as cur:
            return read_positions(cur, FOLLOWER)
