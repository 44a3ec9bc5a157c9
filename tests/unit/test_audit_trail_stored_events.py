"""The audit trail whose order lines come from the event store: the view keeps no line of an
order's own events, only the exception cases' ones, and reads the same as a trail that keeps
them all.

The whole contract runs against a SQLite view whose order lines are the store's, with the event
store played by what the view was given (the store records an event before any view sees it).
"""

from collections.abc import Iterator, Sequence
from pathlib import Path

import pytest

from projections.audit_trail import SqlAuditTrail, _params, entry_for
from projections.sqldb import SqlDatabase
from schemas.envelope import EventEnvelope
from schemas.event_types import EventFamily
from tests.contracts.audit_trail_contract import (
    STREAM,
    AuditTrailContract,
    MakeView,
    envelopes,
    exception_case,
    full_order,
)
from tests.support.views import sqlite_views


class FakeStore:
    """Each aggregate's events by version, as the event store would give them."""

    def __init__(self) -> None:
        self.events: dict[str, dict[int, EventEnvelope]] = {}
        self.reads: list[str] = []

    def record(self, history: Sequence[EventEnvelope]) -> None:
        for env in history:
            if env.type.startswith(EventFamily.ORDER):
                self.events.setdefault(env.subject, {})[env.sequence] = env

    def events_of(self, aggregate_id: str) -> list[EventEnvelope]:
        self.reads.append(aggregate_id)
        found = self.events.get(aggregate_id, {})
        return [found[version] for version in sorted(found)]


class StoreBackedTrail(SqlAuditTrail):
    def __init__(self, db: SqlDatabase, store: FakeStore | None = None) -> None:
        self.store = store or FakeStore()
        super().__init__(db, stored_events=self.store.events_of)

    def apply(self, envelopes: Sequence[EventEnvelope], positions: dict[str, int]) -> None:
        self.store.record(envelopes)
        super().apply(envelopes, positions)

    def reset(self) -> None:
        # The contract's reset forgets every line: here the store stands for what the view was
        # given, so it forgets too (the hub's store keeps its events: see the test below).
        self.store.events.clear()
        super().reset()


class TestSqliteAuditTrailFromTheStore(AuditTrailContract):
    @pytest.fixture
    def make_view(self, tmp_path: Path) -> Iterator[MakeView]:
        yield from sqlite_views(tmp_path, StoreBackedTrail)


def kept_types(db: SqlDatabase) -> list[str]:
    with db.transaction() as cur:
        cur.execute("SELECT type FROM audit_trail")
        return sorted(str(t) for (t,) in cur.fetchall())


@pytest.fixture
def db(tmp_path: Path) -> Iterator[SqlDatabase]:
    database = SqlDatabase(f"sqlite:///{tmp_path}/views.db")
    yield database
    database.close()


def test_order_lines_are_not_kept_and_read_the_same_as_kept_ones(
    db: SqlDatabase, tmp_path: Path
) -> None:
    order = full_order()
    history = envelopes(order)
    order_id = history[0].subject
    cases = envelopes(exception_case(order_id, "EXC-7"))
    kept_db = SqlDatabase(f"sqlite:///{tmp_path}/kept.db")
    try:
        kept = SqlAuditTrail(kept_db)
        kept.apply([*history, *cases], {STREAM: len(history) + len(cases)})
        view = StoreBackedTrail(db)

        view.apply([*history, *cases], {STREAM: len(history) + len(cases)})

        assert view.trail(order_id) == kept.trail(order_id)
        assert len(view.trail(order_id)) == len(history) + len(cases)
        assert kept_types(db) == sorted(env.type for env in cases)
    finally:
        kept_db.close()


def test_with_the_store_the_view_is_handed_the_exception_cases_only(db: SqlDatabase) -> None:
    view = StoreBackedTrail(db)

    assert view.event_types
    assert all(t.startswith(EventFamily.EXCEPTION_CASE) for t in view.event_types)
    assert any(t.startswith(EventFamily.ORDER) for t in SqlAuditTrail(db).event_types)


@pytest.mark.parametrize("copied", [True, False])
def test_lines_an_earlier_release_kept_give_way_to_the_stores(
    db: SqlDatabase, copied: bool
) -> None:
    history = envelopes(full_order())
    order_id = history[0].subject
    earlier = [entry_for(env) for env in history]
    SqlAuditTrail(db)
    with db.transaction() as cur:  # as the two earlier releases wrote them: with or without data
        cur.executemany(
            "INSERT INTO audit_trail VALUES (?, ?, ?, ?, ?, ?, ?, ?, ?)",
            [_params(e) if copied else (*_params(e)[:-1], "") for e in earlier if e is not None],
        )
    view = StoreBackedTrail(db)
    view.store.record(history)

    lines = view.trail(order_id)

    assert lines == earlier
    assert view.store.reads == [order_id]


def applied(db: SqlDatabase) -> tuple[StoreBackedTrail, list[EventEnvelope], list[EventEnvelope]]:
    """A view given an order's whole history and an exception case about it."""
    history = envelopes(full_order())
    cases = envelopes(exception_case(history[0].subject, "EXC-8"))
    view = StoreBackedTrail(db)
    view.apply([*history, *cases], {STREAM: 10})
    return view, history, cases


def test_a_redelivered_history_changes_nothing_kept(db: SqlDatabase) -> None:
    view, history, cases = applied(db)
    first = view.trail(history[0].subject)

    view.apply([*cases, *history], {STREAM: 10})

    assert view.trail(history[0].subject) == first
    assert kept_types(db) == sorted(env.type for env in cases)


def test_after_a_reset_the_order_lines_are_still_the_stores_and_a_replay_brings_the_cases(
    db: SqlDatabase,
) -> None:
    view, history, cases = applied(db)
    order_id = history[0].subject
    whole = view.trail(order_id)

    SqlAuditTrail.reset(view)  # the view's rows only: the event store keeps its events

    assert [line.event_id for line in view.trail(order_id)] == [env.id for env in history]
    view.apply([*history, *cases], {STREAM: 10})
    assert view.trail(order_id) == whole
