"""Errors and scopes shared by the CEL modules."""

from __future__ import annotations

from enum import StrEnum

__all__ = ["CelError", "ConditionError", "Scope"]


class Scope(StrEnum):
    """Which variables a condition may use: holds and applies_to see no source."""

    ORDER = "order"
    SOURCE = "source"

    @property
    def roots(self) -> frozenset[str]:
        if self is Scope.ORDER:
            return frozenset({"order", "now"})
        return frozenset({"order", "source", "now"})


class CelError(Exception):
    """A condition that cannot be used: syntax, unknown name, or type problem found at load."""

    def __init__(
        self,
        kind: str,
        expression: str,
        message: str,
        line: int | None = None,
        column: int | None = None,
    ) -> None:
        where = f" at line {line}, column {column}" if line is not None else ""
        super().__init__(f"CEL {kind} error{where} in {expression!r}: {message}")
        self.kind = kind
        self.expression = expression
        self.message = message
        self.line = line
        self.column = column


class ConditionError(Exception):
    """A condition failed while evaluating real data (for example a missing attribute)."""

    def __init__(self, expression: str, message: str) -> None:
        super().__init__(f"{expression!r}: {message}")
        self.expression = expression
        self.message = message
