"""Choosing shipments: one source if one can ship everything, else the best split.

The objective, compared lexicographically:

1. most units shipped now;
2. lowest ``sum(source scores) + split_penalty x (shipments - 1)``;
3. fewest shipments, then the best-ranked sources (ranking = score, priority desc, id asc).

A plan's cost depends only on which sources it uses, so the search enumerates sets of at most
``max_shipments`` sources. When that space is small the enumeration covers every useful source
(exact). Above it, a bounded heuristic picks a pool of promising sources (a greedy cover, the
best sources for each line, then the best-ranked) and enumerates sets within the pool only.
``benchmarks/decide_bench.py`` and the tests measure its gap against the exact search.
"""

from __future__ import annotations

import functools
import itertools
import math
from collections.abc import Sequence
from typing import NamedTuple

from orchestration_policies.decision import PlanStrategy, SearchMode
from orchestration_policies.inputs import LineToRoute
from orchestration_policies.plan_lines import Lines, Option

__all__ = [
    "EXACT_MAX_SUBSETS",
    "HEURISTIC_MAX_SUBSETS",
    "Option",
    "Plan",
    "plan_shipments",
]

# Above this many candidate source sets the exact search gives way to the heuristic. 500 sets
# is every set of up to 3 sources among 14, and costs well under a millisecond.
EXACT_MAX_SUBSETS = 500
# The heuristic's pool is as large as this budget allows (10 sources when max_shipments = 3).
HEURISTIC_MAX_SUBSETS = 175
_PER_LINE_IN_POOL = 2


class Plan(NamedTuple):
    shipments: tuple[tuple[Option, tuple[tuple[int, int], ...]], ...]  # (line index, qty)
    strategy: PlanStrategy
    search: SearchMode
    considered: int
    objective: float | None
    units: int
    tie_breaks: tuple[str, ...]
    summary: str


@functools.lru_cache(maxsize=1024)  # a few (sources, shipments) pairs recur in every call
def subset_count(n: int, k_max: int) -> int:
    return sum(math.comb(n, k) for k in range(1, min(n, k_max) + 1))


def _single_source_tie_note(best: Option, runner_up: Option) -> str | None:
    if runner_up.score != best.score:
        return None
    a, b = best.source, runner_up.source
    if a.priority != b.priority:
        why = f"higher priority ({a.priority} > {b.priority})"
    else:
        why = f"source_id order ({a.source_id!r} < {b.source_id!r})"
    return (
        f"{a.source_id} and {b.source_id} tied on score {best.score:.6f}; "
        f"chose {a.source_id} by {why}"
    )


def _heuristic_pool(lines: Lines, options: Sequence[Option], k_max: int) -> list[Option]:
    size = k_max
    while subset_count(size + 1, k_max) <= HEURISTIC_MAX_SUBSETS and size + 1 <= len(options):
        size += 1
    picked: dict[int, Option] = {}

    # Greedy cover: each step adds the source that ships the most new units (best rank on ties).
    for o in _greedy_cover(lines, options, k_max):
        picked[o.rank] = o

    # The best-ranked sources able to ship each line (or holding most of it).
    for sku, qty in zip(lines.skus, lines.qty, strict=True):
        able = [o for o in options if o.usable.get(sku, 0) >= qty][:_PER_LINE_IN_POOL]
        if not able:
            most = sorted(((-o.usable.get(sku, 0), o.rank, o) for o in options), key=_first_two)
            able = [o for _, _, o in most[:_PER_LINE_IN_POOL]]
        for o in able:
            if len(picked) >= size:
                break
            picked.setdefault(o.rank, o)
    for o in options:
        if len(picked) >= size:
            break
        picked.setdefault(o.rank, o)
    return sorted(picked.values(), key=lambda o: o.rank)


def _first_two(item: tuple[int, int, Option]) -> tuple[int, int]:
    return item[0], item[1]


def _greedy_cover(lines: Lines, options: Sequence[Option], k_max: int) -> list[Option]:
    chosen: list[Option] = []
    if lines.fast:
        covered = 0
        for _ in range(k_max):
            base = lines.units_of_mask(covered)
            best, best_gain = None, 0
            for o in options:
                gain = lines.units_of_mask(covered | o.mask) - base
                if gain > best_gain:
                    best, best_gain = o, gain
            if best is None:
                break
            chosen.append(best)
            covered |= best.mask
        return chosen
    # Shared SKUs or split lines: estimate the gain per SKU, which is exact for split lines.
    need: dict[str, int] = {}
    for sku, qty in zip(lines.skus, lines.qty, strict=True):
        need[sku] = need.get(sku, 0) + qty
    for _ in range(k_max):
        best, best_gain = None, 0
        for o in options:
            gain = sum(min(n, o.usable.get(s, 0)) for s, n in need.items())
            if gain > best_gain:
                best, best_gain = o, gain
        if best is None:
            break
        chosen.append(best)
        for s in need:
            need[s] -= min(need[s], best.usable.get(s, 0))
    return chosen


def _search(
    lines: Lines, pool: Sequence[Option], k_max: int, penalty: float
) -> tuple[tuple[Option, ...], int, int, float, int]:
    """Best set in ``pool``: (members, units, sets considered, cost, plans tied with it).

    ``pool`` is in ranking order. Sets are compared on (units desc, cost, size, ranks).
    """
    if lines.fast:
        return _search_masks(lines, pool, k_max, penalty)
    best: tuple[Option, ...] = ()
    # Scores are compared exactly: a tie is bit-identical sums, which equal inputs produce.
    best_key: tuple[int, float] | None = None
    considered = 0
    ties = 0
    for k in range(1, min(k_max, len(pool)) + 1):
        extra = penalty * (k - 1)
        for members in itertools.combinations(pool, k):
            considered += 1
            units = lines.units_of(members)
            key = (-units, extra + sum(o.score for o in members))
            if best_key is None or key < best_key:
                best, best_key, ties = members, key, 0
            elif key == best_key:
                ties += 1
    if best_key is None:
        return (), 0, considered, 0.0, 0
    return best, -best_key[0], considered, best_key[1], ties


def _search_masks(
    lines: Lines, pool: Sequence[Option], k_max: int, penalty: float
) -> tuple[tuple[Option, ...], int, int, float, int]:
    """:func:`_search` for whole lines with distinct SKUs: depth-first over bit masks.

    Scores are >= 0 and ``pool`` is sorted by score, so once a set ships every unit any set
    can ship, a branch whose cost already exceeds the best is cut: adding sources (or taking a
    later, costlier one) only adds cost. Everything cut is provably worse, so it stays exact.
    """
    masks = [o.mask for o in pool]
    scores = [o.score for o in pool]
    size = len(pool)
    ceiling = 0
    for m in masks:
        ceiling |= m
    most_units = lines.units_of_mask(ceiling)
    units_of = lines.units_of_mask
    known_units = lines.units_by_mask
    best_units = -1
    best_cost = 0.0
    best_members: tuple[int, ...] = ()
    considered = 0
    ties = 0

    def visit(start: int, chosen: tuple[int, ...], mask: int, cost: float) -> None:
        nonlocal best_units, best_cost, best_members, considered, ties
        extra = penalty if chosen else 0.0
        for j in range(start, size):
            total = cost + extra + scores[j]
            if best_units == most_units and total > best_cost:
                break
            considered += 1
            members = (*chosen, j)
            covered = mask | masks[j]
            units = known_units.get(covered)
            if units is None:
                units = units_of(covered)
            if units > best_units or (units == best_units and total < best_cost):
                best_units, best_cost, best_members, ties = units, total, members, 0
            elif units == best_units and total == best_cost:
                ties += 1
                if (len(members), members) < (len(best_members), best_members):
                    best_members = members
            if len(members) < k_max:
                visit(j + 1, members, covered, total)  # noqa: F821 (ruff: the del below)

    visit(0, (), 0, 0.0)
    # `visit` calls itself through its closure's cell: a cycle (function, cell, the order's
    # Lines, the search's lists) that only the collector frees, which the batch roles run
    # seldom (hub.collector): ~1,000 orders' searches were held by the orchestration role at
    # rest (benchmarks/README.md, memory7). Emptied, the cell lets reference counting free it.
    del visit
    if best_units <= 0:
        return (), 0, considered, 0.0, 0
    return tuple(pool[i] for i in best_members), best_units, considered, best_cost, ties


def plan_shipments(
    lines: Sequence[LineToRoute],
    options: Sequence[Option],
    *,
    max_shipments: int,
    ship_complete: bool,
    split_lines: bool,
    split_penalty: float,
    exact_max_subsets: int = EXACT_MAX_SUBSETS,
) -> Plan:
    """Pick the sources and what each ships; ``options`` must be in ranking order.

    ``max_shipments`` is what is left of the policy's limit; 0 plans nothing.
    """
    if max_shipments < 1:
        why = "no shipment is left within the policy's limit"
        return Plan((), PlanStrategy.NONE, SearchMode.NONE, 0, None, 0, (), why)
    single = _single_source_plan(lines, options)
    if single is not None:
        return single
    if ship_complete or not options:
        why = (
            "ship-complete: no single source can ship every line"
            if ship_complete and options
            else "no eligible source holds any of the ordered stock"
        )
        return Plan((), PlanStrategy.NONE, SearchMode.NONE, len(options), None, 0, (), why)
    return _split_plan(
        Lines(lines, split_lines), options, max_shipments, split_penalty, exact_max_subsets
    )


def _single_source_plan(lines: Sequence[LineToRoute], options: Sequence[Option]) -> Plan | None:
    """The best-ranked source that can ship every line alone, if any can."""
    demand: dict[str, int] | None = None  # only for options not yet known (gather() knows)
    for o in options:
        if o.covers_all is None:
            if demand is None:
                demand = {}
                for line in lines:
                    demand[line.sku] = demand.get(line.sku, 0) + line.quantity
            o.covers_all = all(o.usable.get(s, 0) >= q for s, q in demand.items())
    full = [o for o in options if o.covers_all]
    if not full:
        return None
    best = full[0]
    note = _single_source_tie_note(best, full[1]) if len(full) > 1 else None
    everything = tuple((i, line.quantity) for i, line in enumerate(lines))
    return Plan(
        shipments=((best, everything),),
        strategy=PlanStrategy.SINGLE_SOURCE,
        search=SearchMode.SINGLE_SOURCE,
        considered=len(full),
        objective=best.score,
        units=sum(line.quantity for line in lines),
        tie_breaks=(note,) if note else (),
        summary=(
            f"{best.source.source_id} can ship all {len(lines)} line(s) in one shipment; "
            f"best score of {len(full)} source(s) that can"
        ),
    )


def _split_plan(
    prepared: Lines,
    options: Sequence[Option],
    max_shipments: int,
    split_penalty: float,
    exact_max_subsets: int,
) -> Plan:
    """The best set of up to ``max_shipments`` sources: exact search, or over a pool."""
    if prepared.fast:
        for o in options:
            o.mask = prepared.mask_of(o.usable)
    if subset_count(len(options), max_shipments) <= exact_max_subsets:
        pool: Sequence[Option] = options
        mode = SearchMode.EXACT
    else:
        pool = _heuristic_pool(prepared, options, max_shipments)
        mode = SearchMode.HEURISTIC
    members, units, considered, cost, ties = _search(prepared, pool, max_shipments, split_penalty)
    if units == 0:
        return Plan(
            (), PlanStrategy.NONE, mode, considered, None, 0, (), "no source can ship any line"
        )
    _, taken = prepared.assign(members)
    shipments = tuple((o, tuple(sorted(t))) for o, t in zip(members, taken, strict=True) if t)
    strategy = PlanStrategy.SPLIT if len(shipments) > 1 else PlanStrategy.PARTIAL_SINGLE_SOURCE
    notes: tuple[str, ...] = ()
    if ties:
        notes = (
            f"{ties} other plan(s) ship as many units at the same cost {cost:.6f}; chose the "
            "one with fewest shipments, then the best-ranked sources",
        )
    names = ", ".join(o.source.source_id for o, _ in shipments)
    scope = "all" if mode is SearchMode.EXACT else f"a pool of {len(pool)} of the"
    ordered = sum(prepared.qty)
    summary = (
        f"no single source can ship every line; {len(shipments)} shipment(s) from {names} "
        f"ship {units} of {ordered} unit(s); best of {considered} source set(s) of up to "
        f"{max_shipments} among {scope} {len(options)} sources holding stock ({mode} search)"
    )
    return Plan(shipments, strategy, mode, considered, cost, units, notes, summary)
