"""The stock view's contract, and the view in memory (tests, and the reference the SQL view
is held to): the same pure fold as projections/stock_levels.py."""

from collections.abc import Sequence
from dataclasses import replace
from typing import Protocol

from projections.base import ReadModel, advance
from projections.stock_rows import (
    FOLLOWER,
    SourceName,
    StockLevel,
    StockPage,
    check_limit,
    decode_cursor,
    fold_batch,
    page_of,
)
from schemas.envelope import EventEnvelope


class StockLevelsView(ReadModel, Protocol):
    def get(self, source_id: str, sku: str) -> StockLevel | None: ...

    def search(
        self,
        source_id: str | None = None,
        sku_prefix: str | None = None,
        short_only: bool = False,
        limit: int = 50,
        after: str | None = None,
    ) -> StockPage:
        """Rows by (source_id, sku); `short_only` keeps those with nothing available; `after`
        is the `next_cursor` of the previous page."""

    def totals_by_sku(self, skus: list[str]) -> dict[str, tuple[int, int]]:
        """(on_hand, available) summed over every source, for each given SKU that has a row."""


# -- in memory -----------------------------------------------------------------------------------


class InMemoryStockLevels:
    name = FOLLOWER

    def __init__(self) -> None:
        self._rows: dict[tuple[str, str], StockLevel] = {}
        self._sources: dict[str, SourceName] = {}
        self._names: dict[str, str] = {}
        self._positions: dict[str, int] = {}

    def apply(self, envelopes: Sequence[EventEnvelope], positions: dict[str, int]) -> None:
        rows, sources = dict(self._rows), dict(self._sources)
        fold_batch(envelopes, rows, sources)  # raises before anything is kept
        self._rows, self._sources = rows, sources
        self._names = {s.source_id: s.name for s in sources.values()}
        advance(self._positions, positions)

    def positions(self) -> dict[str, int]:
        return dict(self._positions)

    def reset(self) -> None:
        self._rows, self._sources, self._names, self._positions = {}, {}, {}, {}

    def get(self, source_id: str, sku: str) -> StockLevel | None:
        row = self._rows.get((source_id, sku))
        return None if row is None else self._named(row)

    def search(
        self,
        source_id: str | None = None,
        sku_prefix: str | None = None,
        short_only: bool = False,
        limit: int = 50,
        after: str | None = None,
    ) -> StockPage:
        check_limit(limit)
        start = decode_cursor(after) if after is not None else None
        found: list[StockLevel] = []
        for key in sorted(self._rows):
            row = self._rows[key]
            if start is not None and key <= start:
                continue
            if source_id is not None and row.source_id != source_id:
                continue
            if sku_prefix and not row.sku.startswith(sku_prefix):
                continue
            if short_only and row.available != 0:
                continue
            found.append(self._named(row))
            if len(found) > limit:
                break
        return page_of(found, limit)

    def totals_by_sku(self, skus: list[str]) -> dict[str, tuple[int, int]]:
        wanted = set(skus)
        totals: dict[str, tuple[int, int]] = {}
        for row in self._rows.values():
            if row.sku in wanted:
                on_hand, available = totals.get(row.sku, (0, 0))
                totals[row.sku] = (on_hand + row.on_hand, available + row.available)
        return totals

    def _named(self, row: StockLevel) -> StockLevel:
        return replace(row, source_name=self._names.get(row.source_id, row.source_id))
