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
from orchestration_policies.policy_constants import constants_of

__all__ = ["Gathered", "gather"]

_EXCLUDED = CandidateStatus.EXCLUDED
_NO_STOCK = CandidateStatus.NO_STOCK
_NO_STOCK_DETAIL = "holds none of the ordered SKUs (policy rules not evaluated)"
_RESERVED_DETAIL = "its stock of the ordered SKUs is kept for other demand classes"
_new_explanation = tuple.__new__  # CandidateExplanation without its Python-level __new__
_NO_STOCK_ROW = (_NO_STOCK, None, _NO_STOCK_DETAIL, (), None, None, ())
_NO_FIGURES = ((), None, None, ())  # an excluded candidate's raw, total, rank and usable


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


class _StockReader:
    """What an order may use of a source's stock, after the units kept for other classes."""

    __slots__ = ("_kept_by_on_hand", "_reservations", "_wanted")

    def __init__(self, demand: dict[str, int], reservations: Reservations) -> None:
        self._wanted = tuple(demand.items())
        self._reservations = reservations if reservations else None
        self._kept_by_on_hand = reservations.kept_by_on_hand

    def usable(self, source: CandidateSource) -> tuple[dict[str, int], bool] | None:
        """Usable units per SKU and whether they cover every line; None if it holds none."""
        level_of = source.stock.get
        reservations = self._reservations
        usable: dict[str, int] = {}
        any_available = False
        covers_all = True
        for sku, quantity in self._wanted:
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
            if reservations is not None:
                on_hand = level.on_hand
                kept = self._kept_by_on_hand.get(on_hand)
                if kept is None:
                    kept = reservations.kept_for_others(on_hand)
                available -= kept
                if available < quantity:
                    covers_all = False
                    if available <= 0:
                        continue
            usable[sku] = available
        return (usable, covers_all) if any_available else None


def gather(
    order: OrderToRoute,
    candidates: Sequence[CandidateSource],
    policy: Policy,
    demand: dict[str, int],
    checks: list[tuple[EligibilityRule, BoundCondition]],
    units: int,
    explain: bool = True,
) -> Gathered:
    """Exclusions, usable stock (after demand-class reservations), distances and options
    (``units``: the order's, for the ranking cost).

    ``explain`` False: sources the built-in rules exclude are not recorded in ``excluded``.
    """
    _check_unique(candidates)
    found = Gathered()
    stocked = _stocked_sources(order, candidates, policy, demand, found, explain)
    # The policy's own rules, each over every stocked source at once (memoised lookups in
    # bulk), in document order: a source is excluded by the first rule it fails.
    for rule, check in checks:
        if not stocked:
            break
        stocked = _apply_rule(rule, check, stocked, found)
    for one in stocked:
        found.any_eligible = True
        found.passed.append(one.source)
        if one.usable:
            _rank_criteria(one, units)
            found.options.append(one)
        else:
            found.no_stock.append(
                CandidateExplanation(one.source.source_id, _NO_STOCK, detail=_RESERVED_DETAIL)
            )
    # Candidates may come in any order; the record must not depend on it.
    found.errors.sort()
    return found


def _check_unique(candidates: Sequence[CandidateSource]) -> None:
    if len({source.source_id for source in candidates}) != len(candidates):
        counts = Counter(source.source_id for source in candidates)
        raise ValueError(
            f"duplicate candidate sources: {sorted(k for k, n in counts.items() if n > 1)}"
        )


def _stocked_sources(
    order: OrderToRoute,
    candidates: Sequence[CandidateSource],
    policy: Policy,
    demand: dict[str, int],
    found: Gathered,
    explain: bool,
) -> list[Option]:
    """Sources past the built-in rules that hold some of the order; the others are recorded
    (those the built-in rules exclude only when ``explain``)."""
    constants = constants_of(policy)
    excluded_ids = constants.excluded
    reader = _StockReader(demand, constants.reservations(order.demand_class))
    here = (
        radians_of(order.ship_to_lat, order.ship_to_lon)
        if order.ship_to_lat is not None and order.ship_to_lon is not None
        else None
    )
    country, method, demand_class = order.country, order.delivery_method, order.demand_class
    currency = order.currency
    stocked: list[Option] = []
    for source in candidates:
        # The common case in one expression; builtin_exclusion() names the rule otherwise.
        if not (
            source.active
            and (source.ships_everywhere or country in source.ship_countries)
            and method in source.delivery_methods
            and (not source.demand_classes or demand_class in source.demand_classes)
            and source.used_today < source.daily_capacity
            and source.cost.currency == currency
            and source.source_id not in excluded_ids
        ):
            if not explain:
                continue  # builtin_exclusion() would name the rule the expression failed
            exclusion = builtin_exclusion(order, source, excluded_ids)
            if exclusion is not None:
                row = (source.source_id, _EXCLUDED, exclusion.rule, exclusion.detail, *_NO_FIGURES)
                found.excluded.append(_new_explanation(CandidateExplanation, row))
                continue
        # Stock before the policy's own rules: many sources hold none of a given order, and
        # those need no (comparatively costly) condition evaluation.
        usable = reader.usable(source)
        if usable is None:
            found.any_eligible = True
            found.no_stock.append(
                _new_explanation(CandidateExplanation, (source.source_id, *_NO_STOCK_ROW))
            )
            continue
        distance = None if here is None else haversine_radians(here, source.position)
        stocked.append(Option(source, usable[0], distance, usable[1]))
    return stocked


def _apply_rule(
    rule: EligibilityRule, check: BoundCondition, stocked: list[Option], found: Gathered
) -> list[Option]:
    """The sources that pass one policy rule; the others are recorded as excluded by it."""
    outcomes = check.outcomes([s.source for s in stocked], [s.distance_km for s in stocked])
    passing: list[Option] = []
    for one, outcome in zip(stocked, outcomes, strict=True):
        if outcome is True:
            passing.append(one)
            continue
        sid = one.source.source_id
        exclusion = exclusion_for(rule, outcome)
        found.excluded.append(
            CandidateExplanation(sid, _EXCLUDED, exclusion.rule, exclusion.detail)
        )
        if exclusion.error is not None:
            found.errors.append(f"eligibility rule {rule.name} on {sid}: {exclusion.error}")
    return passing


def _rank_criteria(one: Option, units: int) -> None:
    source, distance = one.source, one.distance_km
    # Raw ranking criteria, in CRITERIA order (see scoring.py for what each one means).
    cost = source.cost
    one.raw = (
        distance,
        # CostModel.ranking_cost(units, distance), inline: the same arithmetic, bit for bit
        cost.base_f + cost.per_unit_f * units + cost.per_km_f * (distance or 0.0),
        source.lead_time_days,
        source.daily_capacity - source.used_today,
        source.priority,
        sum(one.usable.values()),
    )
