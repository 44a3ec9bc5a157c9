"""Stock rows and how stock-item and source events fold into them (pure), with the cursor
helpers both backends share. See projections/stock_levels.py for the why of the layout."""

import base64
import binascii
import json
from collections.abc import Sequence
from dataclasses import dataclass
from datetime import UTC

from schemas.envelope import EventEnvelope
from schemas.event_types import EventFamily

FOLLOWER = "stock_levels"
STOCK_EVENTS = EventFamily.STOCK_ITEM
SOURCE_EVENTS = EventFamily.FULFILLMENT_SOURCE


@dataclass(frozen=True)
class StockLevel:
    source_id: str
    sku: str
    on_hand: int
    reserved: int
    safety_stock: int
    available: int
    updated_at: str  # UTC ISO of the last event's business time, e.g. 2026-11-20T09:00:00.000000Z
    version: int  # the stock item's event sequence this row was computed up to
    source_name: str = ""  # the source's display name; its id while no name is known

    def __post_init__(self) -> None:
        if not self.source_name:
            object.__setattr__(self, "source_name", self.source_id)


@dataclass(frozen=True)
class StockPage:
    rows: list[StockLevel]
    next_cursor: str | None  # pass as `after` for the next page; None on the last page


@dataclass(frozen=True)
class SourceName:
    subject: str
    source_id: str
    name: str
    version: int


# -- the pure fold -------------------------------------------------------------------------------


def utc_text(env: EventEnvelope) -> str:
    """One spelling of UTC times, so that text order is time order."""
    return env.time.astimezone(UTC).strftime("%Y-%m-%dT%H:%M:%S.%fZ")


def _level(
    source_id: str,
    sku: str,
    on_hand: int,
    safety_stock: int,
    reserved: int,
    env: EventEnvelope,
) -> StockLevel:
    return StockLevel(
        source_id=source_id,
        sku=sku,
        on_hand=on_hand,
        reserved=reserved,
        safety_stock=safety_stock,
        available=max(0, on_hand - reserved - safety_stock),
        updated_at=utc_text(env),
        version=env.sequence,
    )


def fold(row: StockLevel | None, env: EventEnvelope) -> StockLevel | None:
    """Apply one stock item event; one at or below the row's version was seen already.

    `reserved` by arithmetic on the events' quantities, as the aggregate keeps `reserved_units`
    and the supply view its holdings: a release names the units it gives back, a consumption
    those shipped and those freed, and the aggregate records neither for an order holding
    nothing. So an event costs the same however many reservations its item holds."""
    if row is not None and env.sequence <= row.version:
        return row
    kind = env.type.removeprefix(STOCK_EVENTS)
    data = env.data
    if kind == "registered":
        return _level(
            data["source_id"], data["sku"], int(data["on_hand"]), int(data["safety_stock"]), 0, env
        )
    if row is None or kind not in ("counted", "adjusted", "reserved", "released", "consumed"):
        return row  # history starts before this view's retention, or a type it does not know
    on_hand, safety_stock, reserved = row.on_hand, row.safety_stock, row.reserved
    if kind == "counted":
        on_hand, safety_stock = int(data["on_hand"]), int(data["safety_stock"])
    elif kind == "adjusted":
        on_hand += int(data["delta"])
    elif kind == "reserved":
        reserved += int(data["quantity"])
    elif kind == "released":
        reserved -= int(data["quantity"])
    else:  # consumed: the shipped units leave on-hand, the whole reservation ends
        on_hand -= int(data["quantity"])
        reserved -= int(data["quantity"]) + int(data["freed"])
    return _level(row.source_id, row.sku, on_hand, safety_stock, reserved, env)


def fold_source(current: SourceName | None, env: EventEnvelope) -> SourceName | None:
    """A source's display name, from the events that carry its definition."""
    if current is not None and env.sequence <= current.version:
        return current
    definition = env.data.get("definition")
    if not isinstance(definition, dict):
        return current  # paused, resumed: the name does not change
    source_id = (
        current.source_id
        if current is not None
        else env.data.get("source_id") or definition.get("source_id")
    )
    if not source_id:
        return None
    name = str(definition.get("name") or source_id)
    return SourceName(env.subject, str(source_id), name, env.sequence)


def stock_key(env: EventEnvelope) -> tuple[str, str]:
    return str(env.data["source_id"]), str(env.data["sku"])


def fold_batch(
    envelopes: Sequence[EventEnvelope],
    rows: dict[tuple[str, str], StockLevel],
    sources: dict[str, SourceName],
) -> tuple[dict[tuple[str, str], StockLevel], dict[str, SourceName]]:
    """Fold a batch into the given rows and sources (changed in place); return what changed."""
    changed_rows: dict[tuple[str, str], StockLevel] = {}
    changed_sources: dict[str, SourceName] = {}
    for env in envelopes:
        if env.type.startswith(STOCK_EVENTS):
            key = stock_key(env)
            old = rows.get(key)
            new = fold(old, env)
            if new is not None and new is not old:
                rows[key] = changed_rows[key] = new
        elif env.type.startswith(SOURCE_EVENTS):
            old_source = sources.get(env.subject)
            new_source = fold_source(old_source, env)
            if new_source is not None and new_source is not old_source:
                sources[env.subject] = changed_sources[env.subject] = new_source
    return changed_rows, changed_sources


# -- queries shared by the backends ---------------------------------------------------------------


def encode_cursor(source_id: str, sku: str) -> str:
    raw = json.dumps([source_id, sku], separators=(",", ":")).encode()
    return base64.urlsafe_b64encode(raw).decode().rstrip("=")


def decode_cursor(cursor: str) -> tuple[str, str]:
    try:
        raw = base64.urlsafe_b64decode(cursor + "=" * (-len(cursor) % 4))
        value = json.loads(raw)
    except (binascii.Error, ValueError) as exc:
        raise ValueError(f"not a stock levels cursor: {cursor!r}") from exc
    if not (isinstance(value, list) and len(value) == 2 and all(isinstance(v, str) for v in value)):
        raise ValueError(f"not a stock levels cursor: {cursor!r}")
    return value[0], value[1]


def page_of(found: list[StockLevel], limit: int) -> StockPage:
    """`found` holds up to limit + 1 rows: one more than the page says another page follows."""
    rows = found[:limit]
    more = len(found) > limit
    return StockPage(rows, encode_cursor(rows[-1].source_id, rows[-1].sku) if more else None)


def check_limit(limit: int) -> None:
    if limit < 1:
        raise ValueError(f"limit must be at least 1, got {limit}")
