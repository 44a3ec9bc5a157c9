"""Going over the candidate sources: exclusions, usable stock, distances, options.

This runs for every candidate of every order (hundreds per call), so it is written for speed:
per source, the built-in rules in one expression and then its stock of the ordered SKUs; then
each policy CEL rule over all sources that hold some of the order at once (memoised results,
looked up in bulk); then the options that remain, with their raw ranking criteria. Sources
holding none of the order are never given to CEL.
"""

from __future__ import annotations

from collections import Counter
from collections.abc import Sequence

from orchestration_policies.cel import BoundCondition
from orchestration_policies.decision import CandidateExplanation, CandidateStatus
from orchestration_policies.eligibility import Reservations, builtin_exclusion, exclusion_for
from orchestration_policies.geo import haversine_radians, radians_of
from orchestration_policies.inputs import CandidateSource, OrderToRoute
from orchestration_policies.planning import Option
from orchestration_policies.policy import EligibilityRule, Policy

__all__ = ["Gathered", "gather"]

_EXCLUDED = CandidateStatus.EXCLUDED
_NO_STOCK = CandidateStatus.NO_STOCK
_NO_STOCK_DETAIL = "holds none of the ordered SKUs (policy rules not evaluated)"
_RESERVED_DETAIL = "its stock of the ordered SKUs is kept for other demand classes"
_new_explanation = tuple.__new__  # CandidateExplanation without its Python-level __new__
_NO_STOCK_ROW = (_NO_STOCK, None, _NO_STOCK_DETAIL, (), None, None, ())


class Gathered:
    """What the pass over the candidates found."""

    __slots__ = ("any_eligible", "errors", "excluded", "no_stock", "options", "passed")

    def __init__(self) -> None:
        self.options: list[Option] = []
        self.excluded: list[CandidateExplanation] = []
        self.no_stock: list[CandidateExplanation] = []
        self.errors: list[str] = []
        self.passed: list[CandidateSource] = []  # passed every rule and holds some stock
        self.any_eligible = False


def gather(
    order: OrderToRoute,
    candidates: Sequence[CandidateSource],
    policy: Policy,
    demand: dict[str, int],
    checks: list[tuple[EligibilityRule, BoundCondition]],
) -> Gathered:
    """Exclusions, usable stock (after demand-class reservations), distances and options."""
    found = Gathered()
    options, excluded, no_stock = found.options, found.excluded, found.no_stock
    reservations = Reservations(policy.allocation, order.demand_class)
    has_reservations = bool(reservations)
    kept_by_on_hand: dict[int, int] = {}
    excluded_ids = frozenset(policy.excluded_sources)
    here = (
        radians_of(order.ship_to_lat, order.ship_to_lon)
        if order.ship_to_lat is not None and order.ship_to_lon is not None
        else None
    )
    wanted = tuple(demand.items())
    units = order.units
    if len({source.source_id for source in candidates}) != len(candidates):
        counts = Counter(source.source_id for source in candidates)
        raise ValueError(
            f"duplicate candidate sources: {sorted(k for k, n in counts.items() if n > 1)}"
        )
    country, method, demand_class = order.country, order.delivery_method, order.demand_class
    currency = order.currency
    # Sources holding some of the order, with what this order may use and their distance.
    stocked: list[CandidateSource] = []
    usables: list[dict[str, int]] = []
    covers: list[bool] = []
    distances: list[float | None] = []
    for source in candidates:
        sid = source.source_id
        # The common case in one expression; builtin_exclusion() names the rule otherwise.
        if not (
            source.active
            and (source.ships_everywhere or country in source.ship_countries)
            and method in source.delivery_methods
            and (not source.demand_classes or demand_class in source.demand_classes)
            and source.used_today < source.daily_capacity
            and source.cost.currency == currency
            and sid not in excluded_ids
        ):
            exclusion = builtin_exclusion(order, source, excluded_ids)
            if exclusion is not None:
                excluded.append(
                    CandidateExplanation(sid, _EXCLUDED, exclusion.rule, exclusion.detail)
                )
                continue
        # Stock before the policy's own rules: many sources hold none of a given order, and
        # those need no (comparatively costly) condition evaluation.
        level_of = source.stock.get
        usable: dict[str, int] = {}
        any_available = False
        covers_all = True  # may ship every line alone
        for sku, quantity in wanted:
            level = level_of(sku)
            if level is None:
                covers_all = False
                continue
            available = level.available
            if available < quantity:
                covers_all = False
                if available <= 0:
                    continue
            any_available = True
            if has_reservations:
                on_hand = level.on_hand
                kept = kept_by_on_hand.get(on_hand)
                if kept is None:
                    kept = kept_by_on_hand[on_hand] = reservations.kept_for_others(on_hand)
                available -= kept
                if available < quantity:
                    covers_all = False
                    if available <= 0:
                        continue
            usable[sku] = available
        if not any_available:
            found.any_eligible = True
            no_stock.append(_new_explanation(CandidateExplanation, (sid, *_NO_STOCK_ROW)))
            continue
        stocked.append(source)
        usables.append(usable)
        covers.append(covers_all)
        distances.append(None if here is None else haversine_radians(here, source.position))

    # The policy's own rules, each over every stocked source at once (memoised lookups in
    # bulk), in document order: a source is excluded by the first rule it fails.
    for rule, check in checks:
        if not stocked:
            break
        outcomes = check.outcomes(stocked, distances)
        passing = [i for i, outcome in enumerate(outcomes) if outcome is True]
        for i, outcome in enumerate(outcomes):
            if outcome is True:
                continue
            source = stocked[i]
            exclusion = exclusion_for(rule, outcome)
            excluded.append(
                CandidateExplanation(source.source_id, _EXCLUDED, exclusion.rule, exclusion.detail)
            )
            if exclusion.error is not None:
                found.errors.append(
                    f"eligibility rule {rule.name} on {source.source_id}: {exclusion.error}"
                )
        if len(passing) < len(stocked):
            stocked = [stocked[i] for i in passing]
            usables = [usables[i] for i in passing]
            covers = [covers[i] for i in passing]
            distances = [distances[i] for i in passing]

    for source, usable, distance, covers_all in zip(
        stocked, usables, distances, covers, strict=True
    ):
        found.any_eligible = True
        found.passed.append(source)
        if not usable:
            no_stock.append(
                CandidateExplanation(source.source_id, _NO_STOCK, detail=_RESERVED_DETAIL)
            )
            continue
        # Raw ranking criteria, in CRITERIA order (see scoring.py for what each one means).
        raw = (
            distance,
            source.cost.ranking_cost(units, distance),
            source.lead_time_days,
            source.daily_capacity - source.used_today,
            source.priority,
            sum(usable.values()),
        )
        options.append(Option(source, usable, distance, covers_all, raw=raw))
    # Candidates may come in any order; the record must not depend on it.
    found.errors.sort()
    return found
