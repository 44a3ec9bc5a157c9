"""What every read model offers, whatever stores its rows (in memory, SQLite, PostgreSQL)."""

from abc import ABC, abstractmethod
from collections.abc import Callable, Sequence
from typing import ClassVar, Protocol

from projections.positions import PositionsLater, create_positions_table
from projections.sqldb import Cursor, SqlDatabase
from schemas.envelope import EventEnvelope


class ReadModel(Protocol):
    """A follower of the event log that keeps rows and the positions they were computed from.

    ``apply`` is idempotent (at-least-once delivery redelivers events) and atomic: the rows
    and the positions a batch reached are saved together, so a crash never half-applies one.
    """

    name: str

    def apply(self, envelopes: Sequence[EventEnvelope], positions: dict[str, int]) -> None: ...

    def positions(self) -> dict[str, int]: ...

    def reset(self) -> None:
        """Forget every row and position: the next delivery rebuilds from the start."""


class SqlView(ABC):
    """A view in SQL whose batch can be written inside a transaction it shares with the other
    views of the same database: a projections consumer then commits once per batch for all of
    them instead of once per view (hub.streaming.view_feed). Alone, `apply` is that write in a
    transaction of its own, as embedded delivery and rebuilds use it."""

    _db: SqlDatabase
    # The name a rebuild holds the view under (SqlDatabase.rebuilding): its writers wait for
    # the rebuild. None for a view that is never rebuilt.
    rebuilt_as: ClassVar[str | None] = None

    @property
    def database(self) -> SqlDatabase:
        return self._db

    @abstractmethod
    def write(
        self, cur: Cursor, envelopes: Sequence[EventEnvelope], positions: dict[str, int]
    ) -> None:
        """Apply a batch and record the positions it reached, in the caller's transaction."""

    def apply(self, envelopes: Sequence[EventEnvelope], positions: dict[str, int]) -> None:
        with self._db.transaction(writing_view=self.rebuilt_as) as cur:
            self.write(cur, envelopes, positions)


def write_together(
    group: Sequence[tuple[SqlView, Sequence[EventEnvelope], dict[str, int]]],
) -> None:
    """Several views' batches in one transaction of their (shared) database, with their
    positions: one commit for all of them."""
    db = group[0][0].database
    locks = [view.rebuilt_as for view, _, _ in group if view.rebuilt_as]
    with db.transaction(writing_views=locks, pipelined=True) as cur:
        later = PositionsLater(cur)
        for view, envelopes, positions in group:
            view.write(later, envelopes, positions)
        later.flush()


def advance(current: dict[str, int], reached: dict[str, int]) -> None:
    """Positions only move forward, as in the SQL backends."""
    for stream, position in reached.items():
        current[stream] = max(position, current.get(stream, -1))


VERSIONS_DDL = """
CREATE TABLE IF NOT EXISTS orderhub_view_versions (
    view TEXT PRIMARY KEY,
    version INTEGER NOT NULL
)"""


class NewerViewError(RuntimeError):
    pass


def ensure_version(cur: Cursor, follower: str, version: int, tables: Sequence[str]) -> bool:
    """A view whose shape changed is dropped, to be rebuilt from the event store, not patched:
    rows computed by older code would otherwise sit beside new ones. True when it was reset
    (the caller must rebuild it). A view built by newer code is left alone and refused, so an
    older process started beside newer ones during a rolling deploy cannot wipe it."""
    create_versions_table(cur)
    cur.execute("SELECT version FROM orderhub_view_versions WHERE view = ?", (follower,))
    found = cur.fetchone()
    if found is not None and int(found[0]) == version:
        return False
    if found is not None and int(found[0]) > version:
        raise NewerViewError(
            f"view {follower} has layout version {found[0]}, built by a newer OrderHub than "
            f"this one ({version}): upgrade this process"
        )
    for table in tables:
        cur.execute(f"DROP TABLE IF EXISTS {table}")
    cur.execute("DELETE FROM orderhub_positions WHERE follower = ?", (follower,))
    cur.execute(
        "INSERT INTO orderhub_view_versions (view, version) VALUES (?, ?) "
        "ON CONFLICT (view) DO UPDATE SET version = excluded.version",
        (follower, version),
    )
    return True


def create_versions_table(cur: Cursor) -> None:
    """The views' layout versions, and their positions, where they are not yet."""
    cur.execute(VERSIONS_DDL)
    create_positions_table(cur)


def forget(cur: Cursor, follower: str, tables: Sequence[str]) -> None:
    """Empty a view's tables and its positions (a rebuild from the start follows)."""
    for table in tables:
        cur.execute(f"DELETE FROM {table}")
    cur.execute("DELETE FROM orderhub_positions WHERE follower = ?", (follower,))


def prefix_upper_bound(prefix: str) -> str | None:
    """The least string above every string starting with `prefix` (code point order), or None
    when there is none; `prefix <= s < bound` is then a range an index on the column serves."""
    chars = list(prefix)
    while chars:
        code = ord(chars[-1]) + 1
        if 0xD800 <= code <= 0xDFFF:
            code = 0xE000  # surrogates cannot be stored as text
        if code <= 0x10FFFF:
            chars[-1] = chr(code)
            return "".join(chars)
        chars.pop()
    return None


Read = Callable[[int | None, int], list[tuple[int, EventEnvelope]]]


def replay(
    read: Read,
    view: ReadModel,
    stream: str,
    batch_size: int = 1000,
    progress: Callable[[int], None] = lambda _: None,
) -> int:
    """Empty a view and apply every recorded event again, in log order; returns the count."""
    view.reset()
    after: int | None = None
    replayed = 0
    while True:
        batch = read(after, batch_size)
        if not batch:
            return replayed
        after = batch[-1][0]
        view.apply([env for _, env in batch], {stream: after})
        replayed += len(batch)
        progress(replayed)
