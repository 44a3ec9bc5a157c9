"""The views lane hands each SQL view the events of the types it declares (`event_types`) and
decodes no others: a view must come out the same as when it is handed every event."""

from collections.abc import Callable
from pathlib import Path

import pytest

from projections.audit_trail import SqlAuditTrail
from projections.base import SqlView
from projections.exceptions import SqlExceptionQueue
from projections.order_status import SqlOrderStatusView
from projections.rejected_submissions import SqlRejectedSubmissionsView
from projections.sqldb import SqlDatabase
from projections.stock_levels import SqlStockLevels
from schemas.envelope import EventEnvelope
from schemas.event_types import EventType
from tests.unit.test_views_write_paths import _batches, _history

VIEWS: dict[str, Callable[[SqlDatabase], SqlView]] = {
    "order_status": SqlOrderStatusView,
    "rejected_submissions": SqlRejectedSubmissionsView,
    "exceptions": SqlExceptionQueue,
    "audit_trail": SqlAuditTrail,
    "stock_levels": SqlStockLevels,
}


@pytest.fixture(params=["release", "generated"], scope="module")
def history(
    request: pytest.FixtureRequest, tmp_path_factory: pytest.TempPathFactory
) -> list[tuple[int, EventEnvelope]]:
    return _history(tmp_path_factory.mktemp(request.param), request.param)


def _everything(db: SqlDatabase) -> dict[str, list[tuple[object, ...]]]:
    with db.transaction() as cur:
        cur.execute("SELECT name FROM sqlite_master WHERE type = 'table'")
        tables = sorted(name for (name,) in cur.fetchall())
        found = {}
        for table in tables:
            cur.execute(f"SELECT * FROM {table}")
            found[table] = sorted(tuple(r) for r in cur.fetchall())
        return found


@pytest.mark.parametrize("name", sorted(VIEWS))
@pytest.mark.parametrize("size", [1, 500])
def test_a_view_handed_only_its_declared_types_holds_what_every_event_gives(
    history: list[tuple[int, EventEnvelope]], tmp_path: Path, name: str, size: int
) -> None:
    every_db = SqlDatabase(f"sqlite:///{tmp_path}/every")
    only_db = SqlDatabase(f"sqlite:///{tmp_path}/only")
    every, only = VIEWS[name](every_db), VIEWS[name](only_db)
    declared: frozenset[str] = getattr(only, "event_types")  # noqa: B009 - checked here
    assert declared and declared < set(EventType), "declares a part of the vocabulary"

    for envelopes, positions in _batches(history, size):
        every.apply(envelopes, positions)
        only.apply([env for env in envelopes if env.type in declared], positions)

    assert _everything(only_db) == _everything(every_db)


def test_the_history_holds_events_that_no_view_of_the_lane_reads(
    history: list[tuple[int, EventEnvelope]],
) -> None:
    read = set().union(*(getattr(view, "event_types") for view in VIEWS.values()))  # noqa: B009
    types = {env.type for _, env in history}
    assert types - read, "decision inputs at least: skipped, never decoded for the views"
    assert EventType.ORDER_PLACED in types & read
