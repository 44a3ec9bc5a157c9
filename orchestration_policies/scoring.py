"""Ranking criteria: raw values per source, normalised to 0..1 across the candidates.

Normalising makes weights comparable (a kilometre and a euro are not), and it is min-max over
the sources that are actually in the running, so the best source on a criterion scores 0 and
the worst 1 whatever the units. Lower totals are better.
"""

from __future__ import annotations

from collections.abc import Sequence

from orchestration_policies.inputs import CandidateSource, OrderToRoute
from orchestration_policies.policy import CRITERIA

__all__ = ["HIGHER_IS_BETTER", "normalise", "raw_criteria"]

# For these criteria more is better (more capacity, higher priority, deeper stock), so their
# normalised value is inverted: the source with the most scores 0.
HIGHER_IS_BETTER: tuple[bool, ...] = tuple(
    name in ("capacity_left", "source_priority", "stock_depth") for name in CRITERIA
)


def raw_criteria(
    order: OrderToRoute,
    source: CandidateSource,
    distance_km: float | None,
    usable_units: int,
) -> tuple[float | None, ...]:
    """Raw values in ``CRITERIA`` order.

    shipping_cost is the ranking estimate for shipping the whole order from this source; it is
    computed in binary floating point because it is only compared, never charged (charges are
    the Decimal ``estimated_cost`` of the chosen shipments). stock_depth is the units of the
    ordered SKUs this source may use for this order, after demand-class reservations.
    """
    return (
        distance_km,
        source.cost.ranking_cost(order.units, distance_km),
        float(source.lead_time_days),
        float(source.capacity_left),
        float(source.priority),
        float(usable_units),
    )


def normalise(
    raws: Sequence[tuple[float | None, ...]], weights: tuple[float, ...]
) -> list[tuple[tuple[float, ...], float]]:
    """(normalised values, weighted total) per source, in the order given."""
    columns = len(weights)
    lows: list[float] = []
    spans: list[float] = []
    for c in range(columns):
        values = [v for r in raws if (v := r[c]) is not None]
        low = min(values) if values else 0.0
        high = max(values) if values else 0.0
        lows.append(low)
        spans.append(high - low)
    out: list[tuple[tuple[float, ...], float]] = []
    for raw in raws:
        norms: list[float] = []
        total = 0.0
        for c in range(columns):
            value = raw[c]
            span = spans[c]
            if value is None or span <= 0.0:
                # Unknown (no ship-to position) or identical everywhere: neutral.
                norm = 0.0
            else:
                norm = (value - lows[c]) / span
                if HIGHER_IS_BETTER[c]:
                    norm = 1.0 - norm
            norms.append(norm)
            total += weights[c] * norm
        out.append((tuple(norms), total))
    return out
