"""An order's lines prepared for the split search (``planning``), and the sources it weighs."""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass, field

from orchestration_policies.inputs import CandidateSource, LineToRoute

__all__ = ["Lines", "Option"]


@dataclass(slots=True)
class Option:
    """An eligible source holding some of the order; ``rank`` 0 is the best-scored."""

    source: CandidateSource
    usable: dict[str, int]  # units of each ordered SKU this order may take here
    distance_km: float | None
    covers_all: bool | None = None  # can ship every line alone (None: not yet known)
    raw: tuple[float | None, ...] = ()  # ranking criteria, in CRITERIA order
    rank: int = -1
    score: float = 0.0
    mask: int = field(default=0)


class Lines:
    """The order's lines prepared for fast evaluation of candidate source sets."""

    def __init__(self, lines: Sequence[LineToRoute], split_lines: bool) -> None:
        self.skus = [line.sku for line in lines]
        self.qty = [line.quantity for line in lines]
        self.split_lines = split_lines
        # With distinct SKUs and whole lines, each line is shipped by a set iff one member can
        # ship it alone, so a set's units follow from OR-ing per-source bit masks.
        self.fast = not split_lines and len(set(self.skus)) == len(self.skus)
        # Largest lines first: first-fit decreasing when several lines share a SKU.
        self.fit_order = sorted(range(len(lines)), key=lambda i: (-self.qty[i], i))
        self.units_by_mask: dict[int, int] = {0: 0}
        self._bits = [
            (sku, qty, 1 << i) for i, (sku, qty) in enumerate(zip(self.skus, self.qty, strict=True))
        ]

    def mask_of(self, usable: dict[str, int]) -> int:
        mask = 0
        for sku, qty, bit in self._bits:
            if usable.get(sku, 0) >= qty:
                mask |= bit
        return mask

    def units_of_mask(self, mask: int) -> int:
        units = self.units_by_mask.get(mask)
        if units is None:
            units = 0
            for _, qty, bit in self._bits:
                if mask & bit:
                    units += qty
            self.units_by_mask[mask] = units
        return units

    def assign(self, members: Sequence[Option]) -> tuple[int, list[list[tuple[int, int]]]]:
        """Deterministic allocation of lines to ``members`` (best-ranked first)."""
        remaining = [dict(o.usable) for o in members]
        taken: list[list[tuple[int, int]]] = [[] for _ in members]
        units = 0
        if self.split_lines:
            for i, (sku, need) in enumerate(zip(self.skus, self.qty, strict=True)):
                for j, rem in enumerate(remaining):
                    if need == 0:
                        break
                    take = min(need, rem.get(sku, 0))
                    if take:
                        rem[sku] -= take
                        taken[j].append((i, take))
                        need -= take
                        units += take
        else:
            for i in self.fit_order:
                sku, qty = self.skus[i], self.qty[i]
                for j, rem in enumerate(remaining):
                    if rem.get(sku, 0) >= qty:
                        rem[sku] -= qty
                        taken[j].append((i, qty))
                        units += qty
                        break
        return units, taken

    def units_of(self, members: Sequence[Option]) -> int:
        if self.fast:
            mask = 0
            for o in members:
                mask |= o.mask
            return self.units_of_mask(mask)
        return self.assign(members)[0]
