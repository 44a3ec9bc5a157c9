"""The scored candidates' figures as a decision record holds them (raw, normalised,
contribution per criterion), rounded to 6 decimals as `canonical.rounded` rounds, worked out
fast: a decision over hundreds of candidates is recorded with every order."""

from __future__ import annotations

from collections.abc import Sequence

from orchestration_policies.canonical import rounded
from orchestration_policies.scoring import HIGHER_IS_BETTER, Bounds

_Recorded = tuple[float | None, float, float]  # one criterion: raw, normalised, contribution


class Figures:
    """The scored candidates' figures as recorded, rounded to 6 decimals. Candidates share
    most raw values (lead times, priorities, capacities ...): each criterion's figures are
    worked out once per distinct raw value, and spread over the candidates column by column
    (built-in loops: a re-run records 200 candidates). Normalised as `scoring.normalised_value`
    does (the same arithmetic, written out: it runs for every figure of every decision)."""

    __slots__ = ("_columns",)

    def __init__(self, bounds: Sequence[Bounds | None], weights: Sequence[float]) -> None:
        self._columns: list[tuple[float, float, float, bool, float]] = []
        for pair, higher, weight in zip(bounds, HIGHER_IS_BETTER, weights, strict=True):
            low, high = pair if pair is not None else (0.0, 0.0)
            self._columns.append((low, high, high - low, higher, weight))

    def rows(
        self, raws: list[tuple[float | None, ...]]
    ) -> list[tuple[list[float | None], list[float], list[float]]]:
        """Per candidate (of ``raws``, in order): its raw, normalised and contribution lists."""
        if not raws:
            return []
        if {len(raw) for raw in raws} != {len(self._columns)}:
            raise ValueError("each scored candidate needs one raw value per criterion")
        per_raw, per_norm, per_contribution = [], [], []
        for values, column in zip(zip(*raws, strict=True), self._columns, strict=True):
            # Keyed by value, as a dict tells values apart (1 and 1.0 are one key: both
            # give the same figures).
            seen = recorded(set(values), *column)
            raw, norm, contribution = zip(*map(seen.__getitem__, values), strict=True)
            per_raw.append(raw)
            per_norm.append(norm)
            per_contribution.append(contribution)
        return list(
            zip(
                map(list, zip(*per_raw, strict=True)),
                map(list, zip(*per_norm, strict=True)),
                map(list, zip(*per_contribution, strict=True)),
                strict=True,
            )
        )


def recorded(
    values: set[float | None], low: float, high: float, span: float, higher: bool, weight: float
) -> dict[float | None, _Recorded]:
    """Each distinct raw value's (raw, normalised, contribution), rounded as `rounded` rounds,
    its common case written inline in one loop (a call per figure was a third of a
    200-candidate record's writing; a list and a pass per kind of figure, most of a
    15-candidate one's). Anything off the common case goes through `rounded` itself."""
    out: dict[float | None, _Recorded] = {}
    for value in values:
        if value is None:  # unknown (distance without a ship-to position): scores 0
            out[value] = (None, 0.0, rounded(weight * 0.0) if weight else 0.0)
            continue
        norm = 0.0 if span <= 0.0 else (high - value) / span if higher else (value - low) / span
        if value.__class__ is int and -1_000_000 < value < 1_000_000:
            # Most criteria are counts (lead time, capacity, priority, depth): an int below
            # 1e6 times 1e6 is exact, and so its rounding back: the float itself.
            raw = float(value)
        else:
            scaled = float(value) * 1e6
            whole = round(scaled) if -1e12 < scaled < 1e12 else 0
            raw = whole / 1e6 if -0.499 < scaled - whole < 0.499 else rounded(float(value))
        scaled = norm * 1e6
        whole = round(scaled) if -1e12 < scaled < 1e12 else 0
        norm_r = whole / 1e6 if -0.499 < scaled - whole < 0.499 else rounded(norm)
        if weight:
            scaled = weight * norm * 1e6
            whole = round(scaled) if -1e12 < scaled < 1e12 else 0
            part = weight * norm
            contribution = whole / 1e6 if -0.499 < scaled - whole < 0.499 else rounded(part)
        else:
            contribution = 0.0
        out[value] = (raw, norm_r, contribution)
    return out
