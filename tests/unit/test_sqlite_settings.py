"""The embedded views file: checkpointed every 10,000 pages of log, as durable as before; the
event store's SQLite left as the library sets it (its commits synced)."""

from pathlib import Path
from typing import Any

from hub.settings import Settings
from hub.store import OrderStore
from projections.sqldb import SQLITE_CHECKPOINT_PAGES, SqlDatabase


def _pragmas(cursor: Any) -> dict[str, Any]:
    found = {}
    for name in ("wal_autocheckpoint", "synchronous", "journal_mode"):
        cursor.execute(f"PRAGMA {name}")
        found[name] = cursor.fetchone()[0]
    return found


def test_the_views_file_checkpoints_less_often_and_stays_normal(tmp_path: Path) -> None:
    db = SqlDatabase(f"sqlite:///{tmp_path / 'views.sqlite3'}")
    with db.transaction() as cursor:
        assert _pragmas(cursor) == {
            "wal_autocheckpoint": SQLITE_CHECKPOINT_PAGES,
            "synchronous": 1,  # NORMAL: rebuildable, its positions saved with its rows
            "journal_mode": "wal",
        }
    db.close()


def test_the_event_store_still_syncs_each_commit(tmp_path: Path) -> None:
    store = OrderStore(env=Settings(data_dir=tmp_path).eventsourcing_env())
    with store.recorder.datastore.transaction(commit=False) as cursor:  # type: ignore[attr-defined]
        assert _pragmas(cursor) == {
            "wal_autocheckpoint": 1000,  # the library's: not this change's
            "synchronous": 2,  # FULL: the log synced at every commit
            "journal_mode": "wal",
        }
