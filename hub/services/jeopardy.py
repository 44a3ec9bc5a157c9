"""The jeopardy clock: orders not shipped close to (or past) their promise are flagged.

Each tick reads from the order-status view the open promises whose band rose since the tick
before, and those new or changed since (see `tick`), and raises or escalates a flag on the
order's ExceptionCase ("jeopardy:<order>" with a band, "late:<order>"). A flag at or below
the band already raised records nothing, so ticks from several workers, or repeated ticks,
are harmless. The flag clears itself when the order ships (the exception queue resolves it
from the shipment's event).

It also flags an order left `cancelling` longer than the withdrawal patience
("withdrawal_unconfirmed:<order>:<since>"): a source that never answers a withdrawal would
otherwise leave it there unseen (a cancelled order is no longer watched for its promise). The
queue resolves it when the source answers (confirms, rejects, or ships it).
"""

from collections.abc import Callable, Sequence
from dataclasses import dataclass, replace
from datetime import datetime, timedelta
from typing import NamedTuple
from uuid import UUID

from eventsourcing.persistence import IntegrityError

from aggregates import Order
from aggregates.exception_case import BAND_RANK, Band, ExceptionCase
from aggregates.order_states import OrderStatus
from hub.services.lookup import find, find_many
from hub.store import OrderStore
from orchestration_policies.promise import Risk, risk
from projections.exception_rules import SEVERITY_RANK, UNANSWERED, ExceptionRow
from projections.order_query import OrderQuery
from projections.order_rows import OrderStatusRow, utc_text
from projections.order_status import OrderStatusView
from projections.promise_news import PromiseNews

ACTOR = "system:jeopardy"
PAGE = 500
# Promises read a page at a time (two short texts each).
SCAN_PAGE = 5000
AFTER_EVERY_ID = "\U0010ffff"  # sorts after any order id: starts a page after a whole time
# How long an order may stay `cancelling` before the desk is told (Settings overrides it).
WITHDRAWAL_PATIENCE = timedelta(hours=1)


@dataclass(frozen=True)
class Tick:
    looked_at: int
    flagged: int
    unanswered: int = 0  # withdrawals flagged as unanswered by this tick


class Promise(NamedTuple):
    """An open promise as the clock reads it (the view's `open_promises`)."""

    promised_by: str
    order_id: str


# A flag to raise: its kind, the promise and the band.
Flag = tuple[str, Promise, Band]


def flag_id(kind: str, row: Promise | OrderStatusRow) -> str:
    """One case per order and promise: when routing re-plans the promise, the clock starts
    afresh for the new one (the old flags were resolved by the routing)."""
    return f"{kind}:{row.order_id}:{row.promised_by}"


def risen_ranges(since: datetime, now: datetime, margin: timedelta) -> list[tuple[str, str]]:
    """The ranges (low, high] of `promised_by` whose band rose between the two moments: a
    promise's band rises when `now` reaches it less the margin, less 2/3 and 1/3 of it, and
    the promise itself (`risk`'s edges, computed as it computes them). Overlapping ranges
    (ticks further apart than a third of the margin) are merged."""
    if now <= since:
        return []
    edges = (
        sorted({margin, margin * 2 / 3, margin / 3, timedelta(0)})
        if margin > timedelta(0)
        else [timedelta(0)]
    )
    merged: list[list[datetime]] = []
    for edge in edges:
        low, high = since + edge, now + edge
        if merged and low <= merged[-1][1]:
            merged[-1][1] = high
        else:
            merged.append([low, high])
    return [(utc_text(low), utc_text(high)) for low, high in merged]


class JeopardyWatch:
    def __init__(
        self,
        store: OrderStore,
        orders: OrderStatusView,
        exceptions: Callable[[Sequence[str]], dict[str, ExceptionRow]],
        clock: Callable[[], datetime],
        margin: timedelta,
        withdrawal_patience: timedelta = WITHDRAWAL_PATIENCE,
    ) -> None:
        self._store = store
        self._orders = orders
        self._exceptions = exceptions
        self._clock = clock
        self._margin = margin
        self._patience = withdrawal_patience
        self._last: datetime | None = None  # the last tick's time (None: none since the start)

    def tick(self) -> Tick:
        """The first tick after a start looks at every open promise inside the margin; each
        later one reads only the promises whose band rose since the tick before (the ranges of
        `risen_ranges`, on the view's index of open promises) and those new or changed since
        (the view's promise news, `projections.promise_news`): its cost follows what is due,
        not the open orders (a full read was ~4 us an open promise, benchmarks.jeopardy_clock).
        The news read are forgotten only once flagged: a tick that fails leaves them, and its
        ranges, to the next."""
        now = self._clock()
        news = self._news()
        horizon = utc_text(now + self._margin)
        ranges: list[tuple[str | None, str]] = [(None, horizon)]
        if self._last is not None:
            ranges = list(risen_ranges(self._last, now, self._margin))
        seen: set[tuple[str, str]] = set()
        flagged = sum(self._flag_range(low, high, now, seen) for low, high in ranges)
        # A promise beyond the margin is read by a range when its band first rises.
        fresh = [(p.promised_by, p.order_id) for p in news if "" < p.promised_by <= horizon]
        flagged += self._flag_keys([k for k in dict.fromkeys(fresh) if k not in seen], now, seen)
        self._orders.forget_news([p.seq for p in news])
        self._last = now if self._last is None else max(now, self._last)
        return Tick(len(seen), flagged, self._unanswered(now))

    def _news(self) -> list[PromiseNews]:
        news: list[PromiseNews] = []
        while True:
            page = self._orders.promise_news(news[-1].seq if news else 0, SCAN_PAGE)
            news += page
            if len(page) < SCAN_PAGE:
                return news

    def _flag_range(
        self, low: str | None, high: str, now: datetime, seen: set[tuple[str, str]]
    ) -> int:
        """Flag the open promises in (low, high] (all up to `high` without `low`)."""
        after = None if low is None else (low, AFTER_EVERY_ID)
        flagged = 0
        while True:
            page = self._orders.open_promises(high, SCAN_PAGE, after)
            flagged += self._flag_keys([k for k in page if k not in seen], now, seen)
            if len(page) < SCAN_PAGE:
                return flagged
            after = page[-1]

    def _flag_keys(
        self, keys: list[tuple[str, str]], now: datetime, seen: set[tuple[str, str]]
    ) -> int:
        """Flag each promise at its band now (those beyond the margin are not due)."""
        seen.update(keys)
        due: dict[Promise, Risk] = {}
        for key in keys:
            level = risk(now, datetime.fromisoformat(key[0]), self._margin)
            if level is not Risk.NONE:
                due[Promise(*key)] = level
        items = list(due.items())
        return sum(
            self._flag_page(dict(items[n : n + SCAN_PAGE]), now)
            for n in range(0, len(items), SCAN_PAGE)
        )

    def _flag_page(self, rose: dict[Promise, Risk], now: datetime) -> int:
        """Flag each promise at its band, those of a page together: one lookup of the flags
        raised already, one read of the cases to raise, one save (each on its own if another
        worker saved one of them meanwhile)."""
        raising, seen = self._unraised(rose)
        if not raising:
            return 0
        cases = find_many(self._store, (ExceptionCase.create_id(i) for i in raising), ExceptionCase)
        changed = []
        for ident, (kind, row, band) in raising.items():
            case = cases.get(ExceptionCase.create_id(ident)) or ExceptionCase(
                exception_id=ident, kind=kind, order_id=row.order_id, actor=ACTOR, at=now
            )
            if case.flag(band, row.promised_by, ACTOR, now):
                changed.append(case)
        if not changed:
            return 0
        try:
            self._store.save(*changed)
        except IntegrityError:  # another worker flagged one of them meanwhile
            return sum(
                self._raise(i, kind, row.order_id, band, row.promised_by, seen, now)
                for i, (kind, row, band) in raising.items()
            )
        return len(changed)

    def _unraised(
        self, rose: dict[Promise, Risk]
    ) -> tuple[dict[str, Flag], dict[str, ExceptionRow]]:
        """The flags to raise (by case id), and the queue's rows of those raised already: a
        flag raised at its band or above (open, or resolved by a person) is not raised again."""
        wanted: dict[str, Flag] = {}
        for row, level in rose.items():
            kind = "late" if level is Risk.LATE else "jeopardy"
            band = Band.HIGH if level is Risk.LATE else Band(level.value)
            wanted[flag_id(kind, row)] = (kind, row, band)
        seen = self._exceptions(list(wanted)) if wanted else {}
        raising = {
            ident: flag
            for ident, flag in wanted.items()
            if ident not in seen or SEVERITY_RANK[seen[ident].severity] < BAND_RANK[flag[2]]
        }
        return raising, seen

    def _unanswered(self, now: datetime) -> int:
        """Flag the orders `cancelling` with no news for longer than the patience, oldest first
        (their last event is the withdrawal, or a source's answer about another shipment)."""
        cutoff = now - self._patience
        query = OrderQuery(status=("cancelling",), sort="updated_at", descending=False, limit=PAGE)
        flagged = 0
        while True:
            page = self._orders.search(query)
            due = [r for r in page.rows if datetime.fromisoformat(r.updated_at) <= cutoff]
            seen = self._exceptions([f"{UNANSWERED}:{r.order_id}:{r.updated_at}" for r in due])
            for row in due:
                ident = f"{UNANSWERED}:{row.order_id}:{row.updated_at}"
                if ident not in seen and self._still_cancelling(row.order_id):
                    flagged += self._raise(
                        ident, UNANSWERED, row.order_id, Band.MEDIUM, row.updated_at, seen, now
                    )
            if len(due) < len(page.rows) or page.next_cursor is None:
                return flagged
            query = replace(query, after=page.next_cursor)

    def _still_cancelling(self, order_id: str) -> bool:
        """The order itself, not the view (which may lag behind the source's answer): a flag
        raised after the answer would stay open, nothing left to resolve it."""
        order = find(self._store, UUID(order_id), Order)
        return order is not None and order.status is OrderStatus.CANCELLING

    def _raise(
        self,
        exception_id: str,
        kind: str,
        order_id: str,
        band: Band,
        since: str,
        seen: dict[str, ExceptionRow],
        now: datetime,
    ) -> int:
        """Raise the case at `band`, once (1 when this call recorded it)."""
        raised = seen.get(exception_id)
        if raised is not None and SEVERITY_RANK[raised.severity] >= BAND_RANK[band]:
            return 0  # raised already, at this band or above (open, or resolved by a person)
        case = find(self._store, ExceptionCase.create_id(exception_id), ExceptionCase)
        if case is None:
            case = ExceptionCase(
                exception_id=exception_id, kind=kind, order_id=order_id, actor=ACTOR, at=now
            )
        if not case.flag(band, since, ACTOR, now):
            return 0
        try:
            self._store.save(case)
        except IntegrityError:
            return 0  # another worker flagged it at the same moment
        return 1
