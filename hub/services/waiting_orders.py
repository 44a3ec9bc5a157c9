"""Waiting orders whose last decision nothing has changed since: the backorder sweep skips them.

The sweep (hub.services.followers) decides every waiting order again that could move (some
unit of a SKU it waits for is free somewhere), every 30 s by default, as a net for wake-ups the
backorder view missed. An order waiting for more than any one source holds, or for units only
an excluded source has, passes that test every time and was decided again every sweep, its
decision recording nothing (`unchanged`): the sweep's cost grew with the waiting orders, not
with what changed.

What decide() is given for such an order: its lines, its SKUs' holders and their stock, the
sources, the policies, the capacity used today, and the time. An order is skipped only while
none of them can have let it move since its last decision, made against the supply view at a
log position:
- no event after that position may have freed units of its SKUs (`SupplyView.raised_since`:
  stock registered or counted, adjusted up, released, a reservation ended unshipped: the events
  that wake a waiting order when delivered); reservations and shipments only take;
- no source or policy event, and no restore of the view (`SupplyView.generation`);
- the same UTC day (capacity counts today's shipments);
- no policy in force reads the time (`now` in a condition): such a decision may change with the
  clock alone, so those orders are decided again every sweep, as before;
- the backorder view still shows it waiting for the SKUs it waited for (an order changed since,
  by whatever process, is decided again).
An order another worker decided is unknown here and is decided again, as before.
"""

import threading
from collections.abc import Callable, Collection, Iterable
from dataclasses import dataclass
from datetime import UTC, date, datetime
from uuid import UUID

from hub.services.supply_view import SupplyView
from orchestration_policies import Policy


@dataclass(frozen=True, slots=True)
class Waited:
    """What an order's last decision saw: the view's position and generation, and the day."""

    position: int
    generation: int
    day: date
    skus: frozenset[str]  # the SKUs of the lines it decided: their holders were its candidates
    waiting: frozenset[str]  # the SKUs it was left waiting for


class WaitingOrders:
    """Per waiting order, what its last decision saw (only orders this process decided)."""

    def __init__(self, supply: SupplyView, clock: Callable[[], datetime]) -> None:
        self._supply = supply
        self._clock = clock
        self._lock = threading.Lock()
        self._seen: dict[UUID, Waited] = {}

    def decided(self, order_id: UUID, seen: Waited | None) -> None:
        """After a save: the order waits as `seen` says, or (None) it is not known to wait."""
        with self._lock:
            if seen is None:
                self._seen.pop(order_id, None)
            else:
                self._seen[order_id] = seen

    def unchanged(self, order_id: UUID, waiting: Collection[str]) -> bool:
        """Whether deciding the order again could give nothing new (see the module's text)."""
        with self._lock:
            seen = self._seen.get(order_id)
        supply = self._supply
        return (
            seen is not None
            and seen.generation == supply.generation
            and seen.day == self._clock().astimezone(UTC).date()
            and seen.waiting == frozenset(waiting)
            and not supply.raised_since(seen.skus, seen.position)
        )

    def keep(self, order_ids: Iterable[UUID]) -> None:
        """Forget the orders no longer waiting (routed, cancelled, decided elsewhere)."""
        kept = set(order_ids)
        with self._lock:
            self._seen = {k: v for k, v in self._seen.items() if k in kept}

    def __len__(self) -> int:
        return len(self._seen)


def reads_clock(policies: Iterable[Policy]) -> bool:
    """Whether a condition of these policies reads `now` (or cannot be told not to)."""
    for policy in policies:
        conditions = [
            policy.applies_to.compiled,
            *(hold.compiled for hold in policy.holds),
            *(rule.compiled for rule in policy.eligibility),
        ]
        for condition in conditions:
            if condition is not None and (
                "now" in condition.analysis.names or not condition.analysis.complete
            ):
                return True
    return False
