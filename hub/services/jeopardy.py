"""The jeopardy clock: orders not shipped close to (or past) their promise are flagged.

Each tick reads the open promises due within the margin from the order-status view, and
raises or escalates a flag on the order's ExceptionCase ("jeopardy:<order>" with a band,
"late:<order>"). A flag at or below the band already raised records nothing, so ticks from
several workers, or repeated ticks, are harmless. The flag clears itself when the order
ships (the exception queue resolves it from the shipment's event).

It also flags an order left `cancelling` longer than the withdrawal patience
("withdrawal_unconfirmed:<order>:<since>"): a source that never answers a withdrawal would
otherwise leave it there unseen (a cancelled order is no longer watched for its promise). The
queue resolves it when the source answers (confirms, rejects, or ships it).
"""

from collections.abc import Callable, Sequence
from dataclasses import dataclass, replace
from datetime import datetime, timedelta
from uuid import UUID

from eventsourcing.persistence import IntegrityError

from aggregates import Order
from aggregates.exception_case import BAND_RANK, Band, ExceptionCase
from aggregates.order_states import OrderStatus
from hub.services.lookup import find
from hub.store import OrderStore
from orchestration_policies.promise import Risk, risk
from projections.exception_rules import SEVERITY_RANK, UNANSWERED, ExceptionRow
from projections.order_query import OrderQuery
from projections.order_rows import OrderStatusRow, utc_text
from projections.order_status import OrderStatusView

ACTOR = "system:jeopardy"
PAGE = 500
# Every this many ticks the clock looks at every open promise again (see `tick`).
FULL_SCAN_EVERY = 30
AFTER_EVERY_ID = "\U0010ffff"  # sorts after any order id: starts a page after a whole time
# How long an order may stay `cancelling` before the desk is told (Settings overrides it).
WITHDRAWAL_PATIENCE = timedelta(hours=1)


@dataclass(frozen=True)
class Tick:
    looked_at: int
    flagged: int
    unanswered: int = 0  # withdrawals flagged as unanswered by this tick


def flag_id(kind: str, row: OrderStatusRow) -> str:
    """One case per order and promise: when routing re-plans the promise, the clock starts
    afresh for the new one (the old flags were resolved by the routing)."""
    return f"{kind}:{row.order_id}:{row.promised_by}"


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
        self._late_until: str | None = None
        self._ticks = 0

    def tick(self) -> Tick:
        """Late is the last band: orders promised before the previous tick's time were flagged
        late then, so a tick starts after them. Every FULL_SCAN_EVERY ticks (and at start) it
        looks at all open promises again, for orders that reached the view late."""
        now = self._clock()
        horizon = utc_text(now + self._margin)
        looked_at = flagged = 0
        full = self._late_until is None or self._ticks % FULL_SCAN_EVERY == 0
        self._ticks += 1
        after = None if full else (self._late_until or "", AFTER_EVERY_ID)
        while True:
            rows = self._orders.promised_before(horizon, PAGE, after)
            # One lookup per page of the flags raised already, not one per order.
            seen = self._exceptions([flag_id(k, row) for row in rows for k in ("jeopardy", "late")])
            for row in rows:
                looked_at += 1
                flagged += self._flag(row, now, seen)
            if len(rows) < PAGE:
                self._late_until = utc_text(now)
                return Tick(looked_at, flagged, self._unanswered(now))
            after = (rows[-1].promised_by, rows[-1].order_id)

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
                        ident, UNANSWERED, row, Band.MEDIUM, row.updated_at, seen, now
                    )
            if len(due) < len(page.rows) or page.next_cursor is None:
                return flagged
            query = replace(query, after=page.next_cursor)

    def _still_cancelling(self, order_id: str) -> bool:
        """The order itself, not the view (which may lag behind the source's answer): a flag
        raised after the answer would stay open, nothing left to resolve it."""
        order = find(self._store, UUID(order_id), Order)
        return order is not None and order.status is OrderStatus.CANCELLING

    def _flag(self, row: OrderStatusRow, now: datetime, seen: dict[str, ExceptionRow]) -> int:
        level = risk(now, datetime.fromisoformat(row.promised_by), self._margin)
        if level is Risk.NONE:
            return 0
        kind = "late" if level is Risk.LATE else "jeopardy"
        band = Band.HIGH if level is Risk.LATE else Band(level.value)
        return self._raise(flag_id(kind, row), kind, row, band, row.promised_by, seen, now)

    def _raise(
        self,
        exception_id: str,
        kind: str,
        row: OrderStatusRow,
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
                exception_id=exception_id, kind=kind, order_id=row.order_id, actor=ACTOR, at=now
            )
        if not case.flag(band, since, ACTOR, now):
            return 0
        try:
            self._store.save(case)
        except IntegrityError:
            return 0  # another worker flagged it at the same moment
        return 1
