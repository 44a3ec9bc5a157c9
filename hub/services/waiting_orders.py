"""Waiting orders whose last decision nothing has changed since: the sweep and the wake-ups
skip them.

The sweep (hub.services.followers) decides every waiting order again that could move (some
unit of a SKU it waits for is free somewhere), every 30 s by default, as a net for wake-ups the
backorder view missed. An order waiting for more than any one source holds, or for units only
an excluded source has, passes that test every time and was decided again every sweep, its
decision recording nothing (`unchanged`): the sweep's cost grew with the waiting orders, not
with what changed. The same test filters the wake path: a stock event that may have freed
units of a SKU wakes only the orders waiting for it that the test does not skip. Restocking
counts rows back up at sources many of the waiting orders may not use (soak3 in
benchmarks/README.md: a third of the orchestration role decided waiting orders again, and
~10 % of the orders wait on SKUs every holder of which a rule excludes: same-day, or a
country no holder ships to).

What decide() is given for such an order: its lines, its SKUs' holders and their stock, the
sources, the policies, the capacity used today, and the time. An order is skipped only while
none of them can have let it move since its last decision, made against the supply view at a
log position:
- no event after that position may have freed units of its SKUs (`SupplyView.raised_since`:
  stock registered or counted, adjusted up, released, a reservation ended unshipped: the events
  that wake a waiting order when delivered) at a source its decision did not exclude by a rule
  whose verdict stock cannot change (below); reservations and shipments only take;
- no source or policy event, and no restore of the view (`SupplyView.generation`);
- the same UTC day (capacity counts today's shipments);
- no policy in force reads the time (`now` in a condition): such a decision may change with the
  clock alone, so those orders are decided again every sweep, as before;
- the backorder view still shows it waiting for the SKUs it waited for (an order changed since,
  by whatever process, is decided again); an order the view does not list yet (below) is taken
  as waiting for what its decision left it waiting for.
An order another worker decided is unknown here and is decided again, as before.

A rule's verdict on a source stays while the source, the policies, the order and the day do:
the built-in rules read the source's definition and the capacity used today, which only grows
within a day; a policy's own rule too, unless it reads the source's stock or capacity used (or
what it reads cannot be told: `moving_rules`). Sources a decision did not look at (holding none
of the order's SKUs) or whose rules it did not evaluate (holding none it may use) are never
excluded: stock registered or counted up there wakes the order.

Whom a raise wakes is asked of the backorder view, fed by its own consumer, which can be behind
routing's (distributed, the stock event may come before the view has the order's wait): the
orders decided here that the view may not list yet are asked too (`unlisted`), until a sweep
finds the view listing them or not.
"""

import sys
import threading
from collections.abc import Callable, Collection, Iterable
from dataclasses import dataclass, replace
from datetime import UTC, date, datetime
from uuid import UUID

from hub.services.supply_view import SupplyView
from orchestration_policies import CandidateSource, CandidateStatus, Decision, OrderToRoute, Policy


@dataclass(frozen=True, slots=True)
class Waited:
    """What an order's last decision saw: the view's position and generation, and the day.
    Kept for every waiting order this process decided, so small: SKUs as sorted tuples (a
    frozenset of four is three times the size), the excluded sources one set shared by the
    orders that have the same (`WaitingOrders.decided`)."""

    position: int
    generation: int
    day: date
    skus: tuple[str, ...]  # the SKUs of the lines it decided: their holders were its candidates
    waiting: tuple[str, ...]  # the SKUs it was left waiting for
    excluded: frozenset[str] = frozenset()  # sources excluded by a verdict stock cannot change


def sku_tuple(skus: Iterable[str]) -> tuple[str, ...]:
    """SKUs as `Waited` keeps them: once each, sorted, interned (each order's strings are its
    own, read with it; interned, the orders waiting for a SKU share one)."""
    return tuple(sorted({sys.intern(sku) for sku in skus}))


class WaitingOrders:
    """Per waiting order, what its last decision saw (only orders this process decided)."""

    def __init__(self, supply: SupplyView, clock: Callable[[], datetime]) -> None:
        self._supply = supply
        self._clock = clock
        self._lock = threading.Lock()
        self._seen: dict[UUID, Waited] = {}
        # One copy of each set of excluded sources: the orders of a country or a delivery
        # method share theirs (rebuilt by `keep`, so bounded by the orders waiting).
        self._shared: dict[frozenset[str], frozenset[str]] = {}
        # Decided since the last `keep`: the backorder view (another lane's, another process's)
        # may not show them yet.
        self._fresh: set[UUID] = set()
        # By SKU waited for, those and the ones the view did not list at the last `keep`, in
        # the order decided (dicts as ordered sets): a wake-up asks them too (`unlisted`), so
        # a stock event read before the view has an order's wait still wakes it, not only the
        # next sweep. Kept with each decision (an order is under the SKUs its last decision
        # left it waiting for, or under none) and cut to the unlisted ones by `keep`. Orders
        # routing did not decide (`Waited.skus` empty: held, cancelled, shipped; the view
        # passes its held lines over too) are under none: no raise can move them.
        self._recent: dict[str, dict[UUID, None]] = {}

    def decided(self, order_id: UUID, seen: Waited | None) -> None:
        """After a save: the order waits as `seen` says, or (None) it is not known to wait."""
        with self._lock:
            before = self._seen.pop(order_id, None)
            wakes = () if seen is None or not seen.skus else seen.waiting
            if before is not None:
                for sku in before.waiting:
                    if sku not in wakes:
                        self._unfile(sku, order_id)
            if seen is None:
                self._fresh.discard(order_id)
                return
            self._fresh.add(order_id)
            for sku in wakes:
                self._recent.setdefault(sku, {})[order_id] = None
            excluded = self._shared.setdefault(seen.excluded, seen.excluded)
            if excluded is not seen.excluded:
                seen = replace(seen, excluded=excluded)
            self._seen[order_id] = seen

    def _unfile(self, sku: str, order_id: UUID) -> None:
        orders = self._recent.get(sku)
        if orders is not None:
            orders.pop(order_id, None)
            if not orders:
                del self._recent[sku]

    def unchanged(self, order_id: UUID, waiting: Collection[str]) -> bool:
        """Whether deciding the order again could give nothing new (see the module's text)."""
        with self._lock:
            seen = self._seen.get(order_id)
        supply = self._supply
        return (
            seen is not None
            and seen.generation == supply.generation
            and seen.day == self._clock().astimezone(UTC).date()
            and seen.waiting == sku_tuple(waiting)
            and not supply.raised_since(seen.skus, seen.position, seen.excluded)
        )

    def keep(self, order_ids: Iterable[UUID]) -> None:
        """Forget the orders no longer waiting (routed, cancelled, decided elsewhere): those not
        in `order_ids` (what the backorder view lists) and not decided since the last call,
        which the view may not list yet (forgotten too early, an order is only decided again)."""
        kept = set(order_ids)
        with self._lock:
            unlisted = self._fresh - kept
            kept |= self._fresh
            self._fresh = set()
            self._seen = {k: v for k, v in self._seen.items() if k in kept}
            self._recent = {
                sku: {k: None for k in orders if k in unlisted}
                for sku, orders in self._recent.items()
                if not unlisted.isdisjoint(orders)
            }
            self._shared = {w.excluded: w.excluded for w in self._seen.values()}

    def unlisted(self, skus: Iterable[str]) -> dict[str, list[tuple[str, tuple[str, ...]]]]:
        """The orders decided here that the backorder view may not list yet (decided since the
        last `keep`, or not listed at it), waiting for any of these SKUs: SKU → (order id, the
        SKUs it waits for), in the order decided. An order decided by another process, or on a
        policy that reads the clock, is not among them: the view and the sweep find it."""
        found: dict[str, list[tuple[str, tuple[str, ...]]]] = {}
        with self._lock:
            for sku in skus:
                for order_id in self._recent.get(sku, ()):
                    found.setdefault(sku, []).append((str(order_id), self._seen[order_id].waiting))
        return found

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


# What a policy's rule may read of a source that changes without a source event.
_MOVING = frozenset({"stock", "used_today", "capacity_left"})


def moving_rules(policies: Iterable[Policy]) -> frozenset[str]:
    """The eligibility rules (by name) whose verdict on a source may change with its stock or
    the capacity it used: those that read them, the whole source, or what cannot be told."""
    names = set()
    for policy in policies:
        for rule in policy.eligibility:
            analysis = rule.compiled.analysis
            if not analysis.complete or any(
                root == "source" and (not path or path[0] in _MOVING)
                for root, path in analysis.paths
            ):
                names.add(rule.name)
    return frozenset(names)


def fixed_exclusions(decision: Decision, moving: frozenset[str]) -> frozenset[str]:
    """The sources the decision excluded by a verdict stock cannot change."""
    return frozenset(
        c.source_id
        for c in decision.explanation.candidates
        if c.status is CandidateStatus.EXCLUDED and c.rule not in moving
    )


def unfulfillable(
    order: OrderToRoute,
    decision: Decision,
    candidates: Iterable[CandidateSource],
    moving: frozenset[str],
) -> dict[str, str]:
    """The waiting lines no source holding their SKU may ship, by a verdict stock cannot
    change (as `fixed_exclusions`): line id → why, naming each holder and its rule. Restocking
    cannot move them; a source or policy change, or stock registered at a source that may ship
    them, can. Operations see them as their own exception (`unfulfillable`), not as a wait."""
    waiting = {line.line_id for line in decision.backordered}
    if not waiting:
        return {}
    verdicts = _fixed_verdicts(decision, moving)
    holders = _holders(candidates)
    stuck = {}
    for line in order.lines:
        held = holders.get(line.sku, []) if line.line_id in waiting else []
        if held and verdicts.keys() >= set(held):
            named = ", ".join(f"{s} ({verdicts[s]})" for s in sorted(held))
            stuck[line.line_id] = f"{line.sku}: held only at {named}"
    return stuck


def _fixed_verdicts(decision: Decision, moving: frozenset[str]) -> dict[str, str]:
    """The sources the decision excluded by a verdict stock cannot change, with the rule."""
    return {
        c.source_id: c.rule or "excluded"
        for c in decision.explanation.candidates
        if c.status is CandidateStatus.EXCLUDED and c.rule not in moving
    }


def _holders(candidates: Iterable[CandidateSource]) -> dict[str, list[str]]:
    """SKU → the candidates holding a stock item of it (a candidate without stock holds none)."""
    holders: dict[str, list[str]] = {}
    for candidate in candidates:
        for sku in candidate.stock:
            holders.setdefault(sku, []).append(candidate.source_id)
    return holders
