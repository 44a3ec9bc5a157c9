"""The embedded SQLite files: read through a memory map, checkpointed every 10,000 pages, and
as durable as before (the event store's commits synced, the views file rebuildable)."""

from pathlib import Path
from typing import Any
from uuid import uuid4

from eventsourcing.persistence import StoredEvent

from hub.settings import Settings
from hub.sqlite_recorder import HubSQLiteRecorder
from hub.store import OrderStore
from projections.sqldb import SQLITE_CHECKPOINT_PAGES, SQLITE_MMAP_BYTES, SqlDatabase


def _pragmas(cursor: Any) -> dict[str, Any]:
    found = {}
    for name in ("mmap_size", "wal_autocheckpoint", "synchronous", "journal_mode"):
        cursor.execute(f"PRAGMA {name}")
        found[name] = cursor.fetchone()[0]
    return found


def test_the_event_store_reads_in_place_and_still_syncs_each_commit(tmp_path: Path) -> None:
    store = OrderStore(env=Settings(data_dir=tmp_path).eventsourcing_env())
    assert isinstance(store.recorder, HubSQLiteRecorder)
    # Two connections at once: each one the pool makes gets the settings, not only the first.
    datastore = store.recorder.datastore
    with (
        datastore.transaction(commit=False) as first,
        datastore.transaction(commit=True) as second,
    ):
        for cursor in (first, second):
            assert _pragmas(cursor) == {
                "mmap_size": SQLITE_MMAP_BYTES,
                "wal_autocheckpoint": SQLITE_CHECKPOINT_PAGES,
                "synchronous": 2,  # FULL: the log synced at every commit, as the library's
                "journal_mode": "wal",
            }


def test_the_views_file_reads_in_place_and_stays_normal(tmp_path: Path) -> None:
    db = SqlDatabase(f"sqlite:///{tmp_path / 'views.sqlite3'}")
    with db.transaction() as cursor:
        assert _pragmas(cursor) == {
            "mmap_size": SQLITE_MMAP_BYTES,
            "wal_autocheckpoint": SQLITE_CHECKPOINT_PAGES,
            "synchronous": 1,  # NORMAL: rebuildable, its positions saved with its rows
            "journal_mode": "wal",
        }
    db.close()


def test_a_store_written_by_the_library_recorder_loads_as_before(tmp_path: Path) -> None:
    """An earlier release's store (the library's own recorder, the default settings) is read
    by this one as it was written, and written on after it."""
    env = Settings(data_dir=tmp_path).eventsourcing_env()
    earlier = {k: v for k, v in env.items() if k != "APPLICATION_RECORDER_TOPIC"}
    old_store = OrderStore(env=earlier)
    assert not isinstance(old_store.recorder, HubSQLiteRecorder)
    ids = [uuid4() for _ in range(3)]
    old_store.recorder.insert_events(
        [StoredEvent(i, 1, "tests:Event", f"state {n}".encode()) for n, i in enumerate(ids)]
    )
    old_store.close()

    store = OrderStore(env=env)
    assert [n.originator_id for n in store.recorder.select_notifications(1, 10)] == ids
    store.recorder.insert_events([StoredEvent(ids[0], 2, "tests:Event", b"later")])
    assert [e.state for e in store.recorder.select_events(ids[0])] == [b"state 0", b"later"]
    assert store.max_position() == 4
