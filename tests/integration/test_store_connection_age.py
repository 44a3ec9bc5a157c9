"""The event store's PostgreSQL connections are replaced after their maximum age, so that the
buffers libpq keeps as large as the largest statement or result a connection has carried are
given back (benchmarks/README.md, soak25)."""

import time
from pathlib import Path

import pytest

from hub.settings import Settings
from hub.store import OrderStore


def backends(store: OrderStore, checkouts: int) -> set[int]:
    """The server processes behind `checkouts` checkouts of the store's connections."""
    seen = set()
    for _ in range(checkouts):
        with store.recorder.datastore.get_connection() as conn:
            row = conn.execute("SELECT pg_backend_pid() AS pid").fetchone()
            assert row is not None
            seen.add(int(row["pid"]))
    return seen


@pytest.mark.postgres
def test_the_stores_connections_are_replaced_after_their_age(
    database_url: str, tmp_path: Path
) -> None:
    settings = Settings(
        data_dir=tmp_path, database_url=database_url, store_connection_max_age_seconds=1.0
    )
    assert settings.eventsourcing_env()["POSTGRES_CONN_MAX_AGE"] == "1.0"
    store = OrderStore(env=settings.eventsourcing_env())
    try:
        first = backends(store, 12)
        time.sleep(1.5)  # every connection past its age: each is closed as it comes back
        backends(store, 12)
        time.sleep(0.5)  # the pool's replacements made meanwhile
        later = backends(store, 12)
    finally:
        store.close()

    assert first and later
    assert not first & later, "a connection outlived its maximum age"


def test_the_default_age_is_ten_minutes(tmp_path: Path) -> None:
    settings = Settings(data_dir=tmp_path, database_url="postgresql://u:p@127.0.0.1/db")
    assert float(settings.eventsourcing_env()["POSTGRES_CONN_MAX_AGE"]) == 600.0
