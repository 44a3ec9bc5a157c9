"""Ranking criteria: raw values per source, normalised to 0..1 across the candidates.

Normalising makes weights comparable (a kilometre and a euro are not). It is min-max over the
sources in the running, so on each criterion the best source scores 0 and the worst 1 whatever
the units; a criterion that is unknown (distance without a ship-to position) or equal for all
scores 0 everywhere. Lower totals are better.

The raw values, per criterion in ``CRITERIA`` order:

distance_km     great-circle km from the source to the ship-to position.
shipping_cost   estimated cost of shipping the whole order from the source. Binary floating point
                because it is only compared, never charged; the Decimal ``estimated_cost`` of
                the chosen shipments is the amount reported as money.
lead_time_days  the source's lead time.
capacity_left   shipments the source can still take today (more is better).
source_priority the source's priority (more is better).
stock_depth     units of the ordered SKUs the order may use there, after demand-class
                reservations (more is better).
"""

from __future__ import annotations

from collections.abc import Sequence
from typing import cast

from orchestration_policies.policy import CRITERIA

__all__ = ["HIGHER_IS_BETTER", "Bounds", "bounds_of", "normalised_value", "weighted_totals"]

HIGHER_IS_BETTER: tuple[bool, ...] = tuple(
    name in ("capacity_left", "source_priority", "stock_depth") for name in CRITERIA
)

Bounds = tuple[float, float] | None  # (min, max) of a criterion, None when nothing is known


def bounds_of(column: Sequence[float | None]) -> Bounds:
    if not column or column[0] is None:
        # Only distance can be unknown, and then it is unknown for every source.
        values = [v for v in column if v is not None]
        return (min(values), max(values)) if values else None
    known = cast("Sequence[float]", column)
    try:
        return (min(known), max(known))
    except TypeError:  # a None further down: not produced by decide(), handled anyway
        values = [v for v in column if v is not None]
        return (min(values), max(values))


def normalised_value(value: float | None, bounds: Bounds, higher_is_better: bool) -> float:
    """0 (best) .. 1 (worst); the same arithmetic as :func:`weighted_totals`."""
    if value is None or bounds is None:
        return 0.0
    low, high = bounds
    span = high - low
    if span <= 0.0:
        return 0.0
    return (high - value) / span if higher_is_better else (value - low) / span


def weighted_totals(
    columns: Sequence[Sequence[float | None]],
    bounds: Sequence[Bounds],
    weights: Sequence[float],
) -> list[float]:
    """Sum of weight x normalised value per source, criteria added in ``CRITERIA`` order."""
    size = len(columns[0]) if columns else 0
    totals = [0.0] * size
    for column, limits, weight, higher in zip(
        columns, bounds, weights, HIGHER_IS_BETTER, strict=True
    ):
        if not weight or limits is None or limits[1] - limits[0] <= 0.0:
            continue  # contributes exactly 0.0 to every total
        low, high = limits
        span = high - low
        # Same arithmetic as normalised_value(), so explanations add up to these totals.
        if higher:
            totals = [
                t if v is None else t + weight * ((high - v) / span)
                for t, v in zip(totals, column, strict=True)
            ]
        else:
            totals = [
                t if v is None else t + weight * ((v - low) / span)
                for t, v in zip(totals, column, strict=True)
            ]
    return totals
