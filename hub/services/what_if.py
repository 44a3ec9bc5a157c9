"""What-if over recorded history: read a window of decisions and the stock movements before and
between them from the event store, and let the pure engine re-decide them with a draft policy.

The notification log is read once, in order, selected by topic: the stock events (from the
beginning, so stock at the window's start is known), the recorded inputs and source definitions
(written in the same transaction as the decision naming them, just after it and its stock
items: they are taken in a page ahead), and the orders' `Routed` and `Held` events, each read
from its stored JSON (`what_if_log`) into compact values (`what_if_pages`), which the engine's
side builds into its own (`what_if_build`). A long log is read by a second process while the
engine re-decides what was read before (`what_if_process`). Reads only; writes nothing.
"""

import threading
from collections.abc import Callable, Generator, Iterator
from dataclasses import dataclass
from datetime import UTC, date, datetime, time, timedelta
from typing import Any

from hub.services.what_if_build import TimelineBuilder
from hub.services.what_if_pages import DECISIONS, STOCK, compact_pages, stock_values
from hub.services.what_if_process import WhatIfCancelled, reads_in_second_process, remote_pages
from hub.store import OrderStore
from orchestration_policies import Policy, Problem, load_policy
from orchestration_policies.what_if import (
    MovementKind,
    MovementRows,
    RecordedDecision,
    StockMovement,
    run_what_if,
)
from orchestration_policies.what_if_report import WhatIfReport

__all__ = [
    "MAX_DAYS",
    "WhatIfCancelled",
    "WhatIfService",
    "Window",
    "draft_policy",
    "window_problems",
]

MAX_DAYS = 366  # a year of history at most per run
PAGE = 5_000
_STOCK, _DECISIONS = STOCK, DECISIONS  # (the names the tests know)
_TAGS = {kind: tag for tag, kind in enumerate(STOCK.values())}


@dataclass(frozen=True)
class Window:
    """Decisions taken from ``first`` to ``last`` (whole UTC days, both included)."""

    first: date
    last: date
    channel: str | None = None

    @property
    def start(self) -> datetime:
        return datetime.combine(self.first, time(), UTC)

    @property
    def end(self) -> datetime:
        return datetime.combine(self.last + timedelta(days=1), time(), UTC)


def window_problems(first: date, last: date) -> list[Problem]:
    """What is wrong with a window (empty: nothing)."""
    if last < first:
        return [Problem("to", f"{last} is before from ({first})")]
    if (last - first).days + 1 > MAX_DAYS:
        return [Problem("to", f"a run covers at most {MAX_DAYS} days; ask for a shorter window")]
    return []


def draft_policy(text: str) -> Policy:
    """The draft policy document; PolicyError lists every problem, field by field."""
    return load_policy(text)


class WhatIfService:
    """``second_process``: read the log in a second process (True), in this one (False), or
    as ``reads_in_second_process`` chooses for the store (None)."""

    def __init__(self, store: OrderStore, second_process: bool | None = None) -> None:
        self._store = store
        self._second_process = second_process

    def run(
        self,
        draft: Policy,
        window: Window,
        progress: Callable[[int], None] | None = None,
        changes_kept: int = 100,
        cancel: threading.Event | None = None,
    ) -> WhatIfReport:
        """Re-decide the window's decisions with ``draft``; PolicyError (UnknownAttributeError)
        when the draft reads an order attribute no decision of the window carried;
        WhatIfCancelled when ``cancel`` is set before the end."""
        timeline = self.timeline(window, cancel)
        try:
            return run_what_if(
                timeline,
                draft,
                window.start,
                channel=window.channel,
                changes_kept=changes_kept,
                progress=progress,
            )
        finally:
            timeline.close()  # ends the reading process now, whatever happened

    def timeline(
        self, window: Window, cancel: threading.Event | None = None
    ) -> Generator[RecordedDecision | MovementRows, None, None]:
        """The log as the engine reads it: stock movements (in rows) and the window's
        decisions."""
        store = self._store
        second = self._second_process
        if second is None:
            second = reads_in_second_process(store)
        if second:
            pages = remote_pages(store, window.start, window.end, PAGE, cancel)
        else:
            pages = _cancellable(compact_pages(store, window.start, window.end, PAGE), cancel)
        return TimelineBuilder(store).timeline(pages)


def _cancellable(pages: Iterator[Any], cancel: threading.Event | None) -> Iterator[Any]:
    for page in pages:
        if cancel is not None and cancel.is_set():
            raise WhatIfCancelled("the what-if run was cancelled")
        yield page


def _movement(kind: MovementKind, e: dict[str, Any]) -> StockMovement:
    """The stock event's fields (``LogReader.fields``) as the engine reads them."""
    return StockMovement(kind, *stock_values(_TAGS[kind], e)[1:])
