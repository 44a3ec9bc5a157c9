"""The event store's PostgreSQL recorder (hub/pg_recorder.py, events sent in binary) and lz4
compression (hub/store.py): what the library's recorder stored loads byte for byte, a save is
whole or not at all, and the ids come back in order."""

from pathlib import Path
from uuid import uuid4

import pytest
from eventsourcing.persistence import IntegrityError, StoredEvent

from hub.pg_recorder import HubRecorder
from hub.settings import Settings
from hub.store import OrderStore
from projections.sqldb import SqlDatabase

pytestmark = pytest.mark.postgres


def _env(database_url: str, tmp_path: Path) -> dict[str, str]:
    settings = Settings(data_dir=tmp_path, kafka_bootstrap=None, database_url=database_url)
    return settings.eventsourcing_env()


def _events(n: int, size: int) -> list[StoredEvent]:
    # Large, compressible states: stored compressed (TOAST) beyond ~2 kB.
    return [
        StoredEvent(uuid4(), 1, "aggregates.order:Order.Placed", b'{"x": "%s"}' % (b"ab" * size))
        for _ in range(n)
    ]


def test_events_the_library_stored_with_pglz_load_the_same(
    database_url: str, tmp_path: Path
) -> None:
    library_env = {k: v for k, v in _env(database_url, tmp_path).items() if "RECORDER" not in k}
    earlier = OrderStore(env=library_env)
    assert type(earlier.recorder) is not HubRecorder
    old = _events(5, 3_000)
    with earlier.recorder.datastore.get_connection() as conn:  # type: ignore[attr-defined]
        # As a release before lz4 wrote them (the column may have been switched already).
        conn.execute("ALTER TABLE orderhub_events ALTER COLUMN state SET COMPRESSION pglz")
    earlier.recorder.insert_events(old)
    earlier.close()

    store = OrderStore(env=_env(database_url, tmp_path))
    try:
        assert isinstance(store.recorder, HubRecorder)
        new = _events(5, 3_000)
        ids = store.recorder.insert_events(new)
        assert ids is not None and ids == list(range(ids[0], ids[0] + 5))
        with store.recorder.datastore.get_connection() as conn:  # type: ignore[attr-defined]
            methods = conn.execute(
                "SELECT pg_column_compression(state) FROM orderhub_events ORDER BY notification_id"
            ).fetchall()
        assert [m["pg_column_compression"] for m in methods] == ["pglz"] * 5 + ["lz4"] * 5
        stored = store.recorder.select_notifications(start=None, limit=100)
        assert [(n.originator_id, n.originator_version, n.topic, n.state) for n in stored] == [
            (e.originator_id, e.originator_version, e.topic, e.state) for e in old + new
        ]
    finally:
        store.close()


def test_a_save_with_a_conflicting_event_writes_nothing(database_url: str, tmp_path: Path) -> None:
    store = OrderStore(env=_env(database_url, tmp_path))
    try:
        first = _events(3, 10)
        store.recorder.insert_events(first)
        batch = [*_events(4, 1_500), first[1]]  # the last one's version is taken already
        with pytest.raises(IntegrityError):
            store.recorder.insert_events(batch)
        assert store.recorder.max_notification_id() == 3
        assert len(store.recorder.select_notifications(start=None, limit=100)) == 3
        later = store.recorder.insert_events(_events(2, 10))
        assert later is not None and len(later) == 2 and min(later) > 3
    finally:
        store.close()


def test_a_column_that_cannot_take_lz4_is_logged_and_left(
    database_url: str, caplog: pytest.LogCaptureFixture
) -> None:
    db = SqlDatabase(database_url)
    try:
        with db.transaction() as cur:
            cur.execute("CREATE TABLE t (i INTEGER, d TEXT)")
        db.prefer_lz4([("t", "i")])  # an integer is never compressed: PostgreSQL refuses
        assert "kept their compression" in caplog.text
        db.prefer_lz4([("t", "d")])
        with db.transaction() as cur:
            cur.execute(
                "SELECT attname, attcompression FROM pg_attribute "
                "WHERE attrelid = 't'::regclass AND attname IN ('i', 'd') ORDER BY attname"
            )
            assert cur.fetchall() == [("d", "l"), ("i", "")]
    finally:
        db.close()
