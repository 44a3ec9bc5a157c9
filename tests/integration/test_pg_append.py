"""The intake's save without its notification ids (`HubRecorder.append_events`): the same
rows, ids and refusals as `insert_events`, one save at a time, and a save whose connection dies
in its transaction writes nothing until it is made again, then everything once."""

import time
from concurrent.futures import ThreadPoolExecutor
from pathlib import Path
from typing import Any
from uuid import uuid4

import psycopg
import pytest
from eventsourcing.persistence import DataError, IntegrityError, StoredEvent
from eventsourcing.postgres import PostgresApplicationRecorder

from hub.pg_recorder import HubRecorder
from hub.settings import Settings
from hub.store import OrderStore
from tests.support.pg_saves import save_on

pytestmark = pytest.mark.postgres

# Texts and states a save must carry as they are: quotes, backslashes, braces and commas (an
# array literal's syntax), non-ASCII and 4-byte UTF-8, bytes of every value, a large state.
STATES = [
    b'{"name": "O\'Brien \\"the\\" {1,2}", "x": "\\\\"}',
    "caf\u00e9 \u2603 \U0001f4e6".encode(),
    bytes(range(256)) * 4,
    b"x" * 3_000_000,
]
TOPICS = ['a.b:Q"uo\\te,{x}', "caf\u00e9:\u2603", "t:\U0001f4e6", "aggregates.order:Order.Placed"]


def _store(database_url: str, tmp_path: Path) -> tuple[OrderStore, HubRecorder]:
    settings = Settings(data_dir=tmp_path, kafka_bootstrap=None, database_url=database_url)
    store = OrderStore(env=settings.eventsourcing_env())
    assert isinstance(store.recorder, HubRecorder)
    return store, store.recorder


def _events(n: int) -> list[StoredEvent]:
    return [StoredEvent(uuid4(), 1, "aggregates.order:Order.Placed", b"{}") for _ in range(n)]


def _rows(database_url: str) -> list[tuple[Any, ...]]:
    with psycopg.connect(database_url) as conn:
        return conn.execute(
            "SELECT notification_id, originator_id, originator_version, topic, state"
            " FROM orderhub_events ORDER BY notification_id"
        ).fetchall()


def test_an_append_stores_what_insert_would_and_the_library_reads_it(
    database_url: str, tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    store, recorder = _store(database_url, tmp_path)
    try:
        ids = [uuid4() for _ in STATES]
        events = [
            StoredEvent(i, v, t, s)
            for i, t, s in zip(ids, TOPICS, STATES, strict=True)
            for v in (1, 2)
        ]
        # Not the library's pipeline: the one call.
        monkeypatch.setattr(PostgresApplicationRecorder, "insert_events", _refused)
        assert recorder.append_events(events) is None
        assert recorder.append_events([]) is None
        monkeypatch.undo()
        assert _rows(database_url) == [
            (n, e.originator_id, e.originator_version, e.topic, e.state)
            for n, e in enumerate(events, start=1)
        ]
        assert recorder.select_events(ids[1]) == events[2:4]
        later = recorder.insert_events(_events(2))
        assert later == [len(events) + 1, len(events) + 2]  # no gap after an append
    finally:
        store.close()


def test_an_append_refuses_what_postgresql_cannot_hold_and_writes_nothing(
    database_url: str, tmp_path: Path
) -> None:
    store, recorder = _store(database_url, tmp_path)
    try:
        first = _events(3)
        recorder.append_events(first)
        with pytest.raises(IntegrityError):  # the last one's version is taken already
            recorder.append_events([*_events(4), first[1]])
        nul = StoredEvent(uuid4(), 1, "a:B\x00", b"{}")
        with pytest.raises(DataError):  # the server refuses a text holding NUL
            recorder.append_events([*_events(2), nul])
        surrogate = StoredEvent(uuid4(), 1, "a:\ud800", b"{}")
        with pytest.raises(UnicodeEncodeError):
            recorder.append_events([*_events(2), surrogate])
        assert [row[0] for row in _rows(database_url)] == [1, 2, 3]
    finally:
        store.close()


def test_an_append_waits_its_turn_behind_an_uncommitted_save(
    database_url: str, tmp_path: Path
) -> None:
    """Saves take turns (the notification log in commit order): an append waits for the lock
    held by a save not yet committed, and its rows take the ids after that one's."""
    store, recorder = _store(database_url, tmp_path)
    try:
        with psycopg.connect(database_url) as holder, ThreadPoolExecutor(1) as pool:
            held = save_on(holder, recorder, _events(2), "30s")
            second = _events(2)
            waiting = pool.submit(recorder.append_events, second)
            _wait_for(lambda: len(_lock_waiters(database_url)) == 1)
            assert not waiting.done()
            holder.commit()
            waiting.result(timeout=10)
        assert [h[0] for h in held] == [1, 2]
        assert [(r[0], r[1]) for r in _rows(database_url)[2:]] == [
            (3, second[0].originator_id),
            (4, second[1].originator_id),
        ]
    finally:
        store.close()


def test_an_append_whose_connection_dies_in_its_transaction_is_saved_once_when_made_again(
    database_url: str, tmp_path: Path
) -> None:
    """The save's backend killed inside its transaction (its rows sent, waiting for its turn):
    nothing of it is written; the recorder makes it again (as the library retries a lost
    connection) and every event is stored once."""
    store, recorder = _store(database_url, tmp_path)
    try:
        events = _events(500)
        with psycopg.connect(database_url) as holder, ThreadPoolExecutor(1) as pool:
            save_on(holder, recorder, _events(1), "30s")
            saving = pool.submit(recorder.append_events, events)
            _wait_for(lambda: len(_lock_waiters(database_url)) == 1)
            (dying,) = _lock_waiters(database_url)
            with psycopg.connect(database_url, autocommit=True) as killer:
                killer.execute("SELECT pg_terminate_backend(%s)", [dying])
            # Made again on another connection, waiting again.
            _wait_for(lambda: _lock_waiters(database_url) not in ([], [dying]))
            assert len(_rows(database_url)) == 0  # the holder's not committed, the dead nothing
            holder.commit()
            saving.result(timeout=10)
        rows = _rows(database_url)
        assert [r[1] for r in rows[1:]] == [e.originator_id for e in events]
        assert [r[0] for r in rows] == list(range(1, 502))
    finally:
        store.close()


def test_without_the_function_an_append_goes_as_before(database_url: str, tmp_path: Path) -> None:
    store, recorder = _store(database_url, tmp_path)
    try:
        with recorder.datastore.get_connection() as conn:
            conn.execute(f"DROP FUNCTION {recorder.insert_function_name}")
        first = _events(2)
        recorder.append_events(first)
        recorder.append_events(_events(2))
        with pytest.raises(IntegrityError):
            recorder.append_events([*_events(1), first[0]])
        assert [row[0] for row in _rows(database_url)] == [1, 2, 3, 4]
    finally:
        store.close()


def _refused(*_: Any, **__: Any) -> None:
    raise AssertionError("the library's pipeline was used")


def _lock_waiters(database_url: str) -> list[int]:
    """The backends of this database waiting for an advisory lock (a save's turn)."""
    with psycopg.connect(database_url, autocommit=True) as conn:
        rows = conn.execute(
            "SELECT pid FROM pg_stat_activity WHERE datname = current_database()"
            " AND wait_event_type = 'Lock' AND wait_event = 'advisory'"
        ).fetchall()
    return [int(row[0]) for row in rows]


def _wait_for(condition: Any, seconds: float = 10.0) -> None:
    deadline = time.monotonic() + seconds
    while not condition():
        assert time.monotonic() < deadline, "not in time"
        time.sleep(0.02)
