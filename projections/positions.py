"""Tracked positions: how far a follower (relay, projection) has got in a stream."""

import time
from collections.abc import Sequence
from typing import Any

from projections.sqldb import Cursor, SqlDatabase

POSITIONS_DDL = """
CREATE TABLE IF NOT EXISTS orderhub_positions (
    follower TEXT NOT NULL,
    stream TEXT NOT NULL,
    position BIGINT NOT NULL,
    PRIMARY KEY (follower, stream)
)"""


def create_positions_table(cur: Cursor) -> None:
    cur.execute(POSITIONS_DDL)


def read_positions(cur: Cursor, follower: str) -> dict[str, int]:
    cur.execute("SELECT stream, position FROM orderhub_positions WHERE follower = ?", (follower,))
    return {stream: int(position) for stream, position in cur.fetchall()}


_SAVE = (
    "INSERT INTO orderhub_positions (follower, stream, position) VALUES (?, ?, ?) "
    "ON CONFLICT (follower, stream) DO UPDATE SET position = excluded.position "
    "WHERE excluded.position > orderhub_positions.position"
)


def save_positions(cur: Cursor, follower: str, positions: dict[str, int]) -> None:
    """Only moves forward: a replayed older batch never rewinds a position. In a transaction
    that writes several views (`PositionsLater`) the rows wait for one statement at its end."""
    rows = [(follower, stream, position) for stream, position in sorted(positions.items())]
    if isinstance(cur, PositionsLater):
        cur.pending.extend(rows)
        return
    cur.executemany(_SAVE, rows)


class PositionsLater:
    """A cursor whose positions are written together by `flush`, still in its transaction:
    the views of one batch then save their positions in one statement instead of one each
    (psycopg runs every `executemany` as a pipeline of its own, one round trip; seven views,
    seven round trips a batch, most of a small batch's cost on PostgreSQL). The rows still
    commit with the views' rows or not at all: `flush` runs before the transaction ends."""

    def __init__(self, cur: Cursor) -> None:
        self._cur = cur
        self.pending: list[tuple[str, str, int]] = []

    def execute(self, sql: str, params: Sequence[Any] = ()) -> Any:
        return self._cur.execute(sql, params)

    def executemany(self, sql: str, params: Sequence[Sequence[Any]]) -> Any:
        return self._cur.executemany(sql, params)

    def fetchall(self) -> list[Any]:
        return self._cur.fetchall()

    def fetchone(self) -> Any:
        return self._cur.fetchone()

    def flush(self) -> None:
        # One key order for every writer (follower, then stream), as one view alone writes its
        # own: two transactions never take the same two rows' locks in opposite orders.
        self._cur.executemany(_SAVE, sorted(self.pending))
        self.pending.clear()


class SqlPositionStore:
    """A position store for one follower, used by the relay (its position, nothing else)."""

    def __init__(self, db: SqlDatabase, follower: str) -> None:
        self._db = db
        self._follower = follower
        with db.schema_transaction() as cur:
            create_positions_table(cur)

    def get(self, stream: str) -> int | None:
        with self._db.transaction() as cur:
            return read_positions(cur, self._follower).get(stream)

    def set(self, stream: str, position: int) -> None:
        with self._db.transaction() as cur:
            save_positions(cur, self._follower, {stream: position})


class SparsePositions:
    """A follower's positions written in a transaction of their own at most every `every`
    seconds (0: at each call), those of the calls in between kept here and written with the
    next. For followers whose positions nothing resumes from on a worker: there the Kafka
    offsets committed after each batch are where its group resumes, and the positions only
    tell how far it got. A batch with nothing to act on (most of billing's; a batch of one or
    two orders closed early) then pays no commit, round trip nor PostgreSQL work for them,
    and a crash loses at most those seconds of them, which nothing needs. Embedded delivery
    resumes from them: there every batch writes them (every = 0)."""

    def __init__(self, db: SqlDatabase, follower: str, every: float = 0.0) -> None:
        self._db = db
        self._follower = follower
        self.every = every
        self._unsaved: dict[str, int] = {}
        self._saved_at = float("-inf")

    def note(self, positions: dict[str, int]) -> bool:
        """Keeps `positions` for a later write and says True, unless a write is due (then
        False, and nothing kept: call `save`). Cheap: no database, no thread."""
        if self.every <= 0 or time.monotonic() - self._saved_at >= self.every:
            return False
        self._keep(positions)
        return True

    def save(self, positions: dict[str, int]) -> None:
        self._keep(positions)
        now = time.monotonic()
        if not self._unsaved or now - self._saved_at < self.every:
            return
        with self._db.transaction() as cur:
            save_positions(cur, self._follower, self._unsaved)
        self._unsaved, self._saved_at = {}, now

    def _keep(self, positions: dict[str, int]) -> None:
        for stream, position in positions.items():
            self._unsaved[stream] = max(position, self._unsaved.get(stream, position))

    def read(self) -> dict[str, int]:
        """The saved positions, with those not written yet."""
        with self._db.transaction() as cur:
            saved = read_positions(cur, self._follower)
        unsaved = self._unsaved
        return {s: max(p, unsaved.get(s, p)) for s, p in saved.items()} | {
            s: p for s, p in unsaved.items() if s not in saved
        }
