"""Problem bodies (RFC 9457) with field-level errors, for REST answers and rejection records."""

from collections.abc import Mapping, Sequence
from typing import Any

from pydantic import BaseModel, ConfigDict, Field, ValidationError


class FieldProblem(BaseModel):
    model_config = ConfigDict(frozen=True)

    field: str = Field(description="Dotted path of the offending field, e.g. lines.0.quantity")
    message: str
    code: str = Field(description="Machine-readable error type, e.g. greater_than")


class Problem(BaseModel):
    model_config = ConfigDict(frozen=True)

    type: str = "about:blank"
    title: str
    status: int
    detail: str | None = None
    errors: list[FieldProblem] = Field(default_factory=list)
    extra: dict[str, Any] = Field(default_factory=dict)


# A payload can break a rule at each of its fields: a 1 MB body of 91,918 unknown keys made as
# many problems, a 9 MB answer and a 9 MB stored rejection (and event). The first ones say
# what is wrong; the rest are counted in one last entry.
MAX_LISTED_PROBLEMS = 100
MORE_PROBLEMS = "more_problems"


def more_problems(count: int) -> FieldProblem:
    """The entry that stands for `count` problems left out."""
    return FieldProblem(
        field="(body)", message=f"and {count:,} more problems, not listed", code=MORE_PROBLEMS
    )


def listed_dicts(problems: list[dict[str, Any]]) -> list[dict[str, Any]]:
    """Problems as a rejection keeps them (dicts), up to `MAX_LISTED_PROBLEMS` and a count
    (a list `field_problems` made is kept as it is: its count is already there)."""
    if len(problems) <= MAX_LISTED_PROBLEMS:
        return problems
    if len(problems) == MAX_LISTED_PROBLEMS + 1 and problems[-1].get("code") == MORE_PROBLEMS:
        return problems
    left_out = len(problems) - MAX_LISTED_PROBLEMS
    return [*problems[:MAX_LISTED_PROBLEMS], more_problems(left_out).model_dump()]


def field_problems(error: ValidationError) -> list[FieldProblem]:
    """Flatten a pydantic error into one entry per field, paths dotted from the body's root;
    up to `MAX_LISTED_PROBLEMS`, the rest counted in one last entry."""
    return listed_errors(
        error.errors(include_url=False, include_input=False, include_context=False)
    )


def listed_errors(items: Sequence[Mapping[str, Any]]) -> list[FieldProblem]:
    """pydantic's error entries (`loc`, `msg`, `type`; FastAPI's request validation gives the
    same) as field problems, up to `MAX_LISTED_PROBLEMS` and a count of the rest."""
    problems = []
    for item in items[:MAX_LISTED_PROBLEMS]:
        path = ".".join(str(part) for part in item["loc"]) or "(body)"
        problems.append(FieldProblem(field=path, message=item["msg"], code=item["type"]))
    if len(items) > MAX_LISTED_PROBLEMS:
        problems.append(more_problems(len(items) - MAX_LISTED_PROBLEMS))
    return problems
