"""The embedded event store's recorder: the library's SQLite recorder, its connections reading
the file through a memory map and checkpointing its log less often.

The API's process writes orders, the routing child decisions and reservations, and both
children read the log: a connection drops its whole page cache whenever another one has
committed, so each transaction read its pages again with `pread`, copied by the kernel; through
a memory map they are read in place. And each 1,000 pages of log (SQLite's default) a commit
copied the log back into the file and synced it, the indexes' upper pages among them every
time: every 10,000 such a page is copied once for ten times as many saves.

Durability is the library's: each commit still syncs the log (`synchronous=FULL`, its
default in WAL mode), which is what makes it durable; a checkpoint only moves committed pages
from the log into the file, and a log not yet checkpointed is replayed on open after a crash.
"""

from typing import Any

from eventsourcing.sqlite import SQLiteApplicationRecorder, SQLiteConnection, SQLiteDatastore

from projections.sqldb import SQLITE_CHECKPOINT_PAGES, SQLITE_MMAP_BYTES


class HubSQLiteRecorder(SQLiteApplicationRecorder):
    def __init__(self, datastore: SQLiteDatastore, *args: Any, **kwargs: Any) -> None:
        super().__init__(datastore, *args, **kwargs)
        _read_in_place(datastore)


def _read_in_place(datastore: SQLiteDatastore) -> None:
    """Every connection the datastore's pool makes from now on gets the two settings (the pool
    makes them lazily: none is open before the recorder)."""
    pool = datastore.pool
    create = pool._create_connection
    if getattr(create, "reads_in_place", False):
        return  # another recorder of the same datastore did it

    def created() -> SQLiteConnection:
        connection = create()
        cursor = connection.cursor()  # outside a transaction: the connection autocommits
        cursor.execute(f"PRAGMA mmap_size={SQLITE_MMAP_BYTES}")
        cursor.execute(f"PRAGMA wal_autocheckpoint={SQLITE_CHECKPOINT_PAGES}")
        cursor.sqlite_cursor.close()
        return connection

    created.reads_in_place = True  # type: ignore[attr-defined]
    pool._create_connection = created  # type: ignore[method-assign]
