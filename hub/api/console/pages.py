"""Order search, stock and KPIs: read-only pages over the views."""

import asyncio
from dataclasses import replace
from datetime import date, timedelta

from fastapi import APIRouter, Request
from fastapi.responses import HTMLResponse

from aggregates.order import OrderStatus
from hub.api.console import charts
from hub.api.console.auth import Reader, StockReader
from hub.api.console.web import ConsoleRoute, hub_of, page_size, param, params, render, url_with
from hub.services.ops_queries import OpsQueries, QueryError
from projections import kpis as kpi_module
from projections.order_query import OrderQuery

router = APIRouter(route_class=ConsoleRoute)
PAGE_SIZE = 50
SORTS = {"placed_at": "Placed", "updated_at": "Last change"}


# Dates people mean; beyond them date arithmetic would overflow.
FIRST_DAY, LAST_DAY = date(1900, 1, 1), date(2999, 12, 31)


def day_param(request: Request, name: str, label: str, notes: list[str]) -> date | None:
    value = param(request, name)
    if value is None:
        return None
    try:
        day = date.fromisoformat(value)
    except ValueError:
        notes.append(f"{label}: {value!r} is not a date (YYYY-MM-DD); ignored.")
        return None
    if not FIRST_DAY <= day <= LAST_DAY:
        years = f"{FIRST_DAY.year} to {LAST_DAY.year}"
        notes.append(f"{label}: {value!r} is outside the years {years}; ignored.")
        return None
    return day


@router.get("/orders")
async def orders(request: Request, _: Reader) -> HTMLResponse:
    hub = hub_of(request)
    notes: list[str] = []
    statuses = [s.value for s in OrderStatus]
    chosen = [s for s in params(request, "status") if s in statuses]
    placed_from = day_param(request, "placed_from", "Placed from", notes)
    placed_to = day_param(request, "placed_to", "Placed to", notes)
    sort = param(request, "sort") or "placed_at"
    if sort not in SORTS:
        notes.append(f"Unknown sort {sort!r}; sorted by placed time.")
        sort = "placed_at"
    direction = "asc" if param(request, "order") == "asc" else "desc"
    query = OrderQuery(
        status=tuple(chosen),
        channel=param(request, "channel"),
        customer_id=param(request, "customer"),
        sku=param(request, "sku"),
        source_id=param(request, "source"),
        placed_from=placed_from.isoformat() if placed_from else None,
        # The form's "to" day is included: the view's bound is exclusive.
        placed_to=(placed_to + timedelta(days=1)).isoformat() if placed_to else None,
        text=param(request, "q"),
        sort=sort,  # type: ignore[arg-type]
        descending=direction == "desc",
        limit=page_size(request, PAGE_SIZE),
        after=param(request, "after"),
    )
    queries = OpsQueries(hub)
    status = 200
    try:
        page = await asyncio.to_thread(queries.orders, query)
    except QueryError as error:
        notes.append(f"This page link is not valid any more ({error}); here is the first page.")
        status = 400
        page = await asyncio.to_thread(queries.orders, replace(query, after=None))
    sources = await asyncio.to_thread(hub.catalog.list_sources)
    return render(
        request,
        "orders.html",
        code=status,
        title="Orders",
        notes=notes,
        rows=page.rows,
        statuses=statuses,
        chosen=chosen,
        sorts=SORTS,
        sort=sort,
        direction=direction,
        filters={
            "channel": query.channel or "",
            "customer": query.customer_id or "",
            "sku": query.sku or "",
            "source": query.source_id or "",
            "q": query.text or "",
            "placed_from": placed_from.isoformat() if placed_from else "",
            "placed_to": placed_to.isoformat() if placed_to else "",
        },
        sources=sorted(s.source_id for s in sources),
        next_url=url_with(request, after=page.next_cursor) if page.next_cursor else None,
        first_url=url_with(request, after=None) if query.after else None,
    )


@router.get("/stock")
async def stock(request: Request, _: StockReader) -> HTMLResponse:
    hub = hub_of(request)
    notes: list[str] = []
    source = param(request, "source")
    sku = param(request, "sku")
    short = param(request, "short") in ("1", "on", "true", "yes")
    after = param(request, "after")
    limit = page_size(request, PAGE_SIZE)
    queries = OpsQueries(hub)
    status = 200
    try:
        page = await asyncio.to_thread(queries.stock, source, sku, short, limit, after)
    except QueryError as error:
        notes.append(f"This page link is not valid any more ({error}); here is the first page.")
        status = 400
        page = await asyncio.to_thread(queries.stock, source, sku, short, limit, None)
    sources = await asyncio.to_thread(hub.catalog.list_sources)
    return render(
        request,
        "stock.html",
        code=status,
        title="Stock",
        notes=notes,
        rows=page.rows,
        filters={"source": source or "", "sku": sku or "", "short": short},
        sources=sorted((s.source_id, str(s.definition.get("name") or "")) for s in sources),
        next_url=url_with(request, after=page.next_cursor) if page.next_cursor else None,
        first_url=url_with(request, after=None) if after else None,
    )


def definitions() -> list[tuple[str, str]]:
    """The KPI definitions, from the module that computes them (one source of truth)."""
    found = []
    for line in (kpi_module.__doc__ or "").splitlines():
        if line.startswith("- ") and ":" in line:
            term, text = line[2:].split(":", 1)
            found.append((term.strip().capitalize(), text.strip().rstrip(";.") + "."))
    return found


@router.get("/kpis")
async def kpis(request: Request, _: Reader) -> HTMLResponse:
    hub = hub_of(request)
    notes: list[str] = []
    end = day_param(request, "to", "To", notes) or hub.clock().date()
    start = day_param(request, "from", "From", notes) or end - timedelta(days=13)
    channel = param(request, "channel")
    queries = OpsQueries(hub)
    status = 200
    try:
        rows = await asyncio.to_thread(queries.kpis, start, end, channel)
    except QueryError as error:
        notes.append(f"{error}; showing the 14 days up to {end.isoformat()}.")
        status = 400
        start = end - timedelta(days=13)
        rows = await asyncio.to_thread(queries.kpis, start, end, channel)
    days = [(start + timedelta(days=n)).isoformat() for n in range((end - start).days + 1)]
    channels = sorted({r.channel for r in rows})
    return render(
        request,
        "kpis.html",
        code=status,
        title="KPIs",
        notes=notes,
        rows=sorted(sorted(rows, key=lambda r: r.channel), key=lambda r: r.day, reverse=True),
        start=start.isoformat(),
        end=end.isoformat(),
        channel=channel or "",
        channels=[(i, c) for i, c in enumerate(channels)],
        orders_chart=charts.orders_bars(rows, days, channels),
        on_time_chart=charts.rate_lines(rows, days, channels, "on_time_rate", "On-time rate"),
        fill_chart=charts.rate_lines(rows, days, channels, "fill_rate", "Fill rate"),
        definitions=definitions(),
    )
