"""The SQL views' cheaper writes keep the same contents as the writes they replaced, on the
same events: the order status view's child tables (only what differs written) against the
delete-and-insert of every key, and the stock view's rows (read by SKU) against the pure fold."""

import shutil
from collections.abc import Iterator, Sequence
from datetime import timedelta
from pathlib import Path

import pytest

from aggregates.order import Order
from benchmarks.projection_events import record_history
from benchmarks.route_profile import NOW
from hub.bootstrap import bootstrap
from hub.services.intake import submission_digest
from hub.settings import Settings
from hub.store import OrderStore
from projections.base import SqlView
from projections.order_query import CHILD_TABLES
from projections.order_status import _COLUMNS, OrderStatusRow, SqlOrderStatusView
from projections.order_status import _to_params as status_params
from projections.sqldb import Cursor, SqlDatabase
from projections.stock_levels import InMemoryStockLevels, SqlStockLevels
from schemas.envelope import EventEnvelope
from schemas.event_types import EventType
from schemas.submission import OrderSubmission

RELEASE = Path(__file__).parents[1] / "fixtures" / "release_2026_12"
TABLES = ("order_status", *CHILD_TABLES)


class DeleteAndInsertOrderStatus(SqlOrderStatusView):
    """The view's write as it was: every changed order's child rows deleted and inserted."""

    def _save(
        self, cur: Cursor, rows: list[OrderStatusRow], before: dict[str, OrderStatusRow]
    ) -> None:
        stored = [*_COLUMNS, "external_key"]
        updates = ", ".join(f"{c} = excluded.{c}" for c in stored if c != "order_id")
        cur.executemany(
            f"INSERT INTO order_status ({', '.join(stored)}) "
            f"VALUES ({', '.join('?' for _ in stored)}) "
            f"ON CONFLICT (order_id) DO UPDATE SET {updates} "
            "WHERE excluded.version > order_status.version",
            [status_params(row) for row in rows],
        )
        for table, attribute in (
            ("order_status_skus", "skus"),
            ("order_status_sources", "sources"),
        ):
            cur.executemany(
                f"DELETE FROM {table} WHERE order_id = ?", [(row.order_id,) for row in rows]
            )
            cur.executemany(
                f"INSERT INTO {table} VALUES (?, ?, ?, ?, ?)",
                [
                    (key, row.placed_at, row.order_id, row.updated_at, row.status)
                    for row in rows
                    for key in getattr(row, attribute)
                ],
            )


def _history(tmp_path: Path, which: str) -> list[tuple[int, EventEnvelope]]:
    if which == "release":
        shutil.copy(RELEASE / "events.sqlite3", tmp_path / "events.sqlite3")
        store = OrderStore(env=Settings(data_dir=tmp_path).eventsourcing_env())
        try:
            return store.read_envelopes(None, 1_000_000)
        finally:
            store.close()
    hub = bootstrap(Settings(data_dir=tmp_path), clock=lambda: NOW)
    try:
        record_history(hub, orders=40, sources=12, skus=150)
        _change_some_orders(hub.store)
        return hub.store.read_envelopes(None, 1_000_000)
    finally:
        hub.close()


def _change_some_orders(store: OrderStore) -> None:
    """Orders that lose SKUs and gain others (changed before anything shipped)."""
    placed = [
        n.originator_id
        for n in store.recorder.select_notifications(start=None, limit=1_000_000)
        if n.topic.endswith("Order.Placed")
    ]
    for order_id in placed[1:5]:  # every fifth order shipped (the first among them)
        order: Order = store.repository.get(order_id)
        data = order.submission.model_dump(mode="json")
        data["lines"] = [{**data["lines"][0], "line_id": "9", "sku": "SKU-CHANGED"}]
        revised = OrderSubmission.model_validate(data)
        order.change(
            submission=revised,
            digest=submission_digest(revised),
            raw_payload=revised.model_dump_json(),
            actor="user:ada",
            now=NOW + timedelta(hours=3),
        )
        store.save(order)


@pytest.fixture(params=["release", "generated"], scope="module")
def history(
    request: pytest.FixtureRequest, tmp_path_factory: pytest.TempPathFactory
) -> list[tuple[int, EventEnvelope]]:
    return _history(tmp_path_factory.mktemp(request.param), request.param)


def _batches(
    history: Sequence[tuple[int, EventEnvelope]], size: int
) -> Iterator[tuple[list[EventEnvelope], dict[str, int]]]:
    for start in range(0, len(history), size):
        batch = history[start : start + size]
        yield [env for _, env in batch], {"notification_log": batch[-1][0]}


def apply_both(history: Sequence[tuple[int, EventEnvelope]], size: int, *views: SqlView) -> None:
    """The same batches to each view, in turn."""
    for envelopes, positions in _batches(history, size):
        for view in views:
            view.apply(envelopes, positions)


def _contents(db: SqlDatabase, tables: Sequence[str]) -> dict[str, list[tuple[object, ...]]]:
    with db.transaction() as cur:
        found = {}
        for table in tables:
            cur.execute(f"SELECT * FROM {table}")
            found[table] = sorted(tuple(r) for r in cur.fetchall())
        return found


@pytest.mark.parametrize("size", [1, 7, 500])
def test_the_order_status_tables_hold_what_the_old_write_wrote(
    history: list[tuple[int, EventEnvelope]], tmp_path: Path, size: int
) -> None:
    new_db = SqlDatabase(f"sqlite:///{tmp_path}/new")
    old_db = SqlDatabase(f"sqlite:///{tmp_path}/old")
    apply_both(history, size, SqlOrderStatusView(new_db), DeleteAndInsertOrderStatus(old_db))
    contents = _contents(new_db, TABLES)
    assert contents == _contents(old_db, TABLES)
    assert len(contents["order_status"]) >= 10
    # Keys that an order gained or lost along the way (a source asked, then another) and
    # statuses that moved were all written through.
    assert len(contents["order_status_sources"]) >= 5
    statuses = {row[4] for row in contents["order_status_skus"]}
    assert len(statuses) >= 3
    if history[-1][1].type == EventType.ORDER_CHANGED:  # the generated history
        assert sum(row[0] == "SKU-CHANGED" for row in contents["order_status_skus"]) == 4


def test_the_stock_rows_read_by_sku_are_the_pure_folds(
    history: list[tuple[int, EventEnvelope]], tmp_path: Path
) -> None:
    db = SqlDatabase(f"sqlite:///{tmp_path}/views")
    sql, memory = SqlStockLevels(db), InMemoryStockLevels()
    for envelopes, positions in _batches(history, 37):
        sql.apply(envelopes, positions)
        memory.apply(envelopes, positions)

    everything = memory.search(limit=1_000_000).rows
    assert everything and sql.search(limit=1_000_000).rows == everything
