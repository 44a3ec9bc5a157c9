"""The jeopardy clock: orders not shipped close to (or past) their promise are flagged.

Each tick reads the open promises due within the margin from the order-status view, and
raises or escalates a flag on the order's ExceptionCase ("jeopardy:<order>" with a band,
"late:<order>"). A flag at or below the band already raised records nothing, so ticks from
several workers, or repeated ticks, are harmless. The flag clears itself when the order
ships (the exception queue resolves it from the shipment's event).
"""

from collections.abc import Callable, Sequence
from dataclasses import dataclass
from datetime import datetime, timedelta

from eventsourcing.persistence import IntegrityError

from aggregates.exception_case import BAND_RANK, Band, ExceptionCase
from hub.services.lookup import find
from hub.store import OrderStore
from orchestration_policies.promise import Risk, risk
from projections.exception_rules import SEVERITY_RANK, ExceptionRow
from projections.order_rows import OrderStatusRow, utc_text
from projections.order_status import OrderStatusView

ACTOR = "system:jeopardy"
PAGE = 500
# Every this many ticks the clock looks at every open promise again (see `tick`).
FULL_SCAN_EVERY = 30
AFTER_EVERY_ID = "\U0010ffff"  # sorts after any order id: starts a page after a whole time


@dataclass(frozen=True)
class Tick:
    looked_at: int
    flagged: int


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
    ) -> None:
        self._store = store
        self._orders = orders
        self._exceptions = exceptions
        self._clock = clock
        self._margin = margin
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
                return Tick(looked_at, flagged)
            after = (rows[-1].promised_by, rows[-1].order_id)

    def _flag(self, row: OrderStatusRow, now: datetime, seen: dict[str, ExceptionRow]) -> int:
        level = risk(now, datetime.fromisoformat(row.promised_by), self._margin)
        if level is Risk.NONE:
            return 0
        kind = "late" if level is Risk.LATE else "jeopardy"
        band = Band.HIGH if level is Risk.LATE else Band(level.value)
        exception_id = flag_id(kind, row)
        raised = seen.get(exception_id)
        if raised is not None and SEVERITY_RANK[raised.severity] >= BAND_RANK[band]:
            return 0  # raised already, at this band or above (open, or resolved by a person)
        case = find(self._store, ExceptionCase.create_id(exception_id), ExceptionCase)
        if case is None:
            case = ExceptionCase(
                exception_id=exception_id, kind=kind, order_id=row.order_id, actor=ACTOR, at=now
            )
        if not case.flag(band, row.promised_by, ACTOR, now):
            return 0
        try:
            self._store.save(case)
        except IntegrityError:
            return 0  # another worker flagged it at the same moment
        return 1
