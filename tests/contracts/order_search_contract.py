"""Order search: the behaviour every OrderStatusView's `search`, `promised_before` and
`placed_between` must have, whatever stores its rows.

Subclass ``OrderSearchContract`` in a test module (named ``Test…``) and provide a ``make_view``
fixture: a callable that returns a fresh, EMPTY view each time it is called. The in-memory and
SQLite subclasses live in ``tests/unit/test_order_search.py``, the PostgreSQL one in
``tests/integration/test_ops_views_postgres.py``.

The rows come from a real history: the embedded hub filled by ``hub.tools.demo.seed`` and then moved
on by hand (a hold released, re-routes, shipments, a rejection, a cancellation, exceptions
assigned and resolved, jeopardy ticks, and a few orders with awkward external ids). Every
answer is compared with a brute-force filter written here, independently of the code under
test: times are compared as instants, not as text.

``live_history`` is shared with the rebuild end-to-end test.
"""

import base64
import functools
import json
import tempfile
from collections.abc import Callable, Iterator, Sequence
from dataclasses import replace
from datetime import UTC, date, datetime, timedelta
from pathlib import Path
from typing import Any
from uuid import UUID

import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from hub.bootstrap import Hub
from hub.tools.demo import seed
from projections.order_query import BadCursorError, OrderQuery
from projections.order_rows import OrderStatusRow
from projections.order_status import OrderStatusView
from schemas.envelope import EventEnvelope
from schemas.event_types import EventType
from schemas.fulfillment import FulfillmentUpdate, UpdateKind
from tests.contracts.factories import NOW, submit_order
from tests.support.examples import examples
from tests.support.running_hub import Clock, embedded_hub

STREAM = "notification_log"
MakeView = Callable[[], OrderStatusView]
_PER_BACKEND = [HealthCheck.function_scoped_fixture, HealthCheck.differing_executors]

# Where nothing more will ship: the jeopardy clock's "not shipped, not cancelled or rejected".
DONE = frozenset(
    {
        "shipped",
        "delivered",
        "completed",
        "partially_returned",
        "returned",
        "rejected",
        "cancelled",
    }
)
ALICE = "user:alice"
CAROL = "user:carol"
LYON = {
    "name": "Ada Lovelace",
    "line1": "3 place Bellecour",
    "city": "Lyon",
    "postal_code": "69002",
    "country": "FR",
    "lat": 45.757,
    "lon": 4.832,
}
# External ids that LIKE would misread unless escaped, in both cases, and sharing prefixes.
AWKWARD_IDS = ["a_b-1", "A%B-2", "AXB-3", "aXb-4", "AB\\C-5", "ab%c-6", "a_b-10"]


def _ids(hub: Hub, *statuses: str) -> list[str]:
    page = hub.order_status.search(
        OrderQuery(status=statuses, sort="placed_at", descending=False, limit=500)
    )
    return [row.order_id for row in page.rows]


def _row(hub: Hub, order_id: str) -> OrderStatusRow:
    row = hub.order_status.get(order_id)
    assert row is not None
    return row


def report_all(hub: Hub, order_id: str, kind: UpdateKind, **extra: Any) -> None:
    """A source's update on every live shipment of the order, delivered to the views."""
    record_all(hub, order_id, kind, **extra)
    hub.deliver()


def record_all(hub: Hub, order_id: UUID | str, kind: UpdateKind, **extra: Any) -> None:
    """A source's update on every live shipment of the order, recorded but NOT delivered."""
    the_id = UUID(str(order_id))
    order = hub.intake.find(the_id)
    assert order is not None
    for shipment_id, shipment in sorted(order.shipments.items()):
        if shipment.state in ("rejected", "cancelled") or shipment_id in order.withdrawing:
            continue
        hub.fulfillment.apply_update(
            FulfillmentUpdate(
                order_id=the_id,
                shipment_id=shipment_id,
                source_id=shipment.source_id,
                kind=kind,
                at=hub.clock(),
                carrier="DemoPost" if kind is UpdateKind.SHIPPED else None,
                tracking=f"T-{shipment_id[:8]}" if kind is UpdateKind.SHIPPED else None,
                **extra,
            )
        )


def live_history(hub: Hub, clock: Clock) -> None:
    """The demo's 60 orders, then a working day of people and sources acting on them."""
    from projections.exceptions import ExceptionQuery

    assert seed(hub) == 60
    clock.advance(hours=1, microseconds=250_000)

    held = _ids(hub, "held")
    hub.ops.release_hold(UUID(held[0]), "paid by phone", ALICE)
    hub.ops.reroute(UUID(held[1]), "wh-lyon", "customer collects in Lyon", ALICE)
    hub.deliver()
    clock.advance(minutes=17, microseconds=3)

    routed = _ids(hub, "routed")
    target = "wh-paris" if "wh-paris" not in _row(hub, routed[0]).sources else "wh-lyon"
    hub.ops.reroute(UUID(routed[0]), target, "the first source is behind", ALICE)
    hub.deliver()
    report_all(hub, routed[1], UpdateKind.REJECTED, reason="damaged in the warehouse")
    clock.advance(hours=2, microseconds=7)

    for order_id in _ids(hub, "in_fulfillment")[:3]:
        report_all(hub, order_id, UpdateKind.SHIPPED)
    clock.advance(minutes=45)

    # One that waits for everything: nothing to withdraw, so it is cancelled at once.
    waiting = [i for i in _ids(hub, "backordered") if not _row(hub, i).sources]
    hub.fulfillment.cancel_order(UUID(waiting[0]), "customer gave up waiting", CAROL)
    hub.deliver()

    queue = hub.exceptions.queue(ExceptionQuery(limit=500)).rows
    backordered = [r for r in queue if r.kind == "backordered"]
    hub.ops.assign_exception(queue[0].exception_id, "bob", CAROL)
    hub.ops.assign_exception(backordered[-1].exception_id, "dave", CAROL)
    hub.ops.resolve_exception(backordered[-1].exception_id, "customer agreed to wait", CAROL)
    hub.deliver()

    for hours in (6, 6, 6):
        clock.advance(hours=hours, microseconds=11)
        hub.jeopardy.tick()
        hub.deliver()

    hub.intake.place_orders(
        [
            submit_order(
                external_id=external_id,
                correlation_id=f"awkward-{n}",
                channel="web-shop" if n % 2 else "marketplace",
                customer={"id": f"CUST-{n % 3}", "name": "Awkward"},
                ship_to=LYON,
                payment_state="authorized",
                # Three share one instant: the order id breaks the tie.
                placed_at=(clock() - timedelta(hours=1 + n // 3)).isoformat(),
            )
            for n, external_id in enumerate(AWKWARD_IDS)
        ]
    )
    hub.deliver()
    clock.advance(minutes=5)
    hub.jeopardy.tick()
    hub.deliver()


@functools.cache
def search_history() -> tuple[EventEnvelope, ...]:
    """Every event of ``live_history`` on an embedded SQLite hub, built once per process."""
    with tempfile.TemporaryDirectory() as data_dir:
        clock = Clock()
        hub = embedded_hub(Path(data_dir), clock)
        try:
            live_history(hub, clock)
            return tuple(env for _, env in hub.store.read_envelopes(None, 100_000))
        finally:
            hub.close()


def apply_in_batches(
    view: Any, envelopes: Sequence[EventEnvelope], size: int, start: int = 0
) -> None:
    for offset in range(0, len(envelopes), size):
        batch = list(envelopes[offset : offset + size])
        view.apply(batch, {STREAM: start + offset + len(batch)})


def fill(view: Any) -> None:
    """The whole history, delivered in batches: what the ``view`` fixture holds."""
    apply_in_batches(view, search_history(), 97)


# -- the specification, independently written ---------------------------------------------------


def instant(text: str) -> datetime:
    """An ISO date (midnight UTC) or time, as an instant."""
    if "T" not in text:
        return datetime.combine(date.fromisoformat(text), datetime.min.time(), tzinfo=UTC)
    return datetime.fromisoformat(text.replace("Z", "+00:00"))


def wanted(rows: Sequence[OrderStatusRow], query: OrderQuery) -> list[OrderStatusRow]:
    """Every row the query asks for, in its order: the brute-force answer."""
    prefix = query.text.lower() if query.text else ""

    def keep(r: OrderStatusRow) -> bool:
        checks = [
            not query.status or r.status in query.status,
            query.channel in (None, r.channel),
            query.customer_id in (None, r.customer_id),
            query.sku is None or query.sku in r.skus,
            query.source_id is None or query.source_id in r.sources,
            query.placed_from is None or instant(r.placed_at) >= instant(query.placed_from),
            query.placed_to is None or instant(r.placed_at) < instant(query.placed_to),
            r.external_id.lower().startswith(prefix),
        ]
        return all(checks)

    chosen = [r for r in rows if keep(r)]
    return sorted(
        chosen,
        key=lambda r: (instant(getattr(r, query.sort)), r.order_id),
        reverse=query.descending,
    )


def every_page(view: OrderStatusView, query: OrderQuery) -> Iterator[list[OrderStatusRow]]:
    """The pages from the query's cursor (or the start) to the end."""
    for _ in range(10_000):
        page = view.search(query)
        yield page.rows
        if page.next_cursor is None:
            return
        assert len(page.rows) == query.limit, "only the last page may be short"
        query = replace(query, after=page.next_cursor)
    raise AssertionError("the pages never end")


def all_pages(view: OrderStatusView, query: OrderQuery) -> list[OrderStatusRow]:
    return [row for page in every_page(view, query) for row in page]


def _cursor(*key: object) -> str:
    return base64.urlsafe_b64encode(json.dumps(list(key)).encode()).decode().rstrip("=")


class OrderSearchContract:
    @pytest.fixture
    def make_view(self) -> MakeView:
        raise NotImplementedError("a subclass provides a factory of fresh, empty views")

    @pytest.fixture
    def view(self, make_view: MakeView) -> OrderStatusView:
        view = make_view()
        fill(view)
        return view

    @pytest.fixture
    def rows(self, view: OrderStatusView) -> list[OrderStatusRow]:
        """Every row, read the slow way: one get() per order of the history."""
        ids = sorted(
            {env.subject for env in search_history() if env.type == EventType.ORDER_PLACED}
        )
        found = [view.get(order_id) for order_id in ids]
        assert all(found)
        return [row for row in found if row is not None]

    # -- the data is varied enough to mean something --------------------------------------------

    def test_the_history_covers_what_the_filters_need(self, rows: list[OrderStatusRow]) -> None:
        statuses = {r.status for r in rows}
        assert {"held", "routed", "backordered", "shipped", "unroutable", "cancelled"} <= statuses
        assert len({r.channel for r in rows}) >= 5
        assert len({r.customer_id for r in rows}) >= 6
        assert any(len(r.sources) > 1 for r in rows)
        assert any(len(r.skus) > 1 for r in rows)
        assert len(rows) - len({r.placed_at for r in rows}) >= 5, "ties on placed_at"
        assert len(rows) - len({r.updated_at for r in rows}) >= 5, "ties on updated_at"

    # -- filters ---------------------------------------------------------------------------------

    @pytest.mark.parametrize("sort", ["placed_at", "updated_at"])
    @pytest.mark.parametrize("descending", [True, False])
    def test_no_filter_is_every_row_in_sort_order(
        self, view: OrderStatusView, rows: list[OrderStatusRow], sort: str, descending: bool
    ) -> None:
        query = OrderQuery(sort=sort, descending=descending, limit=1000)  # type: ignore[arg-type]

        page = view.search(query)

        assert page.rows == wanted(rows, query)
        assert page.next_cursor is None

    def test_each_filter_alone_is_the_brute_force_answer(
        self, view: OrderStatusView, rows: list[OrderStatusRow]
    ) -> None:
        some = rows[len(rows) // 3]
        split = next(r for r in rows if len(r.sources) > 1)
        queries = [
            OrderQuery(status=("held",)),
            OrderQuery(status=("backordered", "unroutable", "cancelled")),
            OrderQuery(status=("no-such-status",)),
            OrderQuery(channel="marketplace"),
            OrderQuery(channel="nowhere"),
            OrderQuery(customer_id=some.customer_id),
            OrderQuery(sku="GREEN-SOFA"),
            OrderQuery(sku=some.skus[0]),
            OrderQuery(source_id=split.sources[-1]),
            OrderQuery(source_id="no-such-source"),
            OrderQuery(placed_from=some.placed_at),
            OrderQuery(placed_to=some.placed_at),
            OrderQuery(placed_from=some.placed_at[:10]),
            OrderQuery(placed_to=some.placed_at[:10]),
            OrderQuery(text="MAR"),
            OrderQuery(text="mar-10"),
            OrderQuery(text="a_"),  # _ is not a wildcard
            OrderQuery(text="A%"),  # nor is %
            OrderQuery(text="ab\\"),
            OrderQuery(text="%"),
            OrderQuery(text="_"),
        ]
        for query in queries:
            for sort in ("placed_at", "updated_at"):
                q = replace(query, sort=sort, limit=1000)
                assert view.search(q).rows == wanted(rows, q), q

    def test_text_is_a_prefix_of_the_external_id_with_like_wildcards_taken_literally(
        self, view: OrderStatusView
    ) -> None:
        def found(text: str) -> list[str]:
            return sorted(r.external_id for r in view.search(OrderQuery(text=text)).rows)

        assert found("a_b") == ["a_b-1", "a_b-10"]
        assert found("A_B-1") == ["a_b-1", "a_b-10"]
        assert found("a%") == ["A%B-2"]
        assert found("ab%") == ["ab%c-6"]
        assert found("AXB") == ["AXB-3", "aXb-4"]
        assert found("ab\\c") == ["AB\\C-5"]
        assert found("a_b-1") == ["a_b-1", "a_b-10"]

    def test_filters_combined(self, view: OrderStatusView, rows: list[OrderStatusRow]) -> None:
        split = next(r for r in rows if len(r.sources) > 1)
        queries = [
            OrderQuery(sku=split.skus[0], source_id=split.sources[0]),
            OrderQuery(sku=split.skus[0], source_id=split.sources[0], channel=split.channel),
            OrderQuery(status=("in_fulfillment", "shipped"), sku="RED-CHAIR", text="W"),
            OrderQuery(customer_id=split.customer_id, placed_to=split.placed_at, sku="BLUE-LAMP"),
        ]
        for query in queries:
            for sort in ("placed_at", "updated_at"):
                for descending in (True, False):
                    q = replace(query, sort=sort, descending=descending, limit=1000)
                    assert view.search(q).rows == wanted(rows, q), q

    @settings(max_examples=examples(60), deadline=None, suppress_health_check=_PER_BACKEND)
    @given(data=st.data())
    def test_any_query_pages_through_the_brute_force_answer_exactly_once(
        self, view: OrderStatusView, rows: list[OrderStatusRow], data: st.DataObject
    ) -> None:
        query = data.draw(queries(rows))

        got = all_pages(view, query)

        expected = wanted(rows, query)
        assert [r.order_id for r in got] == [r.order_id for r in expected]
        assert got == expected

    # -- pagination ------------------------------------------------------------------------------

    @pytest.mark.parametrize("sort", ["placed_at", "updated_at"])
    @pytest.mark.parametrize("descending", [True, False])
    @pytest.mark.parametrize("limit", [1, 7, 67])
    def test_pages_return_every_row_once_in_order(
        self,
        view: OrderStatusView,
        rows: list[OrderStatusRow],
        sort: str,
        descending: bool,
        limit: int,
    ) -> None:
        query = OrderQuery(sort=sort, descending=descending, limit=limit)  # type: ignore[arg-type]

        pages = list(every_page(view, query))

        got = [r for page in pages for r in page]
        assert got == wanted(rows, query)
        assert len({r.order_id for r in got}) == len(rows)
        assert len(pages) == max(1, -(-len(rows) // limit))

    @pytest.mark.parametrize("sort", ["placed_at", "updated_at"])
    def test_a_page_filtered_on_a_child_table_pages_in_order(
        self, view: OrderStatusView, rows: list[OrderStatusRow], sort: str
    ) -> None:
        for query in (
            OrderQuery(sku="RED-CHAIR", limit=4, sort=sort),  # type: ignore[arg-type]
            OrderQuery(source_id="wh-lyon", limit=3, sort=sort, descending=False),  # type: ignore[arg-type]
            OrderQuery(sku="BLUE-LAMP", source_id="wh-paris", limit=2, sort=sort),  # type: ignore[arg-type]
        ):
            assert all_pages(view, query) == wanted(rows, query), query

    def test_the_last_full_page_has_no_cursor(self, view: OrderStatusView) -> None:
        everything = view.search(OrderQuery(limit=1000)).rows

        page = view.search(OrderQuery(limit=len(everything)))

        assert page.rows == everything
        assert page.next_cursor is None

    def test_rows_changed_behind_a_cursor_are_not_repeated(
        self, make_view: MakeView, rows: list[OrderStatusRow]
    ) -> None:
        """Keyset paging on placed_at: an order updated between two pages is not seen twice."""
        history = search_history()
        fresh = make_view()
        apply_in_batches(fresh, history[:-40], 200)
        query = OrderQuery(sort="placed_at", limit=10)
        first = fresh.search(query)
        apply_in_batches(fresh, history[-40:], 200, start=len(history) - 40)

        rest = all_pages(fresh, replace(query, after=first.next_cursor))

        ids = [r.order_id for r in [*first.rows, *rest]]
        assert len(ids) == len(set(ids))

    # -- cursors ---------------------------------------------------------------------------------

    @pytest.mark.parametrize(
        "cursor",
        [
            "not-a-cursor",
            "!!!",
            "é",
            _cursor("updated_at", True, "2026-11-20T09:00:00+00:00", "x"),  # another sort
            _cursor("placed_at", False, "2026-11-20T09:00:00Z", "x"),  # another direction
            _cursor(-3, "2026-11-20T09:00:00+00:00", "late:x"),  # the exception queue's
            _cursor("wh-lyon", "RED-CHAIR"),  # the stock levels'
            _cursor("placed_at", True, "x"),
            base64.urlsafe_b64encode(b'{"a": 1}').decode(),
            base64.urlsafe_b64encode(b"7").decode(),
            base64.urlsafe_b64encode(b"\xff\xfe").decode(),
        ],
    )
    def test_a_foreign_or_garbled_cursor_is_refused(
        self, view: OrderStatusView, cursor: str
    ) -> None:
        with pytest.raises(BadCursorError):
            view.search(OrderQuery(after=cursor))

    @settings(max_examples=examples(40), deadline=None, suppress_health_check=_PER_BACKEND)
    @given(cursor=st.text(min_size=1, max_size=40))
    def test_any_garbage_is_refused_as_a_bad_cursor_never_crashes(
        self, view: OrderStatusView, cursor: str
    ) -> None:
        try:
            view.search(OrderQuery(after=cursor, limit=3))
        except BadCursorError:
            pass

    def test_a_cursor_from_another_sort_is_refused(self, view: OrderStatusView) -> None:
        cursor = view.search(OrderQuery(sort="updated_at", limit=2)).next_cursor
        assert cursor is not None

        with pytest.raises(BadCursorError):
            view.search(OrderQuery(sort="placed_at", limit=2, after=cursor))
        with pytest.raises(BadCursorError):
            view.search(OrderQuery(sort="updated_at", descending=False, limit=2, after=cursor))

    # -- the jeopardy clock's and the KPIs' reads -------------------------------------------------

    @pytest.mark.parametrize("hours", [-48, 0, 12, 30, 72, 24 * 30])
    @pytest.mark.parametrize("limit", [1, 4, 500])
    def test_promised_before_pages_through_the_open_promises(
        self, view: OrderStatusView, rows: list[OrderStatusRow], hours: int, limit: int
    ) -> None:
        moment = (NOW + timedelta(hours=hours)).strftime("%Y-%m-%dT%H:%M:%S.%fZ")
        expected = sorted(
            (
                r
                for r in rows
                if r.promised_by
                and instant(r.promised_by) <= instant(moment)
                and r.status not in DONE
            ),
            key=lambda r: (instant(r.promised_by), r.order_id),
        )
        got: list[OrderStatusRow] = []
        after: tuple[str, str] | None = None
        while True:
            page = view.promised_before(moment, limit, after)
            assert len(page) <= limit
            got.extend(page)
            if len(page) < limit:
                break
            after = (page[-1].promised_by, page[-1].order_id)

        assert got == expected

    @pytest.mark.parametrize("hours", [-48, 12, 72])
    @pytest.mark.parametrize("limit", [1, 4, 500])
    def test_open_promises_are_promised_before_as_promise_and_id(
        self, view: OrderStatusView, hours: int, limit: int
    ) -> None:
        moment = (NOW + timedelta(hours=hours)).strftime("%Y-%m-%dT%H:%M:%S.%fZ")
        for after in (None, ("", ""), ("2026-11-20T12:00:00.000000Z", "~")):
            rows = view.promised_before(moment, limit, after)
            expected = [(r.promised_by, r.order_id) for r in rows]
            assert view.open_promises(moment, limit, after) == expected

    def test_promised_before_includes_a_promise_at_the_moment_itself(
        self, view: OrderStatusView, rows: list[OrderStatusRow]
    ) -> None:
        target = next(r for r in rows if r.promised_by and r.status not in DONE)

        found = view.promised_before(target.promised_by, 1000)

        assert target.order_id in {r.order_id for r in found}

    def test_every_open_order_has_a_promise_once_routed(self, rows: list[OrderStatusRow]) -> None:
        routed_once = [r for r in rows if r.status not in ("placed", "accepted", "held")]
        assert all(r.promised_by.endswith("Z") for r in routed_once)

    @pytest.mark.parametrize("channel", [None, "web-shop", "b2b-edi", "nowhere"])
    def test_placed_between_is_a_half_open_range(
        self, view: OrderStatusView, rows: list[OrderStatusRow], channel: str | None
    ) -> None:
        days = sorted({r.placed_at[:10] for r in rows})
        bounds = [
            (days[0], days[-1]),
            (days[0], (date.fromisoformat(days[-1]) + timedelta(days=1)).isoformat()),
            (days[-1], days[-1]),
            (rows[5].placed_at, rows[9].placed_at),
        ]
        for start, end in bounds:
            expected = sorted(
                (
                    r
                    for r in rows
                    if instant(start) <= instant(r.placed_at) < instant(end)
                    and channel in (None, r.channel)
                ),
                key=lambda r: (instant(r.placed_at), r.order_id),
            )
            assert view.placed_between(start, end, channel) == expected, (start, end)

    # -- reset -----------------------------------------------------------------------------------

    def test_reset_forgets_every_row_and_a_replay_brings_the_same_answers(
        self, view: OrderStatusView, rows: list[OrderStatusRow]
    ) -> None:
        query = OrderQuery(sku="RED-CHAIR", limit=1000)
        before = view.search(query).rows

        view.reset()

        assert view.search(OrderQuery()).rows == []
        assert view.search(query).rows == []
        assert view.promised_before("9999-12-31", 10) == []
        assert view.positions() == {}
        apply_in_batches(view, search_history(), 500)
        assert view.search(query).rows == before

    # -- times as instants -----------------------------------------------------------------------

    def test_placed_at_sorts_as_time_even_for_whole_seconds(self, make_view: MakeView) -> None:
        view = make_view()
        envelopes = _orders_placed_at(
            {"SEC-1": "2026-11-20T08:00:00Z", "SEC-2": "2026-11-20T08:00:00.500000Z"}
        )
        view.apply(envelopes, {STREAM: len(envelopes)})

        page = view.search(OrderQuery(sort="placed_at", descending=False))
        later = view.search(OrderQuery(placed_from="2026-11-20T08:00:00.250000Z"))

        assert [r.external_id for r in page.rows] == ["SEC-1", "SEC-2"]
        assert [r.external_id for r in later.rows] == ["SEC-2"]

    def test_text_matches_non_ascii_external_ids_case_insensitively(
        self, make_view: MakeView
    ) -> None:
        view = make_view()
        envelopes = _orders_placed_at(
            {"ÉCOLE-1": "2026-11-20T08:00:00.1Z", "école-2": "2026-11-20T08:00:00.2Z"}
        )
        view.apply(envelopes, {STREAM: len(envelopes)})

        for text in ("é", "É", "ÉCOLE", "éCole-"):
            found = view.search(OrderQuery(text=text)).rows
            assert sorted(r.external_id for r in found) == ["ÉCOLE-1", "école-2"], text


def _orders_placed_at(placed: dict[str, str]) -> list[EventEnvelope]:
    from tests.contracts.factories import order_envelopes

    return [
        env
        for external_id, placed_at in placed.items()
        for env in order_envelopes(external_id, "accepted", placed_at=placed_at)
    ]


@st.composite
def queries(draw: st.DrawFn, rows: Sequence[OrderStatusRow]) -> OrderQuery:
    """A random query whose filters, when present, are mostly values the rows have."""
    statuses = sorted({r.status for r in rows})
    channels = sorted({r.channel for r in rows})
    customers = sorted({r.customer_id for r in rows})
    skus = sorted({s for r in rows for s in r.skus})
    sources = sorted({s for r in rows for s in r.sources})
    placed = sorted({r.placed_at for r in rows})
    days = sorted({p[:10] for p in placed})

    def maybe(strategy: st.SearchStrategy[Any]) -> Any:
        return draw(st.one_of(st.none(), strategy))

    external = draw(st.sampled_from(sorted(r.external_id for r in rows)))
    cut = draw(st.integers(0, len(external)))
    text = maybe(
        st.sampled_from(
            [external[:cut], external[:cut].lower(), external[:cut].upper(), "%", "_", "zz"]
        )
    )
    bound = st.sampled_from(placed + days)
    return OrderQuery(
        status=tuple(draw(st.lists(st.sampled_from([*statuses, "nope"]), max_size=3))),
        channel=maybe(st.sampled_from([*channels, "nope"])),
        customer_id=maybe(st.sampled_from(customers)),
        sku=maybe(st.sampled_from([*skus, "NOPE"])),
        source_id=maybe(st.sampled_from([*sources, "nope"])),
        placed_from=maybe(bound),
        placed_to=maybe(bound),
        text=text or None,
        sort=draw(st.sampled_from(["placed_at", "updated_at"])),
        descending=draw(st.booleans()),
        limit=draw(st.integers(1, 25)),
    )
