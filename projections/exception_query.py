"""The exception queue's query: filters, the order people work it in, keyset cursors."""

import base64
import json
from collections.abc import Iterable
from dataclasses import dataclass
from typing import Literal

from projections.exception_rules import SEVERITY_RANK, ExceptionRow
from projections.order_query import BadCursorError

State = Literal["open", "resolved", "all"]
SummaryBy = Literal["customer_id", "sku", "source_id", "channel"]


@dataclass(frozen=True)
class ExceptionQuery:
    kinds: tuple[str, ...] = ()
    severity: str | None = None
    channel: str | None = None
    customer_id: str | None = None
    sku: str | None = None
    source_id: str | None = None
    order_id: str | None = None
    assignee: str | None = None
    state: State = "open"
    limit: int = 50
    after: str | None = None


@dataclass(frozen=True)
class ExceptionPage:
    rows: list[ExceptionRow]
    next_cursor: str | None


@dataclass(frozen=True)
class SummaryRow:
    key: str
    open: int
    high: int
    oldest_opened_at: str


def sort_key(row: ExceptionRow) -> tuple[int, str, str]:
    # Most severe first, then oldest first: the order people should work the queue in.
    return (-SEVERITY_RANK[row.severity], row.opened_at, row.exception_id)


def cursor_of(row: ExceptionRow) -> str:
    raw = json.dumps(list(sort_key(row))).encode()
    return base64.urlsafe_b64encode(raw).decode().rstrip("=")


def after_of(query: ExceptionQuery) -> tuple[int, str, str] | None:
    if not query.after:
        return None
    try:
        rank, opened, ident = json.loads(
            base64.urlsafe_b64decode(query.after + "=" * (-len(query.after) % 4))
        )
        return int(rank), str(opened), str(ident)
    except (ValueError, TypeError) as error:
        raise BadCursorError("after: not a cursor this queue gave out") from error


def matches(query: ExceptionQuery, row: ExceptionRow, ignore_kinds: bool = False) -> bool:
    return (
        (ignore_kinds or not query.kinds or row.kind in query.kinds)
        and (query.severity is None or row.severity == query.severity)
        and (query.channel is None or row.channel == query.channel)
        and (query.customer_id is None or row.customer_id == query.customer_id)
        and (query.sku is None or query.sku in row.skus)
        and (query.source_id is None or row.source_id == query.source_id)
        and (query.order_id is None or row.order_id == query.order_id)
        and (query.assignee is None or row.assignee == query.assignee)
        and (query.state == "all" or row.is_open == (query.state == "open"))
    )


def page_of(query: ExceptionQuery, rows: Iterable[ExceptionRow]) -> ExceptionPage:
    after = after_of(query)
    chosen = sorted(
        (r for r in rows if matches(query, r) and (after is None or sort_key(r) > after)),
        key=sort_key,
    )
    more = len(chosen) > query.limit
    chosen = chosen[: query.limit]
    return ExceptionPage(chosen, cursor_of(chosen[-1]) if more and chosen else None)


def summarise(rows: Iterable[ExceptionRow], by: SummaryBy) -> list[SummaryRow]:
    groups: dict[str, list[ExceptionRow]] = {}
    for row in rows:
        keys = row.skus if by == "sku" else (getattr(row, by),)
        for key in keys:
            if key:
                groups.setdefault(key, []).append(row)
    summary = [
        SummaryRow(
            key,
            len(members),
            sum(1 for m in members if m.severity == "high"),
            min(m.opened_at for m in members),
        )
        for key, members in groups.items()
    ]
    return sorted(summary, key=lambda s: (-s.open, s.key))
