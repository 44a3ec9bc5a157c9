"""The draft's world of stock in a what-if run: what each (source, SKU) would hold had the
draft policy decided, from the log's stock movements and the draft's own promises.

See :mod:`orchestration_policies.what_if` for the rules; this module keeps the arithmetic.
Pure: no I/O.
"""

from __future__ import annotations

from collections.abc import Iterable, Mapping, Sequence
from dataclasses import dataclass, field
from datetime import date, datetime
from enum import StrEnum
from types import MappingProxyType
from typing import Any

from orchestration_policies.inputs import CandidateSource, OrderToRoute, StockLevel
from orchestration_policies.what_if_inputs import RecordedCandidate, stock_level, with_stock

__all__ = [
    "MOVED",
    "MovementKind",
    "MovementRows",
    "StockMovement",
    "World",
    "count_shipments",
    "order_line",
]


class MovementKind(StrEnum):
    REGISTERED = "registered"  # on_hand, safety_stock
    COUNTED = "counted"  # on_hand, safety_stock (an absolute snapshot from the source)
    ADJUSTED = "adjusted"  # delta
    RESERVED = "reserved"  # key, quantity
    RELEASED = "released"  # key, quantity
    CONSUMED = "consumed"  # key, quantity shipped, freed (the rest of the reservation)


_REGISTERED, _COUNTED, _ADJUSTED = (
    MovementKind.REGISTERED,
    MovementKind.COUNTED,
    MovementKind.ADJUSTED,
)
_RESERVED, _RELEASED, _CONSUMED = (
    MovementKind.RESERVED,
    MovementKind.RELEASED,
    MovementKind.CONSUMED,
)


@dataclass(frozen=True, slots=True)
class StockMovement:
    """A stock event of the log, as plain values (``key``: ``order:shipment:line``)."""

    kind: MovementKind
    source_id: str
    sku: str
    at: datetime
    on_hand: int = 0
    safety_stock: int = 0
    delta: int = 0
    quantity: int = 0
    freed: int = 0
    key: str = ""


# Tags of the compact rows of ``MovementRows``, in ``MovementKind``'s order.
MOVED = tuple(MovementKind)
_ROW_REGISTERED, _ROW_COUNTED, _ROW_ADJUSTED, _ROW_RESERVED, _ROW_RELEASED, _ROW_CONSUMED = (
    MOVED.index(kind)
    for kind in (_REGISTERED, _COUNTED, _ADJUSTED, _RESERVED, _RELEASED, _CONSUMED)
)


@dataclass(frozen=True, slots=True)
class MovementRows:
    """Consecutive stock movements of the log, compact (a reader of a long log gives these
    rather than one object per movement), each row as ``World.move`` reads its movement:

    - registered, counted: ``(tag, source_id, sku, on_hand, safety_stock)``;
    - adjusted: ``(tag, source_id, sku, delta)``;
    - reserved: ``(tag, source_id, sku, quantity, key)``, only reservations made before the
      window (``World.move`` ignores the others, so the reader leaves them out);
    - released: ``(tag, source_id, sku, key, order_id, line_id)``, consumed: ``(tag,
      source_id, sku, quantity, key, order_id, line_id)``: ``key`` None when no reservation
      made before the window has it (a key names one source and SKU), the order and line
      those of the key.

    ``tag``: the kind's index in ``MOVED``."""

    rows: list[tuple[Any, ...]]


class _Item:
    """One (source, SKU) in the draft's world.

    Every change sets ``cached`` to None: decisions read far more levels than movements change
    them, so a level is built only when it changed since it was last read.
    """

    __slots__ = ("cached", "draft", "offset", "on_hand", "safety", "shared")

    def __init__(self, on_hand: int, safety: int, shared: int = 0) -> None:
        self.on_hand = on_hand  # as the log has it (what really happened)
        self.safety = safety
        self.shared = shared  # reserved before the window: promises both worlds keep
        self.draft = 0  # the draft's own promises
        self.offset = 0  # live shipments put back, the draft's own taken out
        self.cached: StockLevel | None = None

    def level(self) -> StockLevel:
        level = self.cached
        if level is None:
            on_hand = self.on_hand + self.offset
            reserved = self.shared + self.draft
            level = self.cached = stock_level(
                on_hand if on_hand > 0 else 0, reserved if reserved > 0 else 0, max(0, self.safety)
            )
        return level


Promise = list[tuple[str, str, int]]  # (source_id, sku, quantity)
_NONE: dict[str, int] = {}  # no shipments that day (never written)
_NO_STOCK: Mapping[str, StockLevel] = MappingProxyType({})  # the stock of a source cut early
# The slots' own descriptors: a frozen dataclass's __setattr__ refuses, these do not.
_set_stock = CandidateSource.__dict__["stock"].__set__
_set_used = CandidateSource.__dict__["used_today"].__set__


@dataclass
class World:
    start: datetime
    items: dict[str, dict[str, _Item]] = field(default_factory=dict)  # source → SKU → item
    shared: dict[str, tuple[str, str, int]] = field(default_factory=dict)
    promises: dict[tuple[str, str], Promise] = field(default_factory=dict)
    # Shipments per day and source, in each world (day → source_id → shipments).
    live_day: dict[date, dict[str, int]] = field(default_factory=dict)
    draft_day: dict[date, dict[str, int]] = field(default_factory=dict)
    # source_id → (the recorded source, the candidate given to decide() for it)
    _reused: dict[str, tuple[CandidateSource, CandidateSource]] = field(
        default_factory=dict, repr=False
    )

    def move(self, m: StockMovement) -> None:
        kind = m.kind
        if kind is _RESERVED and m.at >= self.start:
            return  # the live policy's reservation: never the draft's
        by_sku = self.items.get(m.source_id)
        if kind is _REGISTERED:
            if by_sku is None:
                by_sku = self.items[m.source_id] = {}
            by_sku[m.sku] = _Item(m.on_hand, m.safety_stock)
            return
        item = None if by_sku is None else by_sku.get(m.sku)
        if item is None:
            return  # registered before the history given (the decision's own levels seed it)
        item.cached = None
        if kind is _CONSUMED:  # the units really left
            item.on_hand -= m.quantity
            if not self._end_shared(m.key):
                item.offset += m.quantity  # the live policy's shipment, not the draft's
                self._ship(order_line(m.key))
        elif kind is _RESERVED:  # before the window: a promise both worlds keep
            self.shared[m.key] = (m.source_id, m.sku, m.quantity)
            item.shared += m.quantity
        elif kind is _RELEASED:
            if not self._end_shared(m.key):
                self.give_back(order_line(m.key))
        elif kind is _COUNTED:
            item.on_hand, item.safety = m.on_hand, m.safety_stock
        else:
            item.on_hand += m.delta

    def move_rows(self, rows: Iterable[tuple[Any, ...]]) -> None:
        """``move`` for each row of ``MovementRows``, in their order."""
        items = self.items
        for row in rows:
            tag = row[0]
            by_sku = items.get(row[1])
            if tag == _ROW_REGISTERED:
                if by_sku is None:
                    by_sku = items[row[1]] = {}
                by_sku[row[2]] = _Item(row[3], row[4])
                continue
            item = None if by_sku is None else by_sku.get(row[2])
            if item is None:
                continue  # as in move()
            item.cached = None
            if tag == _ROW_CONSUMED:
                _, _, _, quantity, key, order_id, line_id = row
                item.on_hand -= quantity
                if key is None or not self._end_shared(key):
                    item.offset += quantity
                    self._ship((order_id, line_id))
            elif tag == _ROW_RESERVED:
                self.shared[row[4]] = (row[1], row[2], row[3])
                item.shared += row[3]
            elif tag == _ROW_RELEASED:
                _, _, _, key, order_id, line_id = row
                if key is None or not self._end_shared(key):
                    self.give_back((order_id, line_id))
            elif tag == _ROW_COUNTED:
                item.on_hand, item.safety = row[3], row[4]
            else:
                item.on_hand += row[3]

    def _end_shared(self, key: str) -> bool:
        found = self.shared.pop(key, None)
        if found is None:
            return False
        source_id, sku, quantity = found
        item = self.items[source_id][sku]
        item.shared -= quantity
        item.cached = None
        return True

    def give_back(self, order_line: tuple[str, str]) -> None:
        for source_id, sku, quantity in self.promises.pop(order_line, ()):
            item = self.items[source_id][sku]
            item.draft -= quantity
            item.cached = None

    def _ship(self, order_line: tuple[str, str]) -> None:
        for source_id, sku, quantity in self.promises.pop(order_line, ()):
            item = self.items[source_id][sku]
            item.draft -= quantity
            item.offset -= quantity
            item.cached = None

    def promise(self, order_id: str, shipments: Iterable[tuple[str, str, str, int]]) -> None:
        """Hold (source, line, sku, quantity) for the order in the draft's world."""
        for source_id, line_id, sku, quantity in shipments:
            by_sku = self.items.get(source_id)
            if by_sku is None:
                by_sku = self.items[source_id] = {}
            item = by_sku.get(sku)
            if item is None:
                item = by_sku[sku] = _Item(0, 0)
            item.draft += quantity
            item.cached = None
            self.promises.setdefault((order_id, line_id), []).append((source_id, sku, quantity))

    def candidates(
        self, seen: Sequence[RecordedCandidate], now: datetime, order: OrderToRoute | None = None
    ) -> list[CandidateSource]:
        """The recorded candidates with the draft's stock and capacity used.

        A (source, SKU) the history given did not register starts from the recorded level.
        The list is valid until the next call: each source has one candidate object that is
        given new stock and capacity used at every call (a copy per candidate per decision was
        a fifth of a what-if run); decide() keeps no reference to the candidates it is given.

        Given the ``order``, a source that does not ship to its country or by its delivery
        method is given no stock: decide() excludes it by those built-in rules, whatever the
        policy, before it reads any stock (most of a decision's candidates on a real network).
        """
        country = method = None
        if order is not None:
            country, method = order.country, order.delivery_method
        day = now.date()
        items = self.items
        reused = self._reused
        by_day = bool(self.live_day or self.draft_day)
        drafted = self.draft_day.get(day, _NONE)
        lived = self.live_day.get(day, _NONE)
        out = []
        for source, recorded_stock, used in seen:
            sid = source.source_id
            if by_day:
                used += drafted.get(sid, 0) - lived.get(sid, 0)
                used = used if used > 0 else 0
            stock: Mapping[str, StockLevel]
            if method is not None and (
                method not in source.delivery_methods
                or not (source.ships_everywhere or country in source.ship_countries)
            ):
                stock = _NO_STOCK
                by_sku = items.get(sid)
                if by_sku is None or not by_sku.keys() >= recorded_stock.keys():
                    self._levels(sid, recorded_stock)  # seeded by the first decision that saw it
            else:
                stock = self._levels(sid, recorded_stock)
            kept = reused.get(sid)
            if kept is None or kept[0] is not source:
                kept = reused[sid] = (source, with_stock(source, {}, 0))
            candidate = kept[1]
            _set_stock(candidate, stock)  # a fresh dict no one else holds: no read-only view
            _set_used(candidate, used)
            out.append(candidate)
        return out

    def _levels(self, sid: str, recorded: Mapping[str, Sequence[int]]) -> dict[str, StockLevel]:
        items = self.items.get(sid)
        if items is None:
            items = self.items[sid] = {}
        stock = {}
        for sku, (on_hand, reserved, safety) in recorded.items():
            item = items.get(sku)
            if item is None:
                item = items[sku] = _Item(on_hand, safety, reserved)
            level = item.cached
            stock[sku] = item.level() if level is None else level
        return stock


def count_shipments(
    counts: dict[date, dict[str, int]], at: datetime, sources: Iterable[str]
) -> None:
    day = at.date()
    for source_id in sources:
        on_day = counts.get(day)
        if on_day is None:
            on_day = counts[day] = {}
        on_day[source_id] = on_day.get(source_id, 0) + 1


def order_line(key: str) -> tuple[str, str]:
    """The (order, line) a reservation key (``order:shipment:line``) names."""
    parts = key.split(":", 2)
    return (parts[0], parts[-1])
