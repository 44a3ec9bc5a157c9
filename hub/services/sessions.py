"""Console sessions, kept by the server: the browser's cookie holds a random session id, never
the API key, and signing out (or revoking the key) ends the session for good.

Sessions are short-lived state, not history: they live in a table beside the read models
(SQLite embedded, PostgreSQL distributed, so every API instance sees them) rather than as
events. Only a hash of each session id is stored."""

import hashlib
import secrets
from collections.abc import Callable
from dataclasses import dataclass
from datetime import datetime, timedelta

from projections.sqldb import SqlDatabase

SESSIONS_DDL = """
CREATE TABLE IF NOT EXISTS orderhub_console_sessions (
    token_sha256 TEXT PRIMARY KEY,
    key_id TEXT NOT NULL,
    credential TEXT NOT NULL,
    opened_ms BIGINT NOT NULL,
    seen_ms BIGINT NOT NULL,
    expires_ms BIGINT NOT NULL
)"""
SESSIONS_BY_KEY = (
    "CREATE INDEX IF NOT EXISTS orderhub_console_sessions_key ON orderhub_console_sessions (key_id)"
)
# A session's last use is written at most this often: a page view is not a write each time.
TOUCH_EVERY = timedelta(seconds=60)


@dataclass(frozen=True)
class Session:
    key_id: str
    credential: str  # the hash of the secret the session was opened with


class ConsoleSessions:
    def __init__(
        self,
        db: SqlDatabase,
        clock: Callable[[], datetime],
        idle: timedelta,
        lifetime: timedelta,
    ) -> None:
        self._db = db
        self._clock = clock
        self._idle = idle
        self._lifetime = lifetime
        self._touch_every = min(TOUCH_EVERY, idle / 4)
        with db.schema_transaction() as cur:
            cur.execute(db.ddl(SESSIONS_DDL))
            cur.execute(SESSIONS_BY_KEY)

    def open(self, key_id: str, credential: str) -> str:
        """A new session for a key; returns the id to give the browser (it is not stored)."""
        token = secrets.token_urlsafe(32)
        now = _ms(self._clock())
        with self._db.transaction() as cur:
            # Ended sessions are cleared here, so the table holds live sessions only.
            cur.execute(
                "DELETE FROM orderhub_console_sessions WHERE expires_ms <= ? OR seen_ms <= ?",
                (now, now - _ms_of(self._idle)),
            )
            cur.execute(
                "INSERT INTO orderhub_console_sessions "
                "(token_sha256, key_id, credential, opened_ms, seen_ms, expires_ms) "
                "VALUES (?, ?, ?, ?, ?, ?)",
                (_hash(token), key_id, credential, now, now, now + _ms_of(self._lifetime)),
            )
        return token

    def resolve(self, token: str) -> Session | None:
        """The live session with this id, its use recorded; None when unknown or ended (idle
        too long, or past its lifetime)."""
        now = _ms(self._clock())
        digest = _hash(token)
        with self._db.transaction() as cur:
            cur.execute(
                "SELECT key_id, credential, seen_ms, expires_ms FROM orderhub_console_sessions "
                "WHERE token_sha256 = ?",
                (digest,),
            )
            row = cur.fetchone()
            if row is None:
                return None
            key_id, credential, seen, expires = row
            if now >= int(expires) or now - int(seen) >= _ms_of(self._idle):
                cur.execute(
                    "DELETE FROM orderhub_console_sessions WHERE token_sha256 = ?", (digest,)
                )
                return None
            if now - int(seen) >= _ms_of(self._touch_every):
                cur.execute(
                    "UPDATE orderhub_console_sessions SET seen_ms = ? WHERE token_sha256 = ?",
                    (now, digest),
                )
        return Session(key_id=str(key_id), credential=str(credential))

    def close(self, token: str) -> None:
        with self._db.transaction() as cur:
            cur.execute(
                "DELETE FROM orderhub_console_sessions WHERE token_sha256 = ?", (_hash(token),)
            )

    def close_for_key(self, key_id: str) -> None:
        """End every session of a key (it was revoked)."""
        with self._db.transaction() as cur:
            cur.execute("DELETE FROM orderhub_console_sessions WHERE key_id = ?", (key_id,))

    def count(self) -> int:
        with self._db.transaction() as cur:
            cur.execute("SELECT COUNT(*) FROM orderhub_console_sessions")
            return int(cur.fetchone()[0])


def _hash(token: str) -> str:
    return hashlib.sha256(token.encode()).hexdigest()


def _ms(at: datetime) -> int:
    return int(at.timestamp() * 1000)


def _ms_of(span: timedelta) -> int:
    return int(span.total_seconds() * 1000)
