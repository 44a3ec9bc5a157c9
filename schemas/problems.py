"""Problem bodies (RFC 9457) with field-level errors, for REST answers and rejection records."""

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


def field_problems(error: ValidationError) -> list[FieldProblem]:
    """Flatten a pydantic error into one entry per field, paths dotted from the body's root."""
    problems = []
    for item in error.errors(include_url=False):
        path = ".".join(str(part) for part in item["loc"]) or "(body)"
        problems.append(FieldProblem(field=path, message=item["msg"], code=item["type"]))
    return problems
