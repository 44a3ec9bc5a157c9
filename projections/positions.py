"""Tracked positions: how far a follower (relay, projection) has got in a stream."""

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


def save_positions(cur: Cursor, follower: str, positions: dict[str, int]) -> None:
    """Only moves forward: a replayed older batch never rewinds a position."""
    cur.executemany(
        "INSERT INTO orderhub_positions (follower, stream, position) VALUES (?, ?, ?) "
        "ON CONFLICT (follower, stream) DO UPDATE SET position = excluded.position "
        "WHERE excluded.position > orderhub_positions.position",
        [(follower, stream, position) for stream, position in sorted(positions.items())],
    )


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
