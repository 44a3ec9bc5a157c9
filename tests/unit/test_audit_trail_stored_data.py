"""The audit trail that keeps no copy of its order events' data: it reads it from the store.

The whole contract runs against a SQLite view whose order lines keep no copy, with the event
store played by what the view was given (the store records an event before any view sees it).
"""

from collections.abc import Iterator, Sequence
from pathlib import Path
from typing import Any

import pytest

from projections.audit_trail import NOT_COPIED, SqlAuditTrail, data_text
from projections.sqldb import SqlDatabase
from schemas.envelope import EventEnvelope
from schemas.event_types import EventFamily
from tests.contracts.audit_trail_contract import (
    STREAM,
    AuditTrailContract,
    MakeView,
    envelopes,
    full_order,
)
from tests.support.views import sqlite_views


class FakeStore:
    """The events' data by aggregate id and version, as the event store would give it."""

    def __init__(self) -> None:
        self.data: dict[str, dict[int, dict[str, Any]]] = {}
        self.reads: list[str] = []

    def record(self, history: Sequence[EventEnvelope]) -> None:
        for env in history:
            self.data.setdefault(env.subject, {})[env.sequence] = env.data

    def event_data(self, aggregate_id: str) -> dict[int, dict[str, Any]]:
        self.reads.append(aggregate_id)
        return self.data.get(aggregate_id, {})


class StoreBackedTrail(SqlAuditTrail):
    def __init__(self, db: SqlDatabase, store: FakeStore | None = None) -> None:
        self.store = store or FakeStore()
        super().__init__(db, stored_data=self.store.event_data)

    def apply(self, envelopes: Sequence[EventEnvelope], positions: dict[str, int]) -> None:
        self.store.record(envelopes)
        super().apply(envelopes, positions)


class TestSqliteAuditTrailWithoutCopies(AuditTrailContract):
    @pytest.fixture
    def make_view(self, tmp_path: Path) -> Iterator[MakeView]:
        yield from sqlite_views(tmp_path, StoreBackedTrail)


def stored_data_column(db: SqlDatabase) -> dict[str, str]:
    with db.transaction() as cur:
        cur.execute("SELECT type, data FROM audit_trail")
        return {str(t): str(d) for t, d in cur.fetchall()}


@pytest.fixture
def db(tmp_path: Path) -> Iterator[SqlDatabase]:
    database = SqlDatabase(f"sqlite:///{tmp_path}/views.db")
    yield database
    database.close()


def test_order_lines_keep_no_copy_and_read_the_same_as_copied_ones(
    db: SqlDatabase, tmp_path: Path
) -> None:
    history = envelopes(full_order())
    copied_db = SqlDatabase(f"sqlite:///{tmp_path}/copied.db")
    try:
        copied = SqlAuditTrail(copied_db)
        copied.apply(history, {STREAM: len(history)})
        view = StoreBackedTrail(db)

        view.apply(history, {STREAM: len(history)})

        order_id = history[0].subject
        assert view.trail(order_id) == copied.trail(order_id)
        assert all(line.data != NOT_COPIED for line in view.trail(order_id))
        kept = stored_data_column(db)
        assert kept and all(
            data == NOT_COPIED for t, data in kept.items() if t.startswith(EventFamily.ORDER)
        )
    finally:
        copied_db.close()


def test_lines_an_earlier_release_copied_read_as_they_were_without_the_store(
    db: SqlDatabase,
) -> None:
    history = envelopes(full_order())
    SqlAuditTrail(db).apply(history, {STREAM: len(history)})  # every line with its copy
    store = FakeStore()  # knows nothing: the copies must be what is read
    view = StoreBackedTrail(db, store)

    lines = view.trail(history[0].subject)

    assert [line.data for line in lines] == [data_text(env.data) for env in history]
    assert store.reads == []


def test_a_line_whose_event_the_store_lacks_reads_as_empty_data_not_an_error(
    db: SqlDatabase,
) -> None:
    history = envelopes(full_order())
    view = StoreBackedTrail(db)
    view.apply(history, {STREAM: len(history)})
    view.store.data.clear()

    lines = view.trail(history[0].subject)

    assert [line.data for line in lines] == ["{}"] * len(history)
    assert [line.summary for line in lines] != []
