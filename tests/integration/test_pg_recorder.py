"""The event store's PostgreSQL recorder (hub/pg_recorder.py, events sent in binary) and lz4
compression (hub/store.py): what the library's recorder stored loads byte for byte, a save is
whole or not at all, and the ids come back in order."""

import time
from concurrent.futures import ThreadPoolExecutor
from pathlib import Path
from typing import Any
from uuid import UUID, uuid4

import psycopg
import pytest
from eventsourcing.persistence import IntegrityError, StoredEvent
from eventsourcing.postgres import PostgresApplicationRecorder

from hub.multi_get import _events_of_many
from hub.pg_recorder import HubRecorder
from hub.settings import Settings
from hub.store import OrderStore
from projections.sqldb import SqlDatabase
from tests.support.pg_saves import save_on

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


def _not_called(*_: Any, **__: Any) -> None:
    raise AssertionError("the library's pipelined save was used")


def _library_recorder(store: OrderStore) -> PostgresApplicationRecorder:
    """The library's own recorder on the same table and connections."""
    recorder = store.recorder
    assert isinstance(recorder, HubRecorder)
    return PostgresApplicationRecorder(
        recorder.datastore, events_table_name=recorder.events_table_name
    )


def test_a_save_is_one_call_and_the_library_reads_it(
    database_url: str, tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    store = OrderStore(env=_env(database_url, tmp_path))
    try:
        recorder = store.recorder
        assert isinstance(recorder, HubRecorder)
        events = _events(3, 2_000)
        # Not the library's pipeline (BEGIN, SET, LOCK, INSERT, COMMIT): the one call.
        monkeypatch.setattr(PostgresApplicationRecorder, "insert_events", _not_called)
        ids = recorder.insert_events(events, tracking=None)  # as every save passes it
        monkeypatch.undo()
        assert ids is not None and ids == list(range(ids[0], ids[0] + 3))
        library = _library_recorder(store)
        assert [
            (n.id, n.originator_id, n.originator_version, n.topic, n.state)
            for n in library.select_notifications(start=None, limit=10)
        ] == [
            (i, e.originator_id, e.originator_version, e.topic, e.state)
            for i, e in zip(ids, events, strict=True)
        ]
    finally:
        store.close()


def test_reads_answer_as_the_library_s(database_url: str, tmp_path: Path) -> None:
    store = OrderStore(env=_env(database_url, tmp_path))
    try:
        recorder = store.recorder
        library = _library_recorder(store)
        one = uuid4()
        history = [StoredEvent(one, v, f"t:{v % 3}", b"\x00\xff" * v + b"\\x") for v in range(1, 9)]
        library.insert_events([*_events(4, 10), *history[:5]])
        recorder.insert_events([*history[5:], *_events(2, 3_000)])
        for options in (
            {},
            {"gt": 2},
            {"lte": 6},
            {"gt": 2, "lte": 6, "desc": True},
            {"desc": True, "limit": 1},
            {"gt": 8},
        ):
            ours = recorder.select_events(one, **options)
            assert ours == library.select_events(one, **options), options
            assert all(type(e.state) is bytes and type(e.originator_id) is UUID for e in ours)
        assert recorder.select_events(uuid4()) == []
        for start, stop, topics, inclusive in (
            (None, None, (), True),
            (3, None, (), True),
            (3, None, (), False),
            (2, 9, ["t:1", "t:2"], False),
            (None, 12, ("t:0",), True),
        ):
            kwargs: dict[str, Any] = {"stop": stop, "topics": topics}
            ours_n = recorder.select_notifications(start, 5, inclusive_of_start=inclusive, **kwargs)
            theirs = library.select_notifications(start, 5, inclusive_of_start=inclusive, **kwargs)
            assert ours_n == theirs and ours_n, (start, stop, topics, inclusive)
    finally:
        store.close()


def test_a_waiting_save_takes_the_ids_after_the_one_holding_the_lock(
    database_url: str, tmp_path: Path
) -> None:
    """The notification log stays in commit order: a save waits for the lock saves take turns
    by, held by a save not yet committed, and its ids come after that one's."""
    store = OrderStore(env=_env(database_url, tmp_path))
    try:
        recorder = store.recorder
        assert isinstance(recorder, HubRecorder)
        recorder.insert_events(_events(1, 10))
        first, second = _events(2, 10), _events(2, 10)
        with psycopg.connect(database_url) as holder:  # a transaction left open
            held = save_on(holder, recorder, first)
            with ThreadPoolExecutor(1) as pool:
                waiting = pool.submit(recorder.insert_events, second)
                time.sleep(0.5)
                assert not waiting.done()  # behind the lock
                holder.commit()
                ids = waiting.result(timeout=10)
        assert [h[0] for h in held] == [2, 3] and ids == [4, 5]
    finally:
        store.close()


def test_without_the_function_saves_go_as_before(
    database_url: str, tmp_path: Path, caplog: pytest.LogCaptureFixture
) -> None:
    """A database whose tables an earlier release created (no function) is saved to by the
    pipeline: the same ids, the same refusal of a conflicting version."""
    store = OrderStore(env=_env(database_url, tmp_path))
    try:
        recorder = store.recorder
        assert isinstance(recorder, HubRecorder)
        with recorder.datastore.get_connection() as conn:
            conn.execute(f"DROP FUNCTION {recorder.insert_function_name}")
        first = _events(2, 10)
        assert recorder.insert_events(first) == [1, 2]
        assert "no function" in caplog.text
        assert recorder.insert_events(_events(2, 10)) == [3, 4]
        with pytest.raises(IntegrityError):
            recorder.insert_events([*_events(1, 10), first[0]])
        assert recorder.max_notification_id() == 4
    finally:
        store.close()


def test_the_store_s_connections_keep_one_plan_per_prepared_statement(
    database_url: str, tmp_path: Path
) -> None:
    store = OrderStore(env=_env(database_url, tmp_path))
    try:
        datastore = store.recorder.datastore  # type: ignore[attr-defined]
        with datastore.get_connection() as conn:
            row = conn.execute("SHOW plan_cache_mode").fetchone()
        assert row == {"plan_cache_mode": "force_generic_plan"}
        # Reads planned once answer as before (the release's loads: test_multi_get).
        ids = store.recorder.insert_events(_events(3, 10))
        assert ids is not None
        for _ in range(7):  # past the five custom plans PostgreSQL would otherwise make
            assert len(store.recorder.select_notifications(start=ids[1], limit=5)) == 2
    finally:
        store.close()


@pytest.mark.parametrize("latest", [False, True])
def test_a_multi_get_looks_each_id_up_by_the_key_whatever_the_table_s_size(
    database_url: str, tmp_path: Path, latest: bool
) -> None:
    """The plan kept for the multi-get (one per prepared statement, planned blind to the number
    of ids) probes the primary key per id, on a young table too (a guard of the plan's shape:
    the join it replaced was planned by its estimate of the array's length)."""
    store = OrderStore(env=_env(database_url, tmp_path))
    try:
        recorder = store.recorder
        assert isinstance(recorder, HubRecorder)
        recorder.insert_events(_events(2_000, 10))  # some 20 pages: young, not tiny
        statement = _events_of_many("public", recorder.events_table_name, latest)
        with recorder.datastore.get_connection() as conn:
            conn.execute("ANALYZE orderhub_events")
            text = statement.as_string(conn).replace("%s", "$1", 1).replace("%s", "$2", 1)
            conn.execute(f"PREPARE many(uuid[], bigint[]) AS {text}")
            plan = "\n".join(
                row["QUERY PLAN"]
                for row in conn.execute(
                    f"EXPLAIN (COSTS OFF) EXECUTE many('{{{uuid4()},{uuid4()}}}', '{{0,0}}')"
                )
            )
        assert "using orderhub_events_pkey" in plan and "Seq Scan" not in plan, plan
    finally:
        store.close()


def test_stores_started_together_on_a_new_database_all_start(
    database_url: str, tmp_path: Path
) -> None:
    """The hub's processes start together: their creates of the table and functions take turns
    (two `CREATE OR REPLACE FUNCTION` at once failed one with "tuple concurrently updated")."""

    def start(_: int) -> None:
        OrderStore(env=_env(database_url, tmp_path)).close()

    for _ in range(3):  # the first on the new database, then with the tables there
        with ThreadPoolExecutor(8) as pool:
            list(pool.map(start, range(8)))


def test_a_save_does_not_wait_for_vacuum_or_analyze(database_url: str, tmp_path: Path) -> None:
    """(Auto)vacuum and ANALYZE hold SHARE UPDATE EXCLUSIVE on the table: a save goes on beside
    them. Behind the library's EXCLUSIVE table lock every save queued for autovacuum until
    PostgreSQL cancelled it, a deadlock_timeout (1 s) later (the acknowledged orders of that
    moment stored ~1 s late)."""
    store = OrderStore(env=_env(database_url, tmp_path))
    try:
        recorder = store.recorder
        assert isinstance(recorder, HubRecorder)
        recorder.insert_events(_events(1, 10))
        with psycopg.connect(database_url) as vacuum, ThreadPoolExecutor(1) as pool:
            vacuum.execute("LOCK TABLE orderhub_events IN SHARE UPDATE EXCLUSIVE MODE")
            try:
                saving = pool.submit(recorder.insert_events, _events(2, 10))
                assert saving.result(timeout=5) == [2, 3]
            finally:
                vacuum.rollback()
    finally:
        store.close()


@pytest.mark.parametrize("first", ["library", "hub"])
def test_saves_take_turns_with_an_earlier_release_s_pipeline(
    database_url: str, tmp_path: Path, first: str
) -> None:
    """During an upgrade, processes of an earlier release save by the library's pipeline
    (`LOCK TABLE ... IN EXCLUSIVE MODE`): a save by the function and one by the pipeline still
    wait for each other, and the ids stay in commit order."""
    store = OrderStore(env=_env(database_url, tmp_path))
    try:
        recorder = store.recorder
        assert isinstance(recorder, HubRecorder)
        library = _library_recorder(store)
        recorder.insert_events(_events(1, 10))
        held, second = _events(2, 10), _events(2, 10)
        waiter = library.insert_events if first == "hub" else recorder.insert_events
        with psycopg.connect(database_url) as holder, ThreadPoolExecutor(1) as pool:
            if first == "library":
                holder.execute("LOCK TABLE orderhub_events IN EXCLUSIVE MODE")
                holder.execute(
                    "INSERT INTO orderhub_events (originator_id, originator_version, topic, state)"
                    " SELECT * FROM unnest(%s::uuid[], %s::bigint[], %s::text[], %s::bytea[])",
                    [
                        [e.originator_id for e in held],
                        [e.originator_version for e in held],
                        [e.topic for e in held],
                        [e.state for e in held],
                    ],
                )
            else:
                save_on(holder, recorder, held)
            waiting = pool.submit(waiter, second)
            time.sleep(0.5)
            assert not waiting.done()  # behind the save not yet committed
            holder.commit()
            ids = waiting.result(timeout=10)
        assert ids == [4, 5]
        stored = recorder.select_notifications(start=None, limit=10)
        assert [n.originator_id for n in stored[1:]] == [e.originator_id for e in held + second]
    finally:
        store.close()
