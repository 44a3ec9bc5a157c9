"""Review of the operations read models and console (e43644c..HEAD): each test shows one defect
and is expected to fail until it is fixed."""

import sqlite3
from collections.abc import Iterator
from contextlib import closing
from datetime import timedelta
from pathlib import Path
from typing import Any
from uuid import UUID

import pytest

from hub.api.app import create_app
from hub.bootstrap import Hub, bootstrap
from hub.services.intake import RejectSubmission
from hub.settings import Settings
from projections import exceptions as exceptions_module
from projections import order_status as order_status_module
from projections.base import NewerViewError
from projections.exceptions import ExceptionQuery
from schemas.channels import ChannelDefinition, IssueKey, Role
from schemas.fulfillment import FulfillmentUpdate, UpdateKind
from schemas.submission import OrderSubmission
from tests.contracts.factories import NOW, submission_dict
from tests.contracts.order_search_contract import LYON, record_all
from tests.integration.embedded.test_ops_actions import place
from tests.support.running_hub import Clock, asgi_client, embedded_hub, serving, stock_up

ALICE = "user:alice"
SOURCES = {
    "wh-lyon": (45.75, 4.85, {"RED-CHAIR": 50, "BLUE-LAMP": 50}),
    "wh-paris": (48.86, 2.35, {"RED-CHAIR": 50, "BLUE-LAMP": 50}),
}


@pytest.fixture
def hub(tmp_path: Path, clock: Clock) -> Iterator[Hub]:
    with closing(embedded_hub(tmp_path / "hub", clock)) as hub:
        stock_up(hub, SOURCES)
        yield hub


def open_exceptions(hub: Hub, order_id: UUID) -> list[tuple[str, str]]:
    rows = hub.exceptions.queue(ExceptionQuery(order_id=str(order_id), state="open")).rows
    return sorted((r.kind, r.reason) for r in rows)


# -- 1. the jeopardy clock flags from a stale view: a shipped order stays "late" for ever --------


def test_a_flag_raised_from_a_stale_view_does_not_stay_open_after_the_order_shipped(
    hub: Hub, clock: Clock
) -> None:
    promise = (NOW + timedelta(hours=2)).isoformat()
    order_id = place(hub, promised_by=promise)
    # The source ships just before the promise; the views have not caught up yet (a worker's
    # lag in distributed mode, the moment between record and deliver() when embedded).
    clock.advance(hours=1, minutes=59)
    record_all(hub, order_id, UpdateKind.SHIPPED)
    clock.advance(minutes=2)
    hub.jeopardy.tick()  # reads the stale row: "routed", promised 1 minute ago
    hub.deliver()

    order = hub.intake.find(order_id)
    assert order is not None
    assert order.status.value == "shipped"
    assert open_exceptions(hub, order_id) == []


# -- 2. a held order that is changed and then routes keeps its on_hold exception for ever -------


def test_a_held_order_changed_into_one_that_routes_has_no_open_hold(hub: Hub) -> None:
    order_id = place(hub, payment_state="pending")
    assert [k for k, _ in open_exceptions(hub, order_id)] == ["on_hold"]

    revised = submission_dict(
        external_id="WEB-1", ship_to=LYON, payment_state="authorized", channel="web-shop"
    )
    parsed = OrderSubmission.model_validate(revised)
    hub.fulfillment.change_order(order_id, parsed, parsed.model_dump_json(), "channel:web-shop")
    hub.deliver()

    order = hub.intake.find(order_id)
    assert order is not None
    assert order.status.value == "routed"
    assert open_exceptions(hub, order_id) == []


# -- 4. a view version change in distributed mode empties the view and nothing refills it ----


def one_order_then_stopped(data_dir: Path, clock: Clock) -> UUID:
    """A hub stocked, one order placed and delivered, then the process gone."""
    with closing(embedded_hub(data_dir, clock)) as hub:
        stock_up(hub, SOURCES)
        return place(hub)


def test_a_view_layout_change_is_rebuilt_from_the_event_store_when_a_process_starts(
    tmp_path: Path, clock: Clock
) -> None:
    data_dir = tmp_path / "hub"
    order_id = one_order_then_stopped(data_dir, clock)
    with sqlite3.connect(data_dir / "views.sqlite3") as views:
        for module in (order_status_module, exceptions_module):
            views.execute(
                "UPDATE orderhub_view_versions SET version = ? WHERE view = ?",
                (module.VERSION - 1, module.FOLLOWER),
            )
    settings = Settings(data_dir=data_dir, kafka_bootstrap="127.0.0.1:9", database_url=None)

    distributed = bootstrap(settings, clock=clock)  # a worker or API process starting
    try:
        distributed.deliver()  # nothing to do in distributed mode: Kafka feeds the views
        assert distributed.order_status.get(str(order_id)) is not None
    finally:
        distributed.close()


def test_an_older_process_refuses_a_view_built_by_a_newer_one_and_leaves_it_alone(
    tmp_path: Path, clock: Clock
) -> None:
    data_dir = tmp_path / "hub"
    one_order_then_stopped(data_dir, clock)
    with sqlite3.connect(data_dir / "views.sqlite3") as views:
        views.execute(
            "UPDATE orderhub_view_versions SET version = ? WHERE view = ?",
            (order_status_module.VERSION + 1, order_status_module.FOLLOWER),
        )
    settings = Settings(data_dir=data_dir, kafka_bootstrap="127.0.0.1:9", database_url=None)

    with pytest.raises(NewerViewError, match="upgrade this process"):
        bootstrap(settings, clock=clock)
    with sqlite3.connect(data_dir / "views.sqlite3") as views:
        (count,) = views.execute("SELECT COUNT(*) FROM order_status").fetchone()
    assert count == 1


# -- 5. a channel key reads every channel's exceptions through /v1/ops/exceptions --------------


@pytest.mark.asyncio
async def test_a_channel_key_sees_only_its_own_channels_exceptions(
    tmp_path: Path, clock: Clock
) -> None:
    hub = embedded_hub(
        tmp_path / "hub",
        clock,
        auth_required=True,
        admin_api_key="review-admin-key-5d0e8b3f2a7c9146e1",
    )
    try:
        stock_up(hub, SOURCES)
        for channel in ("web-shop", "marketplace"):
            hub.access.register_channel(
                ChannelDefinition.model_validate(
                    {"channel_id": channel, "name": channel, "kind": "web", "format": "canonical"}
                ),
                "user:admin",
            )
        place(hub, "WEB-1", payment_state="pending", channel="web-shop")  # held: on_hold
        key = hub.access.issue_key(
            IssueKey(role=Role.CHANNEL, channel_id="marketplace", label="mp"), "user:admin"
        ).api_key
        async with serving(create_app(hub)) as client:
            headers = {"Authorization": f"Bearer {key}"}
            orders = await client.get("/v1/ops/orders", headers=headers)
            queue = await client.get("/v1/ops/exceptions", headers=headers)
            summary = await client.get("/v1/ops/exceptions/summary?by=customer", headers=headers)
        assert orders.status_code == 200
        assert orders.json()["orders"] == []  # narrowed to its own channel
        assert [e["channel"] for e in queue.json().get("exceptions", [])] == []
        assert summary.json().get("groups", []) == []
    finally:
        hub.close()


# -- 6. the pinned source stays pinned after it refused: the order is stuck as unroutable -----


def test_when_the_chosen_source_refuses_the_order_is_routed_elsewhere(hub: Hub) -> None:
    order_id = place(hub)  # routed to wh-lyon, the nearest
    hub.ops.reroute(order_id, "wh-paris", "lyon is behind", ALICE)
    hub.deliver()
    order = hub.intake.find(order_id)
    assert order is not None
    (paris,) = [sid for sid, s in order.shipments.items() if s.source_id == "wh-paris"]

    hub.fulfillment.apply_update(
        FulfillmentUpdate(
            order_id=order_id,
            shipment_id=paris,
            source_id="wh-paris",
            kind=UpdateKind.REJECTED,
            at=hub.clock(),
            reason="no staff today",
        )
    )
    hub.deliver()

    order = hub.intake.find(order_id)
    assert order is not None
    lyon = hub.stock_levels.get("wh-lyon", "RED-CHAIR")
    assert lyon is not None
    assert lyon.available >= 2  # another source can take it
    assert order.status.value != "unroutable"
    assert [k for k, _ in open_exceptions(hub, order_id)] == []


# -- 7. the jeopardy clock's query scans the whole order_status table on SQLite ----------------


def test_the_jeopardy_query_uses_the_open_promises_index(
    hub: Hub, monkeypatch: pytest.MonkeyPatch
) -> None:
    from projections import sqldb

    seen: list[tuple[str, tuple[Any, ...]]] = []
    original = sqldb._Translating.execute

    def spy(self: Any, sql: str, params: Any = ()) -> Any:
        if "promised_by <=" in sql:
            seen.append((sql, tuple(params)))
        return original(self, sql, params)

    monkeypatch.setattr(sqldb._Translating, "execute", spy)
    hub.order_status.promised_before("2026-12-01", 500)
    monkeypatch.undo()
    ((sql, params),) = seen

    with hub.views_db.transaction() as cur:
        cur.execute("EXPLAIN QUERY PLAN " + sql, params)
        plan = " / ".join(str(step[-1]) for step in cur.fetchall())

    assert "order_status_open_promises" in plan, plan


# -- 8. every tick re-reads every order flagged late already, for as long as it stays unshipped -


def test_a_tick_does_not_look_again_at_orders_already_flagged_late(hub: Hub, clock: Clock) -> None:
    for n in range(5):
        place(hub, f"WEB-{n}", promised_by=(NOW + timedelta(hours=1)).isoformat())
    clock.advance(hours=2)
    assert hub.jeopardy.tick().flagged == 5
    hub.deliver()
    clock.advance(minutes=1)

    tick = hub.jeopardy.tick()

    assert tick.flagged == 0
    assert tick.looked_at == 0, f"{tick.looked_at} late orders read again"


# -- 9. the KPIs load every order row of the range into the process -------------------------


def test_kpis_are_aggregated_without_loading_every_order(
    hub: Hub, monkeypatch: pytest.MonkeyPatch
) -> None:
    from hub.services.ops_queries import OpsQueries

    for n in range(12):
        place(hub, f"WEB-{n}")
    loaded: list[int] = []
    original = hub.order_status.placed_between

    def spy(start: str, end: str, channel: str | None) -> Any:
        rows = original(start, end, channel)
        loaded.append(len(rows))
        return rows

    monkeypatch.setattr(hub.order_status, "placed_between", spy)

    (day,) = OpsQueries(hub).kpis(None, None, None)

    assert day.orders == 12
    assert sum(loaded) <= 1, f"{sum(loaded)} order rows loaded for one channel-day"


# -- 10. a "late" flag raised against the placement estimate outlives the real promise ---------


def test_a_late_flag_from_the_estimate_clears_when_routing_moves_the_promise(
    hub: Hub, clock: Clock
) -> None:
    order_id = place(hub, payment_state="pending")  # held; promise = placed + 3 days, estimated
    clock.advance(days=3, hours=1)
    hub.jeopardy.tick()
    hub.deliver()
    assert "late" in [k for k, _ in open_exceptions(hub, order_id)]

    hub.ops.release_hold(order_id, "paid by phone", ALICE)  # routed: wh-lyon, 1 day lead time
    hub.deliver()

    row = hub.order_status.get(str(order_id))
    assert row is not None
    assert row.promised_by > clock().isoformat()  # not late by the promise it now has
    assert "late" not in [k for k, _ in open_exceptions(hub, order_id)]


# -- 11. a date at the edge of the calendar is a 500 on the KPI API and page ----------------


@pytest.mark.asyncio
@pytest.mark.parametrize(
    "path",
    ["/v1/ops/kpis?to=9999-12-31", "/v1/ops/kpis?to=0001-01-05", "/console/kpis?to=9999-12-31"],
)
async def test_kpis_at_the_edge_of_the_calendar_are_not_a_server_error(hub: Hub, path: str) -> None:
    app = create_app(hub)
    async with asgi_client(app) as client:
        app.state.hub = hub
        response = await client.get(path)
    assert response.status_code < 500


# -- 12. a person's resolution of a refused/parked submission travels on another topic --------


def test_a_resolution_read_before_its_refused_submission_still_resolves_it(
    hub: Hub, tmp_path: Path
) -> None:
    from hub.streaming.relay import routes_for
    from projections.exceptions import SqlExceptionQueue
    from projections.sqldb import SqlDatabase

    start = hub.store.max_position()
    hub.intake.record_rejections(
        [
            RejectSubmission(
                channel="web-shop",
                raw_payload="{not json",
                format="canonical",
                reason="invalid_submission",
                problems=[{"field": "(body)", "message": "not JSON", "code": "invalid"}],
                actor="channel:web-shop",
            )
        ]
    )
    hub.deliver()
    (row,) = hub.exceptions.queue(ExceptionQuery(kinds=("rejected_submission",))).rows
    hub.ops.resolve_exception(row.exception_id, "asked the shop to resend", ALICE)
    hub.deliver()
    assert hub.exceptions.queue(ExceptionQuery(kinds=("rejected_submission",))).rows == []

    events = [env for _, env in hub.store.read_envelopes(start, 1000)]
    routes = routes_for(Settings(kafka_bootstrap="127.0.0.1:9", database_url="postgresql://x"))
    # The refused submission and the person's action on it share one topic and one key, so
    # one partition: a consumer reads the resolution after the exception it resolves.
    placed = {(topic, key) for env in events for topic, key in routes(env)}
    assert placed == {("orderhub.orders.rejected", events[0].subject)}

    replica = SqlExceptionQueue(SqlDatabase(f"sqlite:///{tmp_path / 'replica.sqlite3'}"))
    replica.apply(events, {"orderhub.orders.rejected:0": len(events)})

    assert replica.queue(ExceptionQuery(kinds=("rejected_submission",))).rows == []


# -- 13. the exception queue page asks for each row's order one query at a time ----------------


@pytest.mark.asyncio
async def test_the_queue_page_reads_its_orders_in_one_query(
    hub: Hub, monkeypatch: pytest.MonkeyPatch
) -> None:
    for n in range(6):
        place(hub, f"WEB-{n}", payment_state="pending")  # six on_hold exceptions
    calls: list[str] = []
    original = hub.order_status.get

    def spy(order_id: str) -> Any:
        calls.append(order_id)
        return original(order_id)

    monkeypatch.setattr(hub.order_status, "get", spy)
    app = create_app(hub)
    async with asgi_client(app) as client:
        app.state.hub = hub
        response = await client.get("/console/exceptions")

    assert response.status_code == 200
    assert len(calls) <= 1, f"{len(calls)} order lookups for one page"


# -- 14. the fill rate counts orders being cancelled, against its own definition --------------


def test_the_fill_rate_leaves_out_orders_being_cancelled(hub: Hub) -> None:
    from hub.services.ops_queries import OpsQueries

    shipped = place(hub, "WEB-1")
    record_all(hub, shipped, UpdateKind.SHIPPED)
    cancelled = place(hub, "WEB-2")
    hub.fulfillment.cancel_order(cancelled, "customer changed their mind", ALICE)
    hub.deliver()
    row = hub.order_status.get(str(cancelled))
    assert row is not None
    assert row.status == "cancelling"  # wh-lyon has not confirmed the withdrawal yet

    (day,) = OpsQueries(hub).kpis(None, None, None)

    assert day.fill_rate == 1.0
