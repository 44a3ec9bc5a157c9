"""Rebuilding a projection from the start of history gives the same rows as the live one.

A varied live history (the demo's orders, then holds released, re-routes, a rejected
shipment, shipments, a cancellation, exceptions assigned and resolved, jeopardy ticks as the
clock moves) runs on the embedded hub, on SQLite and on PostgreSQL. Every envelope in the store
is then replayed into fresh views — in memory, and in a fresh database (a new SQLite file, a new
PostgreSQL schema) — in batches of several sizes, and every row is compared with the live
views': order status (search everything), exceptions (the whole queue), the audit trail of
every order, stock levels (search everything).
"""

from collections.abc import Iterator
from itertools import count
from pathlib import Path
from typing import Any
from urllib.parse import quote

import psycopg
import pytest

from hub.bootstrap import Hub
from projections.audit_trail import InMemoryAuditTrail, SqlAuditTrail
from projections.exceptions import ExceptionQuery, InMemoryExceptionQueue, SqlExceptionQueue
from projections.order_query import OrderQuery
from projections.order_status import InMemoryOrderStatusView, SqlOrderStatusView
from projections.sqldb import SqlDatabase
from projections.stock_levels import InMemoryStockLevels, SqlStockLevels
from schemas.envelope import EventEnvelope
from schemas.event_types import EventType
from tests.contracts.order_search_contract import live_history
from tests.harness.services import create_database, drop_database
from tests.support.running_hub import Clock, embedded_hub

pytestmark = pytest.mark.e2e
STREAM = "notification_log"  # the embedded delivery's stream name


class Live:
    """A hub after the live history, with its log and a source of fresh databases."""

    def __init__(self, hub: Hub, fresh_url: Any) -> None:
        self.hub = hub
        self.fresh_url = fresh_url
        self.log = hub.store.read_envelopes(None, 1_000_000)
        assert self.log[-1][0] == hub.store.max_position(), "the whole log was read"
        self.order_ids = sorted(
            {env.subject for _, env in self.log if env.type == EventType.ORDER_PLACED}
        )


@pytest.fixture(
    scope="module",
    params=["sqlite", pytest.param("postgres", marks=pytest.mark.postgres)],
)
def live(
    request: pytest.FixtureRequest, tmp_path_factory: pytest.TempPathFactory
) -> Iterator[Live]:
    data_dir = tmp_path_factory.mktemp(request.param)
    numbers = count()
    if request.param == "sqlite":
        server = url = None

        def fresh_url() -> str:
            return f"sqlite:///{data_dir / f'rebuilt-{next(numbers)}.sqlite3'}"

    else:
        server = request.getfixturevalue("postgres_server_url")
        url = create_database(server)

        def fresh_url() -> str:
            schema = f"rebuilt_{next(numbers)}"
            with psycopg.connect(url, autocommit=True) as conn:
                conn.execute(f'CREATE SCHEMA "{schema}"')
            return f"{url}?options={quote(f'-csearch_path={schema}')}"

    clock = Clock()
    hub = embedded_hub(Path(data_dir), clock, database_url=url)
    try:
        assert hub.settings.views_url() == (url or f"sqlite:///{data_dir / 'views.sqlite3'}")
        live_history(hub, clock)
        yield Live(hub, fresh_url)
    finally:
        hub.close()
        if server is not None and url is not None:
            drop_database(server, url)


def replay(views: list[Any], log: list[tuple[int, EventEnvelope]], size: int) -> None:
    for start in range(0, len(log), size):
        batch = log[start : start + size]
        for view in views:
            view.apply([env for _, env in batch], {STREAM: batch[-1][0]})


def snapshot(live: Live, order_status: Any, exceptions: Any, audit: Any, stock: Any) -> dict:
    return {
        "orders": order_status.search(OrderQuery(limit=100_000)).rows,
        "orders by update": order_status.search(
            OrderQuery(sort="updated_at", descending=False, limit=100_000)
        ).rows,
        "exceptions": exceptions.queue(ExceptionQuery(state="all", limit=100_000)).rows,
        "trails": {order_id: audit.trail(order_id) for order_id in live.order_ids},
        "stock": stock.search(limit=100_000).rows,
    }


def live_snapshot(live: Live) -> dict:
    hub = live.hub
    return snapshot(live, hub.order_status, hub.exceptions, hub.audit, hub.stock_levels)


def assert_same(rebuilt: dict, expected: dict) -> None:
    assert len(expected["orders"]) == 67
    assert len(expected["exceptions"]) > 40
    assert sum(len(t) for t in expected["trails"].values()) > 400
    assert len(expected["stock"]) >= 10
    for name, rows in expected.items():
        assert rebuilt[name] == rows, name


def test_the_live_views_caught_up_with_the_whole_log(live: Live) -> None:
    end = live.log[-1][0]
    hub = live.hub

    for view in (hub.order_status, hub.exceptions, hub.audit, hub.stock_levels):
        assert view.positions() == {STREAM: end}, view.name


def test_a_replay_into_memory_one_event_at_a_time_gives_the_same_rows(live: Live) -> None:
    views = [
        InMemoryOrderStatusView(),
        InMemoryExceptionQueue(),
        InMemoryAuditTrail(),
        InMemoryStockLevels(),
    ]

    replay(views, live.log, 1)

    assert_same(snapshot(live, *views), live_snapshot(live))


@pytest.mark.parametrize("size", [17, 500])
def test_a_replay_into_a_fresh_database_gives_the_same_rows(live: Live, size: int) -> None:
    db = SqlDatabase(live.fresh_url(), pool_size=1)
    try:
        views = [
            SqlOrderStatusView(db),
            SqlExceptionQueue(db),
            SqlAuditTrail(db),
            SqlStockLevels(db),
        ]

        replay(views, live.log, size)

        assert_same(snapshot(live, *views), live_snapshot(live))
        assert all(view.positions() == {STREAM: live.log[-1][0]} for view in views)
    finally:
        db.close()


def test_a_replay_with_every_batch_delivered_twice_gives_the_same_rows(live: Live) -> None:
    views = [
        InMemoryOrderStatusView(),
        InMemoryExceptionQueue(),
        InMemoryAuditTrail(),
        InMemoryStockLevels(),
    ]
    for start in range(0, len(live.log), 50):
        batch = [env for _, env in live.log[max(0, start - 25) : start + 50]]
        for view in views:
            view.apply(batch, {STREAM: start})

    assert_same(snapshot(live, *views), live_snapshot(live))


def test_resetting_the_live_views_and_delivering_again_rebuilds_them(live: Live) -> None:
    hub = live.hub
    before = live_snapshot(live)
    views = (hub.order_status, hub.exceptions, hub.audit, hub.stock_levels)
    for view in views:
        view.reset()
    assert hub.order_status.search(OrderQuery()).rows == []

    hub.deliver()

    assert_same(live_snapshot(live), before)
    assert hub.store.max_position() == live.log[-1][0], "a rebuild records nothing"
