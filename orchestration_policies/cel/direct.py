"""A small part of CEL evaluated directly in Python, with cel-python's answers.

cel-python interprets a condition in about half a millisecond: a re-run at 200 candidates in a
process that has not seen that kind of order yet evaluates the default policy's eligibility rule
once per distinct (kind, country) of its sources, 18 times in the benchmark (8-9 ms). The
conditions of real policies are mostly comparisons of fields with text, joined by ``&&``,
``||`` and ``!``. Such an expression is compiled here into Python functions over the plain
values the activation is made of; any other expression is not (None: cel-python evaluates it).

Where the values could make CEL answer otherwise than Python would (a field that is missing or
null, operands of different types, numbers compared across int and double, a logical operator
over anything but two booleans), the direct evaluation gives up (`Undecided`) and cel-python
evaluates the condition as before. So a result given here is the one cel-python gives: a bool
computed from strings, booleans and integers compared with their own kind.
"""

from __future__ import annotations

import re
from collections.abc import Callable, Mapping
from typing import Any

__all__ = ["Direct", "Undecided", "direct"]

# (order's plain values, source's plain values or None) -> value
Direct = Callable[[Mapping[str, Any], Any], Any]


class Undecided(Exception):
    """These values are not ones this module answers for: cel-python evaluates."""


class _Unsupported(Exception):
    """The expression is not of the part of CEL compiled here."""


_STRING = re.compile(r'"([^"\\\n]*)"|\'([^\'\\\n]*)\'')
_INT = re.compile(r"(0|[1-9][0-9]{0,17})")
_ROOTS = ("order", "source")


def direct(tree: Any) -> Direct | None:
    """The expression (cel-python's parse tree) as a Python function, or None."""
    try:
        return _compile(tree)
    except _Unsupported:
        return None


def _only(tree: Any) -> Any:
    if len(tree.children) != 1:
        raise _Unsupported
    return tree.children[0]


def _compile(tree: Any) -> Direct:
    kind = getattr(tree, "data", None)
    children: list[Any] = list(getattr(tree, "children", ()))
    if kind in ("expr", "addition", "multiplication") or (
        kind in ("conditionalor", "conditionaland", "relation", "member") and len(children) == 1
    ):
        return _compile(_only(tree))
    if kind in ("conditionalor", "conditionaland"):
        if len(children) != 2:
            raise _Unsupported
        either = kind == "conditionalor"
        return _logical(_compile(children[0]), _compile(children[1]), either=either)
    if kind == "relation" and len(children) == 2:
        op = children[0]
        if getattr(op, "data", None) not in ("relation_eq", "relation_ne"):
            raise _Unsupported
        return _equality(_compile(_only(op)), _compile(children[1]), op.data == "relation_eq")
    if kind == "unary":
        if len(children) == 1:
            return _compile(children[0])
        if len(children) == 2 and getattr(children[0], "data", None) == "unary_not":
            return _not(_compile(children[1]))
        raise _Unsupported
    if kind == "member_dot":
        return _path(tree)
    if kind == "primary":
        return _primary(_only(tree))
    raise _Unsupported


def _primary(node: Any) -> Direct:
    kind = getattr(node, "data", None)
    if kind == "paren_expr":
        return _compile(_only(node))
    if kind == "literal":
        value = _literal(str(_only(node)))
        return lambda order, source: value
    raise _Unsupported  # a bare identifier, a list, a map, a call ...


def _literal(text: str) -> object:
    if text in ("true", "false"):
        return text == "true"
    found = _STRING.fullmatch(text)
    if found is not None:
        return found.group(1) if found.group(1) is not None else found.group(2)
    if _INT.fullmatch(text):
        return int(text)
    raise _Unsupported  # doubles, bytes, raw or escaped strings, unsigned ...


def _path(tree: Any) -> Direct:
    """``order.a.b`` or ``source.a``: the plain value there; Undecided if absent or null."""
    names: list[str] = []
    node = tree
    while getattr(node, "data", None) == "member_dot":
        member, name = node.children
        names.append(str(name))
        node = member
        while getattr(node, "data", None) == "member" and len(node.children) == 1:
            node = node.children[0]  # `order.a.b`: the member holding `order.a`
    root = _identifier(node)
    names.reverse()
    fields = tuple(names)
    if root == "source":
        return lambda order, source: _resolve(source, fields)
    return lambda order, source: _resolve(order, fields)


def _identifier(node: Any) -> str:
    while getattr(node, "data", None) == "primary":
        node = _only(node)
    if getattr(node, "data", None) != "ident":
        raise _Unsupported
    name = str(_only(node))
    if name not in _ROOTS:
        raise _Unsupported
    return name


def _resolve(values: Mapping[str, Any] | None, fields: tuple[str, ...]) -> Any:
    value: Any = values
    for field in fields:
        if type(value) is not dict or field not in value:
            raise Undecided  # CEL's error for a missing key (or no source): cel-python says it
        value = value[field]
    if value is None:
        raise Undecided
    return value


def _kind(value: object) -> type:
    """The CEL type a plain value takes (as `values.to_cel` converts it), if one of ours."""
    if isinstance(value, bool):
        return bool
    if isinstance(value, str):
        return str  # a StrEnum is a string to CEL too
    if type(value) is int:
        return int
    raise Undecided


def _equality(left: Direct, right: Direct, equal: bool) -> Direct:
    def compare(order: Mapping[str, Any], source: Mapping[str, Any] | None) -> bool:
        a, b = left(order, source), right(order, source)
        if _kind(a) is not _kind(b):
            raise Undecided  # CEL's rules across types: cel-python applies them
        return (a == b) is equal

    return compare


def _not(operand: Direct) -> Direct:
    def negate(order: Mapping[str, Any], source: Mapping[str, Any] | None) -> bool:
        value = operand(order, source)
        if not isinstance(value, bool):
            raise Undecided
        return not value

    return negate


def _logical(left: Direct, right: Direct, either: bool) -> Direct:
    """``||`` or ``&&``: both sides evaluated (an error on one side CEL may absorb: undecided
    here), answered only for two booleans."""

    def combine(order: Mapping[str, Any], source: Mapping[str, Any] | None) -> bool:
        a, b = left(order, source), right(order, source)
        if not (isinstance(a, bool) and isinstance(b, bool)):
            raise Undecided
        return (a or b) if either else (a and b)

    return combine
