"""The console session store on both engines it runs on: SQLite (embedded) and PostgreSQL
(distributed, where every API instance must see a session another one opened or closed)."""

from collections.abc import Callable, Iterator
from datetime import datetime, timedelta
from pathlib import Path

import pytest

from hub.services.sessions import ConsoleSessions, Session
from projections.sqldb import SqlDatabase
from tests.contracts.factories import NOW


class Clock:
    def __init__(self) -> None:
        self.now = NOW

    def __call__(self) -> datetime:
        return self.now


MakeStore = Callable[[], ConsoleSessions]


@pytest.fixture(params=["sqlite", pytest.param("postgres", marks=pytest.mark.postgres)])
def url(request: pytest.FixtureRequest, tmp_path: Path) -> str:
    if request.param == "sqlite":
        return f"sqlite:///{tmp_path / 'views.sqlite3'}"
    return str(request.getfixturevalue("database_url"))


@pytest.fixture
def clock() -> Clock:
    return Clock()


@pytest.fixture
def make_store(url: str, clock: Clock) -> Iterator[MakeStore]:
    """Each call is another process (an API instance) on the same database."""
    opened: list[SqlDatabase] = []

    def make() -> ConsoleSessions:
        db = SqlDatabase(url)
        opened.append(db)
        return ConsoleSessions(db, clock, idle=timedelta(minutes=30), lifetime=timedelta(hours=8))

    yield make
    for db in opened:
        db.close()


def test_a_session_opened_on_one_instance_is_known_to_another_until_closed_there(
    make_store: MakeStore,
) -> None:
    one, two = make_store(), make_store()

    token = one.open("0123456789ab", "ab" * 32)

    assert two.resolve(token) == Session(key_id="0123456789ab", credential="ab" * 32)
    two.close(token)
    assert one.resolve(token) is None


def test_unknown_ids_resolve_to_nothing(make_store: MakeStore) -> None:
    store = make_store()
    store.open("0123456789ab", "ab" * 32)

    assert store.resolve("") is None
    assert store.resolve("x" * 43) is None
    assert store.resolve("\x00'; DROP TABLE orderhub_console_sessions; --") is None
    assert store.count() == 1


def test_idle_and_lifetime_end_sessions_and_ended_ones_are_cleared(
    make_store: MakeStore, clock: Clock
) -> None:
    store = make_store()
    idle = store.open("0123456789ab", "ab" * 32)
    used = store.open("0123456789ab", "ab" * 32)

    for _ in range(23):  # 7 h 40 min, used every 20 minutes
        clock.now += timedelta(minutes=20)
        assert store.resolve(used) is not None
    assert store.resolve(idle) is None
    clock.now += timedelta(minutes=20)  # 8 h after sign-in
    assert store.resolve(used) is None
    store.open("ba9876543210", "cd" * 32)
    assert store.count() == 1


def test_closing_a_keys_sessions_leaves_other_keys_sessions(make_store: MakeStore) -> None:
    store = make_store()
    mine = [store.open("0123456789ab", "ab" * 32) for _ in range(3)]
    theirs = store.open("ba9876543210", "cd" * 32)

    make_store().close_for_key("0123456789ab")

    assert [store.resolve(t) for t in mine] == [None, None, None]
    assert store.resolve(theirs) is not None


def test_only_a_hash_of_the_session_id_is_stored(make_store: MakeStore, url: str) -> None:
    store = make_store()
    token = store.open("0123456789ab", "ab" * 32)

    db = SqlDatabase(url)
    try:
        with db.transaction() as cur:
            cur.execute("SELECT token_sha256, key_id FROM orderhub_console_sessions")
            rows = cur.fetchall()
    finally:
        db.close()
    assert len(rows) == 1 and token not in rows[0][0] and rows[0][1] == "0123456789ab"
