"""Static analysis of parsed CEL: which order/source fields an expression reads.

Knowing exactly which values an expression reads makes two things possible: rejecting unknown
names when a policy is loaded, and memoising results keyed on those values only. The analysis
is conservative: when it cannot see every read (``.order`` style references), the expression
is marked incomplete and is never memoised.
"""

from __future__ import annotations

import re
from collections.abc import Iterator
from dataclasses import dataclass
from typing import Any, TypeAlias

import celpy

from orchestration_policies.cel.errors import CelError, Scope
from orchestration_policies.cel.values import (
    COST_FIELDS,
    ORDER_FIELDS,
    SOURCE_FIELDS,
    STOCK_FIELDS,
)

__all__ = [
    "Analysis",
    "PathRef",
    "analyse",
    "check_references",
    "literals_compared_with",
    "source_fields_read",
]

PathRef: TypeAlias = tuple[str, tuple[str, ...]]

_MACROS = frozenset({"all", "exists", "exists_one", "map", "filter"})
# Type names CEL resolves as identifiers (``type(x) == string``).
_TYPE_NAMES = frozenset(
    {"bool", "bytes", "double", "duration", "int", "list", "map", "null_type", "string",
     "timestamp", "type", "uint"}
)  # fmt: skip
_SIMPLE_STRING = re.compile(r"""^(?:"([^"\\\n]*)"|'([^'\\\n]*)')$""")


def _children(tree: Any) -> list[Any]:
    return list(tree.children)


def _is_tree(node: object) -> bool:
    return isinstance(node, celpy.Expression)


def _string_literal(expr: Any) -> str | None:
    """The value of ``expr`` when it is nothing but a plain string literal."""
    node = expr
    while _is_tree(node) and len(node.children) == 1:
        node = node.children[0]
    if _is_tree(node) or getattr(node, "type", None) != "STRING_LIT":
        return None
    match = _SIMPLE_STRING.match(str(node))
    if match is None:
        return None
    return match.group(1) if match.group(1) is not None else match.group(2)


def _chain(member: Any) -> PathRef | None:
    """``order.lines``, ``source.stock["RED-CHAIR"].available``… as (root, segments)."""
    child = member.children[0]
    if child.data == "primary":
        inner = child.children[0]
        if _is_tree(inner) and inner.data == "ident":
            return (str(inner.children[0]), ())
        return None
    if child.data == "member_dot":
        base = _chain(child.children[0])
        if base is None:
            return None
        return (base[0], (*base[1], str(child.children[1])))
    if child.data == "member_index":
        base = _chain(child.children[0])
        key = _string_literal(child.children[1])
        if base is None or key is None:
            return None
        return (base[0], (*base[1], key))
    return None


def _walk(tree: Any) -> Iterator[Any]:
    stack = [tree]
    while stack:
        node = stack.pop()
        if _is_tree(node):
            yield node
            stack.extend(reversed(_children(node)))


@dataclass(frozen=True, slots=True)
class Analysis:
    paths: tuple[PathRef, ...]
    names: frozenset[str]  # free identifiers, macro variables excluded
    complete: bool  # every read of order/source/now goes through one of ``paths``


_ROOTS = frozenset({"order", "source", "now"})


def analyse(tree: Any) -> Analysis:
    paths: list[PathRef] = []
    bound: set[str] = set()
    chained_idents: set[int] = set()
    for node in _walk(tree):
        if node.data == "member" and id(node) not in chained_idents:
            ref = _chain(node)
            if ref is not None:
                paths.append(ref)
                chained_idents.update(id(sub) for sub in _walk(node))
        elif node.data == "member_dot_arg":
            var = _macro_variable(node)
            if var is not None:
                bound.add(var)
    idents = [n for n in _walk(tree) if n.data == "ident"]
    names = frozenset(str(n.children[0]) for n in idents) - bound
    complete = not _reads_by_dot(tree) and all(
        id(n) in chained_idents for n in idents if str(n.children[0]) in _ROOTS
    )
    unique = tuple(dict.fromkeys(p for p in paths if p[0] in _ROOTS))
    return Analysis(paths=unique, names=names, complete=complete)


def _macro_variable(node: Any) -> str | None:
    """The variable a macro binds (``x`` in ``order.lines.all(x, …)``), if ``node`` is one."""
    if str(node.children[1]) not in _MACROS:
        return None
    args = node.children[2] if len(node.children) > 2 else None
    if args is None or not _is_tree(args) or not args.children:
        return None
    var = _chain_of_expr(args.children[0])
    return var[0] if var is not None and not var[1] else None


def _reads_by_dot(tree: Any) -> bool:
    """``.order`` style references to a root, which the analysis cannot follow."""
    return any(
        n.data in ("dot_ident", "dot_ident_arg") and str(n.children[0]) in _ROOTS
        for n in _walk(tree)
    )


def _chain_of_expr(expr: Any) -> PathRef | None:
    node = expr
    while _is_tree(node) and node.data != "member" and len(node.children) == 1:
        node = node.children[0]
    if _is_tree(node) and node.data == "member":
        return _chain(node)
    return None


def check_references(text: str, analysis: Analysis, scope: Scope) -> None:
    for name in sorted(analysis.names - _TYPE_NAMES):
        if name not in scope.roots:
            hint = " (source is only available in eligibility rules)" if name == "source" else ""
            raise CelError("reference", text, f"unknown variable {name!r}{hint}")
    for root, segs in analysis.paths:
        if not segs:
            continue
        if root == "order" and segs[0] not in ORDER_FIELDS:
            raise CelError("reference", text, f"order has no field {segs[0]!r}")
        if root == "source":
            if segs[0] not in SOURCE_FIELDS:
                raise CelError("reference", text, f"source has no field {segs[0]!r}")
            if segs[0] == "cost" and len(segs) > 1 and segs[1] not in COST_FIELDS:
                raise CelError("reference", text, f"source.cost has no field {segs[1]!r}")
            if segs[0] == "stock" and len(segs) > 2 and segs[2] not in STOCK_FIELDS:
                raise CelError("reference", text, f"stock level has no field {segs[2]!r}")


# --- compiled conditions -------------------------------------------------------------------


def _sibling_operand(tree: Any, op_node: Any) -> Any:
    for node in _walk(tree):
        if node.data == "relation" and len(node.children) == 2 and node.children[0] is op_node:
            return node.children[1]
    return None


def _string_literals(expr: Any) -> list[str]:
    single = _string_literal(expr)
    if single is not None:
        return [single]
    node = expr
    while _is_tree(node) and node.data != "list_lit" and len(node.children) == 1:
        node = node.children[0]
    if _is_tree(node) and node.data == "list_lit" and node.children:
        values = [_string_literal(e) for e in node.children[0].children]
        return [v for v in values if v is not None]
    return []


def literals_compared_with(tree: Any, root: str, field: str) -> tuple[str, ...]:
    """String literals an expression compares ``root.field`` with (==, !=, in)."""
    out: list[str] = []
    for node in _walk(tree):
        if node.data not in ("relation_eq", "relation_ne", "relation_in"):
            continue
        left = _chain_of_expr(node.children[0])
        right = _sibling_operand(tree, node)
        right_path = _chain_of_expr(right) if right is not None else None
        for path, other in ((left, right), (right_path, node.children[0])):
            if path == (root, (field,)) and other is not None:
                out.extend(_string_literals(other))
    return tuple(dict.fromkeys(out))


def source_fields_read(analysis: Analysis) -> frozenset[str] | None:
    """The source's fields an expression can read, when the analysis sees every read; None:
    any of them (the whole source is read, or a read is not seen through)."""
    paths = [segs for root, segs in analysis.paths if root == "source"]
    if not analysis.complete or any(not segs for segs in paths):
        return None
    return frozenset(segs[0] for segs in paths)
