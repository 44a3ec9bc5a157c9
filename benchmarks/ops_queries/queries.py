"""The console's queries, as the benchmark times them through the real view methods."""

from __future__ import annotations

import random
from collections.abc import Callable, Iterator, Sequence
from contextlib import contextmanager
from dataclasses import dataclass, replace
from datetime import timedelta
from typing import Any

from benchmarks.ops_queries.world import STUCK, Sample
from projections.audit_trail import SqlAuditTrail
from projections.exceptions import ExceptionQuery, SqlExceptionQueue
from projections.kpis import day_range
from projections.order_query import OrderQuery
from projections.order_status import SqlOrderStatusView
from projections.sqldb import Cursor, SqlDatabase
from projections.stock_levels import SqlStockLevels


class RecordingDatabase(SqlDatabase):
    """The real database wrapper, remembering the statements a call ran (to EXPLAIN them)."""

    def __init__(self, url: str) -> None:
        super().__init__(url)
        self.statements: list[tuple[str, tuple[Any, ...]]] = []

    @contextmanager
    def transaction(self, *args: Any, **kwargs: Any) -> Iterator[Cursor]:
        with super().transaction(*args, **kwargs) as cur:
            yield _Recorder(cur, self.statements)


class _Recorder:
    def __init__(self, cursor: Cursor, statements: list[tuple[str, tuple[Any, ...]]]) -> None:
        self._cursor = cursor
        self._statements = statements

    def execute(self, sql: str, params: Sequence[Any] = ()) -> Any:
        self._statements.append((sql, tuple(params)))
        return self._cursor.execute(sql, params)

    def executemany(self, sql: str, params: Sequence[Sequence[Any]]) -> Any:
        return self._cursor.executemany(sql, params)

    def fetchall(self) -> list[Any]:
        return self._cursor.fetchall()

    def fetchone(self) -> Any:
        return self._cursor.fetchone()


@dataclass
class Views:
    db: RecordingDatabase
    orders: SqlOrderStatusView
    exceptions: SqlExceptionQueue
    audit: SqlAuditTrail
    stock: SqlStockLevels


# A query: given a random generator, prepares one call (untimed: e.g. fetching page 1 for a
# cursor) and returns the call to time, which returns the number of rows it got.
Call = Callable[[], int]
Prepare = Callable[[random.Random], Call]


@dataclass(frozen=True)
class Spec:
    name: str
    prepare: Prepare
    must_return_rows: bool = False  # on any loaded data set, this query finds rows


def _order_search(views: Views, make: Callable[[random.Random], OrderQuery]) -> Prepare:
    def prepare(rng: random.Random) -> Call:
        query = make(rng)
        return lambda: len(views.orders.search(query).rows)

    return prepare


def _order_page_two(views: Views, make: Callable[[random.Random], OrderQuery]) -> Prepare:
    def prepare(rng: random.Random) -> Call:
        query = make(rng)
        first = views.orders.search(query)
        if first.next_cursor is None:
            return lambda: 0
        second = OrderQuery(**{**query.__dict__, "after": first.next_cursor})
        return lambda: len(views.orders.search(second).rows)

    return prepare


def _queue(views: Views, make: Callable[[random.Random], ExceptionQuery]) -> Prepare:
    def prepare(rng: random.Random) -> Call:
        query = make(rng)
        return lambda: len(views.exceptions.queue(query).rows)

    return prepare


def specs(views: Views, sample: Sample) -> list[Spec]:
    s = sample
    today = s.now.date()

    def order(rng: random.Random) -> tuple[str, str, str, str, tuple[str, ...], tuple[str, ...]]:
        return rng.choice(s.orders)

    def routed(rng: random.Random) -> tuple[str, ...]:
        while True:
            sources = order(rng)[5]
            if sources:
                return sources

    def in_week(rng: random.Random) -> OrderQuery:
        start = today - timedelta(days=rng.randrange(7, 365))
        return OrderQuery(
            placed_from=start.isoformat(), placed_to=(start + timedelta(days=7)).isoformat()
        )

    def month(rng: random.Random) -> str:
        return (today - timedelta(days=30)).isoformat()

    def prefix(rng: random.Random) -> str:
        external = order(rng)[3]
        cut = external[: len(external) - rng.randrange(1, 5)]  # 10 to 10,000 candidates
        return cut.lower() if rng.random() < 0.5 else cut

    def stuck(rng: random.Random) -> tuple[str, ...]:
        return rng.choice((("held",), ("backordered",), ("unroutable",), STUCK))

    common = ("shipped", "delivered", "in_fulfillment", "cancelled", "returned")
    pick = random.Random.choice
    o = views.orders
    q = views.exceptions

    def trail(rng: random.Random) -> Call:
        order_id = rng.choice(s.audited)
        return lambda: len(views.audit.trail(order_id))

    def stock(**fixed: Any) -> Prepare:
        def prepare(rng: random.Random) -> Call:
            kwargs = {k: (v(rng) if callable(v) else v) for k, v in fixed.items()}
            return lambda: len(views.stock.search(**kwargs).rows)

        return prepare

    def stock_page_two(rng: random.Random) -> Call:
        source = rng.choice(s.sources)
        first = views.stock.search(source_id=source)
        return lambda: len(views.stock.search(source_id=source, after=first.next_cursor).rows)

    def counts(make: Callable[[random.Random], ExceptionQuery]) -> Prepare:
        def prepare(rng: random.Random) -> Call:
            query = make(rng)
            return lambda: sum(q.counts(query).values())

        return prepare

    def summary(by: Any, state: Any) -> Prepare:
        def prepare(rng: random.Random) -> Call:
            return lambda: len(q.summary(by, ExceptionQuery(state=state)))

        return prepare

    def kpi_days(channel: bool) -> Prepare:
        def prepare(rng: random.Random) -> Call:
            end = today - timedelta(days=rng.randrange(0, 60))
            low, high = day_range(end - timedelta(days=13), end)
            chosen = order(rng)[1] if channel else None
            return lambda: len(o.kpi_days(low, high, chosen))

        return prepare

    def queue_page_two(rng: random.Random) -> Call:
        first = q.queue(ExceptionQuery())
        if first.next_cursor is None:
            return lambda: 0
        second = ExceptionQuery(after=first.next_cursor)
        return lambda: len(q.queue(second).rows)

    def ex_sku(rng: random.Random) -> str:
        return rng.choice(s.exception_skus)

    return [
        # /v1/ops/orders
        Spec("orders: latest", _order_search(views, lambda r: OrderQuery()), True),
        Spec("orders: latest, page 2", _order_page_two(views, lambda r: OrderQuery()), True),
        Spec(
            "orders: status held/backordered/unroutable",
            _order_search(views, lambda r: OrderQuery(status=stuck(r))),
        ),
        Spec(
            "orders: stuck status, oldest first",
            _order_search(views, lambda r: OrderQuery(status=stuck(r), descending=False)),
        ),
        Spec(
            "orders: common status",
            _order_search(views, lambda r: OrderQuery(status=(pick(r, common),))),
        ),
        Spec(
            "orders: channel", _order_search(views, lambda r: OrderQuery(channel=order(r)[1])), True
        ),
        Spec(
            "orders: customer",
            _order_search(views, lambda r: OrderQuery(customer_id=order(r)[2])),
            True,
        ),
        Spec(
            "orders: sku",
            _order_search(views, lambda r: OrderQuery(sku=pick(r, order(r)[4]))),
            True,
        ),
        Spec(
            "orders: sku, page 2",
            _order_page_two(views, lambda r: OrderQuery(sku=pick(r, order(r)[4]))),
        ),
        Spec(
            "orders: source",
            _order_search(views, lambda r: OrderQuery(source_id=pick(r, routed(r)))),
            True,
        ),
        Spec(
            "orders: placed in one week",
            _order_search(views, in_week),
            True,
        ),
        Spec(
            "orders: external id prefix",
            _order_search(views, lambda r: OrderQuery(text=prefix(r))),
            True,
        ),
        Spec(
            "orders: channel + status + last 30 days",
            _order_search(
                views,
                lambda r: OrderQuery(channel=order(r)[1], status=stuck(r), placed_from=month(r)),
            ),
        ),
        Spec(
            "orders: customer + common status",
            _order_search(
                views, lambda r: OrderQuery(customer_id=order(r)[2], status=(pick(r, common),))
            ),
        ),
        Spec(
            "orders: sku + stuck status",
            _order_search(views, lambda r: OrderQuery(sku=pick(r, order(r)[4]), status=stuck(r))),
        ),
        Spec(
            "orders: source + stuck status",
            _order_search(
                views, lambda r: OrderQuery(source_id=pick(r, routed(r)), status=stuck(r))
            ),
        ),
        Spec(
            "orders: sku + source",
            _order_search(
                views, lambda r: OrderQuery(sku=order(r)[4][0], source_id=pick(r, routed(r)))
            ),
        ),
        Spec(
            "orders: sku + one week",
            _order_search(views, lambda r: replace(in_week(r), sku=pick(r, order(r)[4]))),
        ),
        Spec(
            "orders: by updated_at",
            _order_search(views, lambda r: OrderQuery(sort="updated_at")),
            True,
        ),
        Spec(
            "orders: stuck status by updated_at",
            _order_search(views, lambda r: OrderQuery(status=stuck(r), sort="updated_at")),
        ),
        Spec(
            "orders: channel by updated_at",
            _order_search(views, lambda r: OrderQuery(channel=order(r)[1], sort="updated_at")),
            True,
        ),
        Spec(
            "orders: sku by updated_at",
            _order_search(views, lambda r: OrderQuery(sku=pick(r, order(r)[4]), sort="updated_at")),
            True,
        ),
        # /v1/ops/exceptions (the queue and its counts per kind)
        Spec("exceptions: open", _queue(views, lambda r: ExceptionQuery()), True),
        Spec(
            "exceptions: open, page 2",
            queue_page_two,
        ),
        Spec(
            "exceptions: open, one kind",
            _queue(
                views,
                lambda r: ExceptionQuery(
                    kinds=(pick(r, ("on_hold", "backordered", "unroutable", "jeopardy")),)
                ),
            ),
        ),
        Spec("exceptions: open, high", _queue(views, lambda r: ExceptionQuery(severity="high"))),
        Spec(
            "exceptions: open, channel",
            _queue(views, lambda r: ExceptionQuery(channel=pick(r, s.exception_channels))),
            True,
        ),
        Spec(
            "exceptions: open, customer",
            _queue(views, lambda r: ExceptionQuery(customer_id=pick(r, s.exception_customers))),
            True,
        ),
        Spec("exceptions: open, sku", _queue(views, lambda r: ExceptionQuery(sku=ex_sku(r))), True),
        Spec(
            "exceptions: all, source",
            _queue(
                views,
                lambda r: ExceptionQuery(source_id=pick(r, s.exception_sources), state="all"),
            ),
            True,
        ),
        Spec(
            "exceptions: resolved, customer",
            _queue(
                views,
                lambda r: ExceptionQuery(customer_id=order(r)[2], state="resolved"),
            ),
        ),
        Spec("exceptions: all", _queue(views, lambda r: ExceptionQuery(state="all")), True),
        Spec("exception counts: open", counts(lambda r: ExceptionQuery()), True),
        Spec(
            "exception counts: open, channel",
            counts(lambda r: ExceptionQuery(channel=pick(r, s.exception_channels))),
            True,
        ),
        Spec("exception counts: open, sku", counts(lambda r: ExceptionQuery(sku=ex_sku(r))), True),
        Spec("exception counts: all", counts(lambda r: ExceptionQuery(state="all")), True),
        # /v1/ops/exceptions/summary
        *(
            Spec(f"exception summary: by {by}, {state}", summary(by, state), True)
            for state in ("open", "all")
            for by in ("customer_id", "sku", "source_id", "channel")
        ),
        # /v1/orders/{id}/audit
        Spec("audit trail: one order", trail, True),
        # /v1/ops/stock
        Spec("stock: first page", stock(), True),
        Spec("stock: one source", stock(source_id=lambda r: r.choice(s.sources)), True),
        Spec("stock: one source, page 2", stock_page_two, True),
        Spec(
            "stock: sku prefix",
            stock(sku_prefix=lambda r: r.choice(s.skus)[: r.choice((7, 8))]),
            True,
        ),
        Spec("stock: short only", stock(short_only=True), True),
        Spec(
            "stock: one source, short only",
            stock(source_id=lambda r: r.choice(s.sources), short_only=True),
            True,
        ),
        # /v1/ops/kpis (14 days, summed by the database)
        Spec("kpis: 14 days, all channels", kpi_days(False), True),
        Spec("kpis: 14 days, one channel", kpi_days(True), True),
    ]
