"""The embedded event store's SQLite connections keep a statement cache (the library opens
them with a cache of one statement), and are otherwise the library's: WAL mode, rows by name,
everything saved and read back as before."""

import sqlite3
from pathlib import Path
from typing import Any

import pytest
from eventsourcing.sqlite import SQLiteConnectionPool

import hub.sqlite_statements as statements
from aggregates.stock import StockItem
from benchmarks.route_profile import NOW
from hub.bootstrap import bootstrap
from hub.settings import Settings
from hub.sqlite_statements import StatementCachingPool, cache_statements


def test_the_store_connects_with_a_statement_cache_and_works_as_before(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    made: dict[int, Any] = {}  # the statement cache each connection to the events was given
    connect = sqlite3.connect

    def recorded(*args: Any, **kwargs: Any) -> sqlite3.Connection:
        conn = connect(*args, **kwargs)
        if str(kwargs.get("database", "")).endswith("events.sqlite3"):  # not the views' file
            made[id(conn)] = kwargs["cached_statements"]
        return conn

    monkeypatch.setattr(statements.sqlite3, "connect", recorded)
    hub = bootstrap(Settings(data_dir=tmp_path), clock=lambda: NOW)
    try:
        datastore = hub.store.recorder.datastore  # type: ignore[attr-defined]
        assert isinstance(datastore.pool, StatementCachingPool)
        item = StockItem(source_id="wh-lyon", sku="RED-CHAIR", on_hand=5, safety_stock=0, at=NOW)
        hub.store.save(item)
        item.adjust(3, at=NOW, reason="receipt")
        hub.store.save(item)
        loaded = hub.store.repository.get(item.id)
        assert isinstance(loaded, StockItem) and loaded.on_hand == 8
        for commit in (False, True):
            with datastore.get_connection(commit=commit) as conn:
                assert made[id(conn._sqlite_conn)] == 128
                cur = conn.cursor()
                cur.execute("PRAGMA journal_mode;")
                assert cur.fetchone()[0].lower() == "wal"
    finally:
        hub.close()


def test_an_in_memory_database_keeps_the_librarys_pool() -> None:
    """Its data lives as long as its connections: replacing the pool would drop it."""

    class Memory:
        pool = SQLiteConnectionPool(db_name="file:statements?mode=memory&cache=shared")

    datastore: Any = Memory()
    kept = datastore.pool
    cache_statements(datastore)
    assert datastore.pool is kept
