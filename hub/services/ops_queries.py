"""The read side the console and the ops API share: queries over the views, as plain data."""

from collections.abc import Callable
from dataclasses import asdict
from datetime import date, datetime, timedelta
from typing import Any, Protocol

from projections.exception_rules import ExceptionRow
from projections.exceptions import (
    ExceptionPage,
    ExceptionQuery,
    SqlExceptionQueue,
    SummaryBy,
    SummaryRow,
)
from projections.kpis import DayKpis, day_range
from projections.order_query import BadCursorError, OrderPage, OrderQuery
from projections.order_rows import OrderStatusRow
from projections.order_status import SqlOrderStatusView
from projections.stock_levels import SqlStockLevels
from projections.stock_rows import StockLevel, StockPage

MAX_KPI_DAYS = 92
SUMMARY_KEYS: dict[str, SummaryBy] = {
    "customer": "customer_id",
    "sku": "sku",
    "source": "source_id",
    "channel": "channel",
}


class QueryError(ValueError):
    def __init__(self, field: str, message: str) -> None:
        super().__init__(message)
        self.field = field


class Views(Protocol):
    """What the queries read (the hub has them)."""

    @property
    def clock(self) -> Callable[[], datetime]: ...

    @property
    def order_status(self) -> SqlOrderStatusView: ...

    @property
    def exceptions(self) -> SqlExceptionQueue: ...

    @property
    def stock_levels(self) -> SqlStockLevels: ...


class OpsQueries:
    def __init__(self, hub: Views) -> None:
        self.hub = hub

    def now(self) -> datetime:
        return self.hub.clock()

    def orders(self, query: OrderQuery) -> OrderPage:
        try:
            return self.hub.order_status.search(query)
        except BadCursorError as error:
            raise QueryError("after", str(error)) from None

    def exceptions(self, query: ExceptionQuery) -> tuple[ExceptionPage, dict[str, int]]:
        try:
            page = self.hub.exceptions.queue(query)
        except BadCursorError as error:
            raise QueryError("after", str(error)) from None
        return page, self.hub.exceptions.counts(query)

    def summary(self, by: str, state: str, channel: str | None = None) -> list[SummaryRow]:
        query = ExceptionQuery(state=state, channel=channel)  # type: ignore[arg-type]
        return self.hub.exceptions.summary(SUMMARY_KEYS[by], query)

    def stock(
        self, source: str | None, sku: str | None, short: bool, limit: int, after: str | None
    ) -> StockPage:
        try:
            return self.hub.stock_levels.search(source, sku, short, limit, after)
        except ValueError as error:
            raise QueryError("after", str(error)) from None

    def kpis(self, start: date | None, end: date | None, channel: str | None) -> list[DayKpis]:
        end = end or self.now().date()
        try:
            start = start or end - timedelta(days=13)
            low, high = day_range(start, end)
        except OverflowError:
            raise QueryError("to", "to: a date this close to the calendar's edge") from None
        if start > end:
            raise QueryError("from", "from: must not be after to")
        if (end - start).days >= MAX_KPI_DAYS:
            raise QueryError("from", f"from: at most {MAX_KPI_DAYS} days at once")
        return self.hub.order_status.kpi_days(low, high, channel)

    def order_json(self, row: OrderStatusRow) -> dict[str, Any]:
        data = asdict(row)
        data.pop("fulfillment")
        data.pop("digest")
        return data

    def exception_json(self, row: ExceptionRow) -> dict[str, Any]:
        data = asdict(row)
        data["open"] = row.is_open
        data["age_seconds"] = int(age(row, self.now()).total_seconds())
        return data

    def stock_json(self, row: StockLevel) -> dict[str, Any]:
        return asdict(row)


def age(row: ExceptionRow, now: datetime) -> timedelta:
    """How long it has been (or was) open."""
    end = datetime.fromisoformat(row.resolved_at) if row.resolved_at else now
    return max(timedelta(0), end - datetime.fromisoformat(row.opened_at))
