"""The embedded event store's SQLite connections with a statement cache.

eventsourcing (9.5) opens each SQLite connection with `cached_statements=True`, which
`sqlite3.connect` reads as a cache of one statement: every statement but the last one run was
prepared again, each time (a select of an order's events, of its stock items', an insert, a
begin, a commit, in turn), ~23 µs each (benchmarks/README.md, stmt18). These connections keep
Python's own default, 128; everything else is the library's, as written there.
"""

import sqlite3

from eventsourcing.persistence import InterfaceError
from eventsourcing.sqlite import (
    SQLITE3_DEFAULT_LOCK_TIMEOUT,
    SQLiteConnection,
    SQLiteConnectionPool,
    SQLiteDatastore,
)

STATEMENTS = 128  # sqlite3.connect's default


class StatementCachingPool(SQLiteConnectionPool):
    """The library's pool, its connections made as the library makes them (`_create_connection`
    of eventsourcing.sqlite, WAL mode and row factory included) but for the statement cache."""

    def _create_connection(self) -> SQLiteConnection:
        try:
            c = sqlite3.connect(
                database=self.db_name,
                uri=True,
                check_same_thread=False,
                isolation_level=None,  # autocommit: the library issues its own BEGIN
                cached_statements=STATEMENTS,
                timeout=self.lock_timeout or SQLITE3_DEFAULT_LOCK_TIMEOUT,
            )
        except (sqlite3.Error, TypeError) as e:
            raise InterfaceError(e) from e
        if not self.is_sqlite_memory_mode and not self.is_journal_mode_wal:
            mode = c.execute("PRAGMA journal_mode;").fetchone()[0]
            if mode.lower() != "wal":
                c.execute("PRAGMA journal_mode=WAL;")
                self.journal_mode_was_changed_to_wal = True
            self.is_journal_mode_wal = True
        c.row_factory = sqlite3.Row
        return SQLiteConnection(sqlite_conn=c, max_age=self.max_age)


def cache_statements(datastore: SQLiteDatastore) -> None:
    """The datastore's pool replaced by one whose connections cache statements; the connections
    the old one made (creating the tables) closed."""
    old = datastore.pool
    if isinstance(old, StatementCachingPool) or old.is_sqlite_memory_mode:
        return  # an in-memory database lives as long as its connections: kept as it is
    datastore.pool = StatementCachingPool(
        db_name=old.db_name,
        lock_timeout=old.lock_timeout,
        pool_size=old.pool_size,
        max_overflow=old.max_overflow,
        pool_timeout=old.pool_timeout,
        max_age=old.max_age,
        pre_ping=old.pre_ping,
    )
    old.close()
