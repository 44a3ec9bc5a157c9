"""Reading policy documents (YAML text in, ``Policy`` or a list of precise problems out)."""

from __future__ import annotations

import functools
from collections.abc import Hashable, Iterable
from dataclasses import dataclass
from importlib import resources
from typing import Any

import yaml
from pydantic import ValidationError

from orchestration_policies.policy import Policy
from orchestration_policies.yaml_shape import ShapeError, check_shape

__all__ = ["PolicyError", "Problem", "default_policy", "load_policy", "validate_policy"]

DEFAULT_POLICY_RESOURCE = "default_policy.yaml"


@dataclass(frozen=True, slots=True)
class Problem:
    """One thing wrong with a policy, at a field path such as ``holds[0].condition``."""

    path: str
    message: str
    expression: str | None = None
    line: int | None = None
    column: int | None = None

    def __str__(self) -> str:
        where = self.path or "<document>"
        return f"{where}: {self.message}"


class PolicyError(ValueError):
    """The policy cannot be used; ``problems`` lists every reason found."""

    def __init__(self, problems: Iterable[Problem]) -> None:
        self.problems: tuple[Problem, ...] = tuple(problems)
        lines = "\n".join(f"  - {p}" for p in self.problems)
        super().__init__(f"invalid policy ({len(self.problems)} problem(s)):\n{lines}")


class _StrictLoader(yaml.SafeLoader):
    """SafeLoader that refuses duplicate keys instead of keeping the last one silently."""


def _mapping_without_duplicates(loader: _StrictLoader, node: yaml.MappingNode) -> dict[Any, Any]:
    seen: set[Hashable] = set()
    for key_node, _ in node.value:
        key = loader.construct_object(key_node, deep=True)
        if key in seen:
            raise yaml.constructor.ConstructorError(
                "while constructing a mapping",
                node.start_mark,
                f"found duplicate key {key!r}",
                key_node.start_mark,
            )
        seen.add(key)
    return loader.construct_mapping(node, deep=True)


_StrictLoader.add_constructor(
    yaml.resolver.BaseResolver.DEFAULT_MAPPING_TAG, _mapping_without_duplicates
)


def _path(loc: tuple[int | str, ...]) -> str:
    out = ""
    for part in loc:
        if isinstance(part, int):
            out += f"[{part}]"
        else:
            out += f".{part}" if out else str(part)
    return out


def _problems_from(error: ValidationError) -> list[Problem]:
    problems: list[Problem] = []
    for item in error.errors(include_url=False):
        ctx = item.get("ctx") or {}
        line = ctx.get("line")
        column = ctx.get("column")
        problems.append(
            Problem(
                path=_path(tuple(item["loc"])),
                message=item["msg"],
                expression=ctx.get("expression"),
                line=line if isinstance(line, int) else None,
                column=column if isinstance(column, int) else None,
            )
        )
    return problems


# A policy is a few levels deep and a few hundred nodes; these leave room and stop the
# absurd (see yaml_shape) before the loader recurses into it.
MAX_POLICY_DEPTH = 32
MAX_POLICY_NODES = 100_000


def load_policy(text: str) -> Policy:
    """Parse and validate a YAML policy; raises :class:`PolicyError` listing every problem."""
    try:
        # The shape is measured first, and a document the event parser refuses is refused here:
        # the loader below recurses once per level, so it must never see what this has not
        # passed (the LibYAML in PyYAML 6.0.4's wheels stops at 1,000 levels with a syntax error
        # of its own, which must not fall through to the recursive loader).
        check_shape(text, MAX_POLICY_DEPTH, MAX_POLICY_NODES)
        document = yaml.load(
            text, Loader=_StrictLoader
        )  # a SafeLoader subclass: no arbitrary objects
    except ShapeError as error:
        where = f" at line {error.line}, column {error.column}" if error.line else ""
        raise PolicyError(
            [Problem("", f"YAML error{where}: {error}", line=error.line, column=error.column)]
        ) from None
    except yaml.MarkedYAMLError as error:
        mark = error.problem_mark
        line = mark.line + 1 if mark is not None else None
        column = mark.column + 1 if mark is not None else None
        where = f" at line {line}, column {column}" if line is not None else ""
        raise PolicyError(
            [Problem("", f"YAML error{where}: {error.problem}", line=line, column=column)]
        ) from None
    except yaml.YAMLError as error:
        raise PolicyError([Problem("", f"YAML error: {error}")]) from None
    except ValueError as error:  # e.g. an integer of thousands of digits
        reason = str(error).split(";", 1)[0]  # not Python's advice on raising its limit
        raise PolicyError([Problem("", f"YAML error: a value cannot be read: {reason}")]) from None
    if not isinstance(document, dict):
        raise PolicyError([Problem("", "a policy must be a YAML mapping")])
    try:
        return Policy.model_validate(document)
    except ValidationError as error:
        raise PolicyError(_problems_from(error)) from None


def validate_policy(
    policy: Policy,
    known_sources: set[str] | None = None,
    known_demand_classes: set[str] | None = None,
) -> tuple[Problem, ...]:
    """References to sources or demand classes the caller does not know (None = don't check).

    A policy can be valid on its own and still name a store that was closed or a demand class
    nobody sends; publishing should be refused in that case, so the hub runs this first.
    """
    problems: list[Problem] = []

    def check(path: str, value: str, known: set[str] | None, what: str) -> None:
        if known is not None and value not in known:
            problems.append(Problem(path, f"unknown {what} {value!r}"))

    for i, source_id in enumerate(policy.excluded_sources):
        check(f"excluded_sources[{i}]", source_id, known_sources, "source")
    for i, demand_class in enumerate(policy.applies_to.demand_classes):
        check(f"applies_to.demand_classes[{i}]", demand_class, known_demand_classes, "demand class")
    for i, rule in enumerate(policy.allocation):
        check(
            f"allocation[{i}].demand_class", rule.demand_class, known_demand_classes, "demand class"
        )
    conditions = [
        ("applies_to.condition", policy.applies_to.compiled),
        *((f"holds[{i}].condition", h.compiled) for i, h in enumerate(policy.holds)),
        *((f"eligibility[{i}].condition", e.compiled) for i, e in enumerate(policy.eligibility)),
    ]
    for path, condition in conditions:
        if condition is None:
            continue
        for value in condition.literals_compared_with("source", "source_id"):
            check(path, value, known_sources, "source")
        for value in condition.literals_compared_with("order", "demand_class"):
            check(path, value, known_demand_classes, "demand class")
    return tuple(problems)


@functools.cache
def default_policy() -> Policy:
    """The policy bundled with the package (``default_policy.yaml``)."""
    text = (
        resources.files("orchestration_policies")
        .joinpath(DEFAULT_POLICY_RESOURCE)
        .read_text("utf-8")
    )
    return load_policy(text)
