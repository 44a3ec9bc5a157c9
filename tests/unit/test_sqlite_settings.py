"""The embedded SQLite files' settings: the views file rebuildable (NORMAL) at SQLite's own
checkpoint interval (10,000 pages cut its writer's CPU but moved each checkpoint's longer pause
into the capture's commits: REST p99 up in every quiet and busy pair); the event store's as
the library sets it (its commits synced)."""

from pathlib import Path
from typing import Any

from hub.settings import Settings
from hub.store import OrderStore
from projections.sqldb import SqlDatabase


def _pragmas(cursor: Any) -> dict[str, Any]:
    found = {}
    for name in ("wal_autocheckpoint", "synchronous", "journal_mode"):
        cursor.execute(f"PRAGMA {name}")
        found[name] = cursor.fetchone()[0]
    return found


def test_the_views_file_is_normal_at_sqlites_checkpoint_interval(tmp_path: Path) -> None:
    db = SqlDatabase(f"sqlite:///{tmp_path / 'views.sqlite3'}")
    with db.transaction() as cursor:
        assert _pragmas(cursor) == {
            "wal_autocheckpoint": 1000,
            "synchronous": 1,  # NORMAL: rebuildable, its positions saved with its rows
            "journal_mode": "wal",
        }
    db.close()


def test_the_event_store_still_syncs_each_commit(tmp_path: Path) -> None:
    store = OrderStore(env=Settings(data_dir=tmp_path).eventsourcing_env())
    with store.recorder.datastore.transaction(commit=False) as cursor:  # type: ignore[attr-defined]
        assert _pragmas(cursor) == {
            "wal_autocheckpoint": 1000,
            "synchronous": 2,  # FULL: the log synced at every commit
            "journal_mode": "wal",
        }
