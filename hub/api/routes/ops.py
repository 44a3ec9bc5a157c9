"""Operations read models and actions over JSON: search, exceptions, audit, stock, KPIs."""

import asyncio
import json
from dataclasses import asdict
from datetime import timedelta
from enum import StrEnum
from typing import Annotated, Any, Literal
from uuid import UUID

from fastapi import APIRouter, Depends, Query
from pydantic import BaseModel, Field

from aggregates.order_states import OrderStatus
from hub.api import settling
from hub.api.deps import HubDep, require
from hub.api.params import ReferencePath
from hub.api.problems import ProblemError, not_found
from hub.services.access import Principal
from hub.services.ops_queries import OpsQueries, QueryError
from projections.exceptions import KINDS, ExceptionQuery
from projections.order_query import OrderQuery
from schemas.problems import FieldProblem, Problem
from schemas.types import PlausibleDate

router = APIRouter(tags=["operations"])
Reader = Annotated[Principal, Depends(require("orders:read"))]
Actor = Annotated[Principal, Depends(require("orders:act"))]
StockReader = Annotated[Principal, Depends(require("stock:read"))]


def _bad_query(error: QueryError) -> ProblemError:
    return ProblemError(
        Problem(
            type="/problems/invalid-query",
            title="The query is not valid",
            status=422,
            errors=[FieldProblem(field=error.field, message=str(error), code="invalid")],
        )
    )


def _queries(hub: HubDep) -> OpsQueries:
    return OpsQueries(hub)


Queries = Annotated[OpsQueries, Depends(_queries)]
# Named, so that a misspelt kind is a 422, not a queue that looks empty.
ExceptionKind = StrEnum("ExceptionKind", {kind: kind for kind in KINDS})  # type: ignore[misc]


@router.get("/v1/ops/orders")
async def search_orders(
    queries: Queries,
    principal: Reader,
    # The statuses are named, so a misspelt one is a 422, not a search that finds nothing.
    status: Annotated[list[OrderStatus], Query()] = [],  # noqa: B006 (FastAPI copies defaults)
    channel: str | None = None,
    customer: str | None = None,
    sku: str | None = None,
    source: str | None = None,
    placed_from: PlausibleDate | None = None,
    placed_to: PlausibleDate | None = None,
    q: str | None = Query(default=None, description="External id, case-insensitive prefix"),
    sort: Literal["placed_at", "updated_at"] = "placed_at",
    order: Literal["asc", "desc"] = "desc",
    limit: int = Query(default=50, ge=1, le=500),
    after: str | None = None,
) -> dict[str, Any]:
    """Orders by status, channel, customer, SKU, source, placed date and external id."""
    if principal.channel_id is not None:
        channel = principal.channel_id  # a channel sees its own orders only
    query = OrderQuery(
        status=tuple(s.value for s in status),
        channel=channel,
        customer_id=customer,
        sku=sku,
        source_id=source,
        placed_from=placed_from.isoformat() if placed_from else None,
        # Both dates are included: "to" is the last day searched.
        placed_to=(placed_to + timedelta(days=1)).isoformat() if placed_to else None,
        text=q or None,
        sort=sort,
        descending=order == "desc",
        limit=limit,
        after=after,
    )
    try:
        page = await asyncio.to_thread(queries.orders, query)
    except QueryError as error:
        raise _bad_query(error) from None
    return {"orders": [queries.order_json(r) for r in page.rows], "next": page.next_cursor}


@router.get("/v1/ops/exceptions")
async def exception_queue(
    queries: Queries,
    principal: Reader,
    kind: Annotated[list[ExceptionKind], Query()] = [],  # noqa: B006
    severity: Literal["high", "medium", "low"] | None = None,
    channel: str | None = None,
    customer: str | None = None,
    sku: str | None = None,
    source: str | None = None,
    assignee: str | None = None,
    state: Literal["open", "resolved", "all"] = "open",
    limit: int = Query(default=50, ge=1, le=500),
    after: str | None = None,
) -> dict[str, Any]:
    """The queue, most severe and oldest first, with counts per kind for the same filters."""
    if principal.channel_id is not None:
        channel = principal.channel_id  # a channel sees its own exceptions only
    query = ExceptionQuery(
        kinds=tuple(k.value for k in kind),
        severity=severity,
        channel=channel,
        customer_id=customer,
        sku=sku,
        source_id=source,
        assignee=assignee,
        state=state,
        limit=limit,
        after=after,
    )
    try:
        page, counts = await asyncio.to_thread(queries.exceptions, query)
    except QueryError as error:
        raise _bad_query(error) from None
    return {
        "exceptions": [queries.exception_json(r) for r in page.rows],
        "counts": counts,
        "next": page.next_cursor,
    }


@router.get("/v1/ops/exceptions/summary")
async def exception_summary(
    queries: Queries,
    principal: Reader,
    by: Literal["customer", "sku", "source", "channel"] = "customer",
    state: Literal["open", "resolved", "all"] = "open",
) -> dict[str, Any]:
    rows = await asyncio.to_thread(queries.summary, by, state, principal.channel_id)
    return {"by": by, "groups": [asdict(r) for r in rows]}


class Resolve(BaseModel):
    note: str = Field(min_length=1, max_length=500)


class Assign(BaseModel):
    assignee: str = Field(min_length=1, max_length=128)


@router.post("/v1/ops/exceptions/{exception_id}/resolve")
async def resolve_exception(
    exception_id: ReferencePath, body: Resolve, hub: HubDep, principal: Actor
) -> dict[str, str]:
    await asyncio.to_thread(hub.ops.resolve_exception, exception_id, body.note, principal.actor)
    await settling.delivered_quietly(hub)
    return {"exception_id": exception_id, "resolved_by": principal.actor}


@router.post("/v1/ops/exceptions/{exception_id}/assign")
async def assign_exception(
    exception_id: ReferencePath, body: Assign, hub: HubDep, principal: Actor
) -> dict[str, str]:
    await asyncio.to_thread(hub.ops.assign_exception, exception_id, body.assignee, principal.actor)
    await settling.delivered_quietly(hub)
    return {"exception_id": exception_id, "assignee": body.assignee}


class Reroute(BaseModel):
    source_id: str = Field(min_length=1, max_length=128)
    reason: str = Field(min_length=1, max_length=500)


@router.post("/v1/orders/{order_id}/reroute", status_code=202)
async def reroute_order(
    order_id: UUID, body: Reroute, hub: HubDep, principal: Actor
) -> dict[str, Any]:
    """Send the order to a chosen source (before it ships), with the reason, as the user."""
    withdrawn = await asyncio.to_thread(
        hub.ops.reroute, order_id, body.source_id, body.reason, principal.actor
    )
    await settling.delivered_quietly(hub)
    return {"order_id": str(order_id), "source_id": body.source_id, "withdrawn": withdrawn}


@router.get("/v1/orders/{order_id}/audit")
async def audit_trail(order_id: UUID, hub: HubDep, principal: Reader) -> dict[str, Any]:
    """Every event of the order: time, actor, type, a one-line summary and the full data."""
    row = await asyncio.to_thread(hub.order_status.get, str(order_id))
    if row is None or not principal.may_see_channel(row.channel):
        raise not_found(f"order {order_id}")
    entries = await asyncio.to_thread(hub.audit.trail, str(order_id))
    return {
        "order_id": str(order_id),
        "events": [{**asdict(e), "data": json.loads(e.data)} for e in entries],
    }


@router.get("/v1/ops/stock")
async def stock(
    queries: Queries,
    _: StockReader,
    source: str | None = None,
    sku: str | None = Query(default=None, description="SKU prefix"),
    short: bool = False,
    limit: int = Query(default=50, ge=1, le=500),
    after: str | None = None,
) -> dict[str, Any]:
    try:
        page = await asyncio.to_thread(queries.stock, source, sku, short, limit, after)
    except QueryError as error:
        raise _bad_query(error) from None
    return {"stock": [queries.stock_json(r) for r in page.rows], "next": page.next_cursor}


@router.get("/v1/ops/kpis")
async def kpis(
    queries: Queries,
    principal: Reader,
    start: Annotated[PlausibleDate | None, Query(alias="from")] = None,
    end: Annotated[PlausibleDate | None, Query(alias="to")] = None,
    channel: str | None = None,
) -> dict[str, Any]:
    """Per channel and day (placed date, UTC); the last 14 days when no range is given."""
    if principal.channel_id is not None:
        channel = principal.channel_id
    try:
        days = await asyncio.to_thread(queries.kpis, start, end, channel)
    except QueryError as error:
        raise _bad_query(error) from None
    return {"days": [asdict(d) for d in days]}
