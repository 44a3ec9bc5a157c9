"""The exception queue: what needs a person, filtered, counted per kind, summarised, and the
two things done to an exception from the queue itself (resolve, assign)."""

import asyncio
from dataclasses import dataclass, replace
from datetime import datetime
from typing import Any
from urllib.parse import quote

from fastapi import APIRouter, Request, Response
from fastapi.responses import HTMLResponse

from hub.api.console.auth import Actor, Reader, may_act
from hub.api.console.formatting import KIND_LABELS, duration, parse_time
from hub.api.console.web import (
    ConsoleRoute,
    FieldMissing,
    current_url,
    field,
    hub_of,
    page_size,
    param,
    params,
    perform,
    read_form,
    render,
    safe_back,
    see_other,
    url_with,
    with_message,
)
from hub.bootstrap import Hub
from hub.services.ops_queries import SUMMARY_KEYS, OpsQueries, QueryError, age
from projections.exception_rules import KINDS, ExceptionRow
from projections.exceptions import ExceptionQuery

router = APIRouter(route_class=ConsoleRoute)
PAGE_SIZE = 50
STATES = ("open", "resolved", "all")
SEVERITIES = ("high", "medium", "low")
SUMMARY_LABELS = {"customer": "Customer", "sku": "SKU", "source": "Source", "channel": "Channel"}
SUMMARY_FILTER = {"customer": "customer", "sku": "sku", "source": "source", "channel": "channel"}


@dataclass(frozen=True)
class QueueLine:
    row: ExceptionRow
    external_id: str
    age: str


def choice(request: Request, name: str, allowed: tuple[str, ...], notes: list[str]) -> str | None:
    value = param(request, name)
    if value is not None and value not in allowed:
        notes.append(f"Unknown {name} {value!r} ignored; choose one of: {', '.join(allowed)}.")
        return None
    return value


def _lines(hub: Hub, rows: list[ExceptionRow]) -> list[QueueLine]:
    now = hub.clock()
    found = hub.order_status.get_many(sorted({r.order_id for r in rows if r.order_id}))
    external = {r.order_id: r.order_id[:8] for r in rows if r.order_id}
    external.update({order_id: status.external_id for order_id, status in found.items()})
    return [QueueLine(r, external.get(r.order_id, ""), duration(age(r, now))) for r in rows]


@router.get("/exceptions")
async def exception_queue(request: Request, principal: Reader) -> HTMLResponse:
    hub = hub_of(request)
    queries = OpsQueries(hub)
    notes: list[str] = []
    state = choice(request, "state", STATES, notes) or "open"
    if param(request, "view") == "summary":
        return await _summary(request, queries, state, notes)
    kinds = []
    for kind in params(request, "kind"):
        if kind in KINDS:
            kinds.append(kind)
        else:
            notes.append(f"Unknown kind {kind!r} ignored.")
    query = ExceptionQuery(
        kinds=tuple(kinds),
        severity=choice(request, "severity", SEVERITIES, notes),
        channel=param(request, "channel"),
        customer_id=param(request, "customer"),
        sku=param(request, "sku"),
        source_id=param(request, "source"),
        assignee=param(request, "assignee"),
        state=state,  # type: ignore[arg-type]
        limit=page_size(request, PAGE_SIZE),
        after=param(request, "after"),
    )
    status = 200
    try:
        page, counts = await asyncio.to_thread(queries.exceptions, query)
    except QueryError as error:
        notes.append(f"This page link is not valid any more ({error}); here is the first page.")
        status = 400
        page, counts = await asyncio.to_thread(queries.exceptions, replace(query, after=None))
    lines = await asyncio.to_thread(_lines, hub, page.rows)
    sources = await asyncio.to_thread(hub.catalog.list_sources)
    chips = [
        {
            "label": "All kinds",
            "count": sum(counts.values()),
            "url": url_with(request, kind=None, after=None),
            "active": not kinds,
        }
    ] + [
        {
            "label": KIND_LABELS.get(kind, kind),
            "count": counts.get(kind, 0),
            "url": url_with(request, kind=kind, after=None),
            "active": kinds == [kind],
            "kind": kind,
        }
        for kind in KINDS
    ]
    total = sum(counts.get(k, 0) for k in kinds) if kinds else sum(counts.values())
    return render(
        request,
        "exceptions.html",
        code=status,
        title="Exception queue",
        notes=notes,
        lines=lines,
        chips=chips,
        total=total,
        state=state,
        filters={
            "kind": kinds[0] if len(kinds) == 1 else "",
            "severity": query.severity or "",
            "channel": query.channel or "",
            "customer": query.customer_id or "",
            "sku": query.sku or "",
            "source": query.source_id or "",
            "assignee": query.assignee or "",
        },
        kinds=[(k, KIND_LABELS.get(k, k)) for k in KINDS],
        severities=SEVERITIES,
        states=STATES,
        sources=sorted(s.source_id for s in sources),
        next_url=url_with(request, after=page.next_cursor) if page.next_cursor else None,
        first_url=url_with(request, after=None) if query.after else None,
        back=current_url(request),
        may_act=may_act(principal),
        summary_links=_summary_links(request, state),
    )


def _summary_links(request: Request, state: str) -> list[dict[str, Any]]:
    return [
        {"label": label, "url": f"/console/exceptions?view=summary&by={by}&state={state}"}
        for by, label in SUMMARY_LABELS.items()
    ]


async def _summary(
    request: Request, queries: OpsQueries, state: str, notes: list[str]
) -> HTMLResponse:
    by = choice(request, "by", tuple(SUMMARY_KEYS), notes) or "customer"
    rows = await asyncio.to_thread(queries.summary, by, state)
    now = queries.now()
    groups = [
        {
            "key": row.key,
            "open": row.open,
            "high": row.high,
            "oldest": row.oldest_opened_at,
            "age": duration(now - _time(row.oldest_opened_at, now)),
            "url": f"/console/exceptions?{SUMMARY_FILTER[by]}={_quote(row.key)}&state={state}",
        }
        for row in rows
    ]
    return render(
        request,
        "exception_summary.html",
        title=f"Exceptions by {SUMMARY_LABELS[by] if by == 'sku' else by}",
        notes=notes,
        by=by,
        by_label=SUMMARY_LABELS[by],
        state=state,
        states=STATES,
        groups=groups,
        summary_links=_summary_links(request, state),
    )


def _time(text: str, default: datetime) -> datetime:
    return parse_time(text) or default


def _quote(text: str) -> str:
    return quote(text, safe="")


# -- actions on one exception ---------------------------------------------------------------


def _back(form: dict[str, str], hub: Hub, exception_id: str) -> str:
    row = hub.exceptions.get(exception_id)
    default = f"/console/orders/{row.order_id}" if row is not None and row.order_id else "/console"
    return safe_back(form.get("back"), default)


@router.post("/exceptions/{exception_id}/resolve")
async def resolve_exception(exception_id: str, request: Request, principal: Actor) -> Response:
    hub = hub_of(request)
    form = await read_form(request)
    back = await asyncio.to_thread(_back, form, hub, exception_id)
    try:
        note = field(form, "note", "a note saying how it was resolved")
    except FieldMissing as error:
        return see_other(with_message(back, error=str(error)))
    return await perform(
        hub,
        lambda: hub.ops.resolve_exception(exception_id, note, principal.actor),
        back,
        "Exception resolved.",
    )


@router.post("/exceptions/{exception_id}/assign")
async def assign_exception(exception_id: str, request: Request, principal: Actor) -> Response:
    hub = hub_of(request)
    form = await read_form(request)
    back = await asyncio.to_thread(_back, form, hub, exception_id)
    try:
        assignee = field(form, "assignee", "who takes it", max_length=128)
    except FieldMissing as error:
        return see_other(with_message(back, error=str(error)))
    return await perform(
        hub,
        lambda: hub.ops.assign_exception(exception_id, assignee, principal.actor),
        back,
        f"Exception assigned to {assignee}.",
    )
