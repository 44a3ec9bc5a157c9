"""Stock: absolute counts and relative adjustments (the REST side of the stock feed)."""

import asyncio
from typing import Annotated

from fastapi import APIRouter, Depends, Query
from pydantic import Field

from aggregates.errors import DomainError
from hub.api import settling
from hub.api.deps import ActorDep, HubDep, require
from hub.api.params import SkuPath, SourceIdPath
from hub.api.problems import not_found
from hub.services.catalog import StockLevel
from schemas.sources import StockDelta, StockLevelPublic, StockMessage, StockSnapshot
from schemas.submission import Contract
from schemas.types import PlausibleTime, Quantity

router = APIRouter(prefix="/v1/stock", tags=["stock"])
BULK_MAX_ROWS = 10_000


class StockCount(Contract):
    on_hand: Quantity
    safety_stock: Quantity | None = None
    counted_at: PlausibleTime | None = None


@router.put(
    "/{source_id}/{sku}",
    dependencies=[Depends(require("stock:write"))],
    response_model=StockLevelPublic,
)
async def put_stock(
    source_id: SourceIdPath, sku: SkuPath, count: StockCount, hub: HubDep, actor: ActorDep
) -> StockLevelPublic:
    """Set on-hand (and optionally safety stock) for a source and SKU."""
    snapshot = StockSnapshot(source_id=source_id, sku=sku, **count.model_dump())
    level = await asyncio.to_thread(hub.catalog.apply_stock, snapshot, actor)
    await settling.delivered(hub)
    return await get_stock(level.source_id, level.sku, hub)


@router.post(
    "/adjustments", dependencies=[Depends(require("stock:write"))], response_model=StockLevelPublic
)
async def adjust_stock(delta: StockDelta, hub: HubDep, actor: ActorDep) -> StockLevelPublic:
    """Add or remove units (receipts, damages); on-hand can never go below zero."""
    level = await asyncio.to_thread(hub.catalog.apply_stock, delta, actor)
    await settling.delivered(hub)
    return await get_stock(level.source_id, level.sku, hub)


class StockBulk(Contract):
    """Many counts and adjustments at once, e.g. a source's nightly full count."""

    rows: list[StockMessage] = Field(min_length=1, max_length=BULK_MAX_ROWS)


class RefusedRow(Contract):
    row: int = Field(description="Index of the row in `rows`, from 0")
    source_id: str
    sku: str
    reason: str


class StockBulkResult(Contract):
    applied: int
    refused: list[RefusedRow]


@router.post(
    "/bulk", dependencies=[Depends(require("stock:write"))], response_model=StockBulkResult
)
async def bulk_stock(body: StockBulk, hub: HubDep, actor: ActorDep) -> StockBulkResult:
    """Apply up to 10,000 counts (`kind: snapshot`) and adjustments (`kind: delta`) in one
    transaction. A malformed row refuses the whole request (422, with the row's index in each
    field path); a row the domain refuses (unknown source, on-hand below zero) is listed in
    `refused` and changes nothing while the other rows apply - resend only those. While orders
    reserve the same items the rows are recorded in halves, down to single rows; a row that
    still loses every race is refused too ("try again")."""
    results = await asyncio.to_thread(hub.catalog.apply_stock_many, body.rows, actor)
    await settling.delivered(hub)
    refused = [
        RefusedRow(row=index, source_id=row.source_id, sku=row.sku, reason=str(result))
        for index, (row, result) in enumerate(zip(body.rows, results, strict=True))
        if isinstance(result, DomainError)
    ]
    return StockBulkResult(applied=len(results) - len(refused), refused=refused)


@router.get(
    "/{source_id}/{sku}",
    dependencies=[Depends(require("stock:read"))],
    response_model=StockLevelPublic,
)
async def get_stock(source_id: SourceIdPath, sku: SkuPath, hub: HubDep) -> StockLevelPublic:
    levels = await asyncio.to_thread(hub.catalog.stock_levels, source_id, [sku])
    if not levels:
        raise not_found(f"stock for {source_id}/{sku}")
    return _public(levels[0])


@router.get(
    "", dependencies=[Depends(require("stock:read"))], response_model=list[StockLevelPublic]
)
async def availability(
    hub: HubDep, sku: Annotated[list[str], Query(description="One or more SKUs")]
) -> list[StockLevelPublic]:
    """Availability of these SKUs at every source that has a record of them."""

    def levels() -> list[StockLevel]:
        found = []
        for source in hub.catalog.list_sources():
            found += hub.catalog.stock_levels(source.source_id, sku)
        return found

    return [_public(level) for level in await asyncio.to_thread(levels)]


def _public(level: StockLevel) -> StockLevelPublic:
    return StockLevelPublic(
        source_id=level.source_id,
        sku=level.sku,
        on_hand=level.on_hand,
        reserved=level.reserved,
        safety_stock=level.safety_stock,
        available=level.available,
        version=level.version,
    )
