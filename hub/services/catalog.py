"""Sources and stock: register, redefine, pause and resume sources; count and adjust stock."""

from collections.abc import Callable, Iterable, Sequence
from dataclasses import dataclass
from datetime import datetime
from typing import TypeVar
from uuid import UUID

from eventsourcing.domain import Aggregate

from aggregates.directory import Directory, directory_id
from aggregates.errors import DomainError, StockError
from aggregates.ids import source_aggregate_id, stock_item_id
from aggregates.source import FulfillmentSource
from aggregates.stock import StockItem
from hub.services.conflicts import retried
from hub.services.kept_stock import KeptStock
from hub.services.lookup import find, find_many
from hub.services.stock_halves import FeedPosition, Halves, KeepRefused, Row
from hub.store import OrderStore
from schemas.sources import SourceDefinition, StockDelta, StockSnapshot

SOURCES = "sources"
T = TypeVar("T")


class UnknownSourceError(DomainError):
    def __init__(self, source_id: str) -> None:
        super().__init__(f"no fulfillment source {source_id!r} is registered")
        self.source_id = source_id


@dataclass(frozen=True)
class StockLevel:
    source_id: str
    sku: str
    on_hand: int
    reserved: int
    safety_stock: int
    available: int
    version: int


class CatalogService:
    def __init__(self, store: OrderStore, clock: Callable[[], datetime]) -> None:
        self._store = store
        self._clock = clock
        # Stock items read by the batches of stock rows (and shipments: hub.bootstrap), kept.
        self.stock = KeptStock(store)
        # Sources seen registered: a source is never removed (only paused), so a batch of
        # stock rows need not load them again (a stock load read ~100 every batch).
        self._known_sources: set[str] = set()

    def register_source(self, definition: SourceDefinition, actor: str) -> tuple[bool, int]:
        """Create the source, or redefine it when it exists; returns (created, version).

        New sources are added to the one directory of sources in the same transaction, so two
        sources registered at once conflict there (and the same source registered twice, on
        the source itself): the loser re-reads and tries again, which always makes progress.
        """
        return retried(
            f"source {definition.source_id!r}", lambda: self._register(definition, actor)
        )

    def _register(self, definition: SourceDefinition, actor: str) -> tuple[bool, int]:
        now = self._clock()
        body = definition.model_dump(mode="json")
        existing = self.find_source(definition.source_id)
        if existing is not None:
            existing.redefine(body, actor=actor, at=now)
            self._store.save(existing)
            return False, existing.version
        source = FulfillmentSource(
            source_id=definition.source_id, definition=body, actor=actor, at=now
        )
        directory = self._directory(SOURCES)
        directory.add(definition.source_id)
        self._store.save(source, directory)
        return True, source.version

    def pause_source(self, source_id: str, reason: str, actor: str) -> FulfillmentSource:
        def pause() -> FulfillmentSource:
            source = self.get_source(source_id)
            source.pause(reason, actor=actor, at=self._clock())
            self._store.save(source)
            return source

        return retried(f"source {source_id!r}", pause)

    def resume_source(self, source_id: str, actor: str) -> FulfillmentSource:
        def resume() -> FulfillmentSource:
            source = self.get_source(source_id)
            source.resume(actor=actor, at=self._clock())
            self._store.save(source)
            return source

        return retried(f"source {source_id!r}", resume)

    def get_source(self, source_id: str) -> FulfillmentSource:
        source = self.find_source(source_id)
        if source is None:
            raise UnknownSourceError(source_id)
        return source

    def find_source(self, source_id: str) -> FulfillmentSource | None:
        return self._find(source_aggregate_id(source_id), FulfillmentSource)

    def list_sources(self) -> list[FulfillmentSource]:
        directory = self._find(directory_id(SOURCES), Directory)
        names = directory.names if directory is not None else []
        found = [self.find_source(name) for name in names]
        return [s for s in found if s is not None]

    def apply_stock(
        self,
        message: StockSnapshot | StockDelta,
        actor: str,
        position: FeedPosition | None = None,
    ) -> StockLevel:
        """Apply one stock-feed message; unknown sources and impossible counts are refused.

        A conflict (the item reserved or counted meanwhile) is retried on the fresh item: a
        failed save recorded nothing, so a delta is still applied exactly once. A message read
        from a feed `position` that its item has applied already changes nothing.
        """
        return retried(
            f"stock of {message.sku!r} at {message.source_id!r}",
            lambda: self._apply_stock(message, actor, position),
        )

    def _apply_stock(
        self, message: StockSnapshot | StockDelta, actor: str, position: FeedPosition | None
    ) -> StockLevel:
        self.get_source(message.source_id)
        found = self.find_stock(message.source_id, message.sku)
        if found is not None and position is not None and found.already_fed(*position):
            return level_of(found)
        item = _applied(message, found, actor, self._clock(), position)
        self._store.save(item)
        return level_of(item)

    def apply_stock_many(
        self,
        messages: Sequence[StockSnapshot | StockDelta],
        actor: str,
        positions: Sequence[FeedPosition | None] | None = None,
        keep_refused: KeepRefused | None = None,
    ) -> list[StockLevel | DomainError]:
        """Apply many stock-feed messages in one event-store transaction (bulk loads, feeds).

        The answer has one entry per message, in order: its new level, or the domain error that
        refused it (unknown source, on-hand below zero) - a refused row changes nothing and the
        others still apply. Rows for the same source and SKU apply one after the other. If a
        reservation lands on one of the items meanwhile, nothing was written and the batch is
        applied again on fresh items (a delta is never applied twice), in halves while it keeps
        conflicting (hub.services.stock_halves). With `positions` (one
        per message, from a feed), a message its item has applied already changes nothing: a
        batch delivered again is applied once. `keep_refused` gives what to save with the
        batch, in its transaction, about the refused rows: a record of a refusal cannot be lost
        while a later row of the same item, saved, moved the item's offset past the refused one
        (a redelivery would then skip the row, and never refuse it again).
        """
        where: list[FeedPosition | None] = [None] * len(messages)
        if positions is not None:
            where = list(positions)

        def apply(
            rows: list[Row], at: list[FeedPosition | None], keep: KeepRefused | None
        ) -> list[StockLevel | DomainError]:
            return self._apply_stock_batch(rows, actor, at, keep)

        # Without feed positions (REST) a resent row is not recognised: conflicts and a failure
        # after a part was recorded are answered per row instead of raised.
        return Halves(apply, answer=positions is None).run(list(messages), where, keep_refused)

    def _apply_stock_batch(
        self,
        messages: Sequence[StockSnapshot | StockDelta],
        actor: str,
        positions: Sequence[FeedPosition | None],
        keep_refused: KeepRefused | None = None,
    ) -> list[StockLevel | DomainError]:
        now = self._clock()
        known = self._known(m.source_id for m in messages)
        keys = {stock_item_id(m.source_id, m.sku): (m.source_id, m.sku) for m in messages}
        found = self.stock.load(i for i, (source_id, _) in keys.items() if source_id in known)
        items: dict[tuple[str, str], StockItem | None] = {k: found.get(i) for i, k in keys.items()}
        touched: dict[tuple[str, str], StockItem] = {}
        results: list[StockLevel | DomainError] = []
        for message, position in zip(messages, positions, strict=True):
            if message.source_id not in known:
                results.append(UnknownSourceError(message.source_id))
                continue
            key = (message.source_id, message.sku)
            current = items[key]
            if current is not None and position is not None and current.already_fed(*position):
                results.append(level_of(current))  # delivered again: applied before
                continue
            try:
                item = _applied(message, current, actor, now, position)
            except DomainError as refused:
                results.append(refused)
                continue
            items[key] = touched[key] = item
            results.append(level_of(item))
        kept: Sequence[Aggregate] = ()
        if keep_refused is not None:
            kept = keep_refused(
                [(i, r) for i, r in enumerate(results) if isinstance(r, DomainError)]
            )
        if touched or kept:
            self._store.save(*touched.values(), *kept)
            self.stock.keep(touched.values())
        return results

    def _known(self, source_ids: Iterable[str]) -> set[str]:
        """Which of these sources are registered; those not seen registered before are read
        in one query (an unknown source is asked again: it may be registered since)."""
        wanted = dict.fromkeys(source_ids)
        unseen = {source_aggregate_id(s): s for s in wanted if s not in self._known_sources}
        if unseen:
            found = find_many(self._store, unseen, FulfillmentSource)
            self._known_sources.update(unseen[i] for i in found)
        return {s for s in wanted if s in self._known_sources}

    def find_stock(self, source_id: str, sku: str) -> StockItem | None:
        return self._find(stock_item_id(source_id, sku), StockItem)

    def stock_levels(self, source_id: str, skus: list[str]) -> list[StockLevel]:
        items = [self.find_stock(source_id, sku) for sku in skus]
        return [level_of(i) for i in items if i is not None]

    def _directory(self, kind: str) -> Directory:
        return self._find(directory_id(kind), Directory) or Directory(kind=kind)

    def _find(self, aggregate_id: UUID, kind: type[T]) -> T | None:
        return find(self._store, aggregate_id, kind)


def _applied(
    message: StockSnapshot | StockDelta,
    item: StockItem | None,
    actor: str,
    now: datetime,
    position: FeedPosition | None = None,
) -> StockItem:
    """The item with the message applied (a new one when the source had no record of the SKU)."""
    feed, offset = position if position is not None else (None, None)
    if isinstance(message, StockSnapshot):
        if item is None:
            return StockItem(
                source_id=message.source_id,
                sku=message.sku,
                on_hand=message.on_hand,
                safety_stock=message.safety_stock or 0,
                at=message.counted_at or now,
                feed=feed,
                offset=offset,
            )
        item.count(
            message.on_hand,
            message.safety_stock,
            at=message.counted_at or now,
            reason=actor,
            feed=feed,
            offset=offset,
        )
        return item
    if item is None:
        if message.delta < 0:
            raise StockError(
                f"{message.source_id}/{message.sku}: on-hand 0 cannot go down by {-message.delta}"
            )
        item = StockItem(
            source_id=message.source_id, sku=message.sku, on_hand=0, safety_stock=0, at=now
        )
    item.adjust(message.delta, at=now, reason=message.reason, feed=feed, offset=offset)
    return item


def level_of(item: StockItem) -> StockLevel:
    return StockLevel(
        source_id=item.source_id,
        sku=item.sku,
        on_hand=item.on_hand,
        reserved=item.reserved,
        safety_stock=item.safety_stock,
        available=item.available,
        version=item.version,
    )
