"""Two recorded decisions compared field by field, in words a person can read.

Paths are dotted from the record's root; list items that name a source or a line are keyed by
it (``explanation.candidates[wh-lyon].score``) rather than by position, so one source more or
less does not shift every row after it.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any

__all__ = ["Difference", "differences"]

_ROW_KEYS = ("source_id", "line_id")
_MISSING = "(absent)"


@dataclass(frozen=True, slots=True)
class Difference:
    field: str
    recorded: Any
    rerun: Any

    def to_dict(self) -> dict[str, Any]:
        return {"field": self.field, "recorded": self.recorded, "rerun": self.rerun}

    def __str__(self) -> str:
        return f"{self.field}: recorded {_show(self.recorded)}, re-run {_show(self.rerun)}"


def differences(recorded: Any, rerun: Any, path: str = "") -> list[Difference]:
    """Every leaf where ``rerun`` differs from ``recorded`` (both plain JSON values)."""
    if isinstance(recorded, dict) and isinstance(rerun, dict):
        out: list[Difference] = []
        for key in sorted({*recorded, *rerun}, key=str):
            where = f"{path}{key}" if str(key).startswith("[") or not path else f"{path}.{key}"
            if key not in rerun:
                out.append(Difference(where, recorded[key], _MISSING))
            elif key not in recorded:
                out.append(Difference(where, _MISSING, rerun[key]))
            else:
                out.extend(differences(recorded[key], rerun[key], where))
        return out
    if isinstance(recorded, list) and isinstance(rerun, list):
        keyed = _keyed(recorded), _keyed(rerun)
        if keyed[0] is not None and keyed[1] is not None:
            return differences(keyed[0], keyed[1], path)
        if len(recorded) == len(rerun):
            out = []
            for i, (a, b) in enumerate(zip(recorded, rerun, strict=True)):
                out.extend(differences(a, b, f"{path}[{i}]"))
            return out
    return [] if recorded == rerun else [Difference(path or "(decision)", recorded, rerun)]


def _keyed(rows: list[Any]) -> dict[str, Any] | None:
    """Rows that each name a source or a line, by that name; None for any other list."""
    for key in _ROW_KEYS:
        if rows and all(isinstance(r, dict) and key in r for r in rows):
            names = [str(r[key]) for r in rows]
            if len(set(names)) == len(names):
                return {f"[{name}]": row for name, row in zip(names, rows, strict=True)}
    return None


def _show(value: Any) -> str:
    text = repr(value) if value != _MISSING else value
    return text if len(text) <= 120 else text[:117] + "..."
