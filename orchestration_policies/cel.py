"""CEL conditions: compile once, check at load, evaluate with memoised results.

What a condition sees (names are fixed and documented for policy authors):

``order``
    order_id, channel, country, demand_class, delivery_method, payment_state, currency (strings);
    total (double); ship_to_lat, ship_to_lon (double); lines (list of maps with line_id, sku,
    quantity); line_count, units (int); skus (list of strings, in line order); placed_at,
    promised_by (timestamp); attributes (map).
``source`` (eligibility rules only)
    source_id, kind, country (strings); lat, lon, distance_km (double); ships_to,
    delivery_methods, demand_classes (sorted lists of strings); daily_capacity, used_today,
    capacity_left, lead_time_days, priority (int); active (bool); cost (map: base, per_unit,
    per_km as double, currency); stock (map keyed by the ordered SKUs only, each with on_hand,
    reserved, safety_stock, available as int).
``now``
    the decision time (timestamp).

A value that is unknown (no ship-to position, hence no distance; no promised date) is absent
from its map rather than null, because cel-python 0.5 cannot compare a double with null: guard
with ``has(source.distance_km)``. Attributes and stock are open maps; guard them with has() too.

Money (``Decimal``) is given to CEL as a double: conditions compare amounts against thresholds
(``order.total > 500.0``); no amount computed by CEL is ever charged. Write double literals
with a decimal point: cel-python rejects ``int > double`` comparisons.

cel-python interprets an expression in about a quarter of a millisecond, far too slow to run
per source for every order. A condition is a pure function of the few values it names, so
results are memoised per condition, keyed on those values (see :meth:`Condition.evaluate`).
"""

from __future__ import annotations

import functools
import operator
import re
from collections.abc import Callable, Iterable, Iterator, Mapping
from dataclasses import dataclass
from datetime import UTC, datetime
from decimal import Decimal
from enum import StrEnum
from typing import Any, TypeAlias

import celpy
from celpy import celtypes
from celpy.celparser import CELParseError
from celpy.evaluation import CELEvalError

from orchestration_policies.geo import haversine_km
from orchestration_policies.inputs import (
    CandidateSource,
    CostModel,
    DeliveryMethod,
    LineToRoute,
    OrderToRoute,
    SourceKind,
    StockLevel,
)

__all__ = [
    "CelError",
    "Condition",
    "ConditionError",
    "OrderFacts",
    "Scope",
    "compile_condition",
]

Plain: TypeAlias = "str | int | float | bool | datetime | list[Plain] | dict[str, Plain] | None"
PathRef: TypeAlias = tuple[str, tuple[str, ...]]

_CACHE_LIMIT = 4096
_MACROS = frozenset({"all", "exists", "exists_one", "map", "filter"})
# Type names CEL resolves as identifiers (``type(x) == string``).
_TYPE_NAMES = frozenset(
    {"bool", "bytes", "double", "duration", "int", "list", "map", "null_type", "string",
     "timestamp", "type", "uint"}
)  # fmt: skip
_SIMPLE_STRING = re.compile(r"""^(?:"([^"\\\n]*)"|'([^'\\\n]*)')$""")


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


# --- the values conditions see ------------------------------------------------------------


def _order_plain(order: OrderToRoute) -> dict[str, Plain]:
    skus: list[Plain] = list(dict.fromkeys(line.sku for line in order.lines))
    lines: list[Plain] = [
        {"line_id": ln.line_id, "sku": ln.sku, "quantity": ln.quantity} for ln in order.lines
    ]
    plain: dict[str, Plain] = {
        "order_id": order.order_id,
        "channel": order.channel,
        "country": order.country,
        "demand_class": order.demand_class,
        "delivery_method": str(order.delivery_method),
        "payment_state": order.payment_state,
        "currency": order.currency,
        "total": float(order.total),
        "ship_to_lat": order.ship_to_lat,
        "ship_to_lon": order.ship_to_lon,
        "lines": lines,
        "line_count": len(order.lines),
        "units": order.units,
        "skus": skus,
        "placed_at": order.placed_at,
        "promised_by": order.promised_by,
        "attributes": dict(order.attributes),
    }
    return {k: v for k, v in plain.items() if v is not None}


def _cost_plain(cost: CostModel) -> dict[str, Plain]:
    return {
        "base": cost.base_f,
        "per_unit": cost.per_unit_f,
        "per_km": cost.per_km_f,
        "currency": cost.currency,
    }


def _stock_plain(
    source: CandidateSource, distance: float | None, skus: tuple[str, ...]
) -> dict[str, Plain]:
    out: dict[str, Plain] = {}
    for sku in skus:
        level = source.stock.get(sku)
        if level is not None:
            out[sku] = {
                "on_hand": level.on_hand,
                "reserved": level.reserved,
                "safety_stock": level.safety_stock,
                "available": level.available,
            }
    return out


def _sorted(values: Iterable[str]) -> list[Plain]:
    return list(sorted(values))


_SourceGetter = Callable[[CandidateSource, "float | None", tuple[str, ...]], Plain]

# Each getter returns exactly what the CEL map holds under that name, so a memo key built from
# getters always describes the activation the condition would have seen.
_SOURCE_GETTERS: dict[str, _SourceGetter] = {
    "source_id": lambda s, d, k: s.source_id,
    "kind": lambda s, d, k: s.kind,  # a StrEnum: equal to, and hashed as, its string
    "country": lambda s, d, k: s.country,
    "lat": lambda s, d, k: s.lat,
    "lon": lambda s, d, k: s.lon,
    "distance_km": lambda s, d, k: d,
    "ships_to": lambda s, d, k: _sorted(s.ships_to),
    "delivery_methods": lambda s, d, k: _sorted(str(m) for m in s.delivery_methods),
    "demand_classes": lambda s, d, k: _sorted(s.demand_classes),
    "daily_capacity": lambda s, d, k: s.daily_capacity,
    "used_today": lambda s, d, k: s.used_today,
    "capacity_left": lambda s, d, k: s.capacity_left,
    "lead_time_days": lambda s, d, k: s.lead_time_days,
    "priority": lambda s, d, k: s.priority,
    "active": lambda s, d, k: s.active,
    "cost": lambda s, d, k: _cost_plain(s.cost),
    "stock": _stock_plain,
}

ORDER_FIELDS = frozenset(
    {
        "order_id", "channel", "country", "demand_class", "delivery_method", "payment_state",
        "currency", "total", "ship_to_lat", "ship_to_lon", "lines", "line_count", "units",
        "skus", "placed_at", "promised_by", "attributes",
    }
)  # fmt: skip
SOURCE_FIELDS = frozenset(_SOURCE_GETTERS)
_COST_FIELDS = frozenset({"base", "per_unit", "per_km", "currency"})
_STOCK_FIELDS = frozenset({"on_hand", "reserved", "safety_stock", "available"})


def _source_plain(source: CandidateSource, distance: float | None, skus: tuple[str, ...]) -> Plain:
    out: dict[str, Plain] = {}
    for name, get in _SOURCE_GETTERS.items():
        value = get(source, distance, skus)
        if value is not None:
            out[name] = value
    return out


def to_cel(value: Plain) -> Any:
    """Convert a plain value to cel-python's types (bool before int: bool is an int in Python)."""
    if value is None:
        return None
    if isinstance(value, bool):
        return celtypes.BoolType(value)
    if isinstance(value, int):
        return celtypes.IntType(value)
    if isinstance(value, float):
        return celtypes.DoubleType(value)
    if isinstance(value, str):
        return celtypes.StringType(value)
    if isinstance(value, datetime):
        return celtypes.TimestampType(value)
    if isinstance(value, list):
        return celtypes.ListType([to_cel(v) for v in value])
    return celtypes.MapType({celtypes.StringType(k): to_cel(v) for k, v in value.items()})


class OrderFacts:
    """Per-call view of the order for conditions; built once per ``decide()``."""

    __slots__ = ("_cel", "keys", "now", "order", "plain", "skus")

    def __init__(self, order: OrderToRoute, now: datetime) -> None:
        self.order = order
        self.now = now
        self.plain = _order_plain(order)
        self.skus: tuple[str, ...] = tuple(dict.fromkeys(line.sku for line in order.lines))
        self._cel: Any = None
        self.keys: dict[Condition, object] = {}  # the order's part of each memo key

    def cel_order(self) -> Any:
        if self._cel is None:
            self._cel = to_cel(self.plain)
        return self._cel


# --- memo keys -----------------------------------------------------------------------------

_MISSING = object()


def _resolve(value: object, segments: tuple[str, ...]) -> object:
    for seg in segments:
        if not isinstance(value, dict) or seg not in value:
            return _MISSING
        value = value[seg]
    return value


def _freeze(value: object) -> object:
    # The type is part of the key: 1, 1.0 and True are equal in Python but not in CEL.
    if isinstance(value, dict):
        return (dict, tuple(sorted((k, _freeze(v)) for k, v in value.items())))
    if isinstance(value, list):
        return (list, tuple(_freeze(v) for v in value))
    if isinstance(value, datetime):
        # Equal instants with different offsets give different getHours(): keep the offset.
        return (datetime, value.isoformat())
    return (value.__class__, value)


# --- static analysis -----------------------------------------------------------------------


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
class _Analysis:
    paths: tuple[PathRef, ...]
    names: frozenset[str]  # free identifiers, macro variables excluded
    complete: bool  # every read of order/source/now goes through one of ``paths``


def _analyse(tree: Any) -> _Analysis:
    paths: list[PathRef] = []
    bound: set[str] = set()
    chained_idents: set[int] = set()
    for node in _walk(tree):
        if node.data == "member" and id(node) not in chained_idents:
            ref = _chain(node)
            if ref is not None:
                paths.append(ref)
                for sub in _walk(node):
                    chained_idents.add(id(sub))
        elif node.data == "member_dot_arg" and str(node.children[1]) in _MACROS:
            args = node.children[2] if len(node.children) > 2 else None
            if args is not None and _is_tree(args) and args.children:
                var = _chain_of_expr(args.children[0])
                if var is not None and not var[1]:
                    bound.add(var[0])
    idents = [n for n in _walk(tree) if n.data == "ident"]
    names = frozenset(str(n.children[0]) for n in idents) - bound
    roots = {"order", "source", "now"}
    stray_dot_refs = any(
        n.data in ("dot_ident", "dot_ident_arg") and str(n.children[0]) in roots
        for n in _walk(tree)
    )
    complete = not stray_dot_refs and all(
        id(n) in chained_idents for n in idents if str(n.children[0]) in roots
    )
    unique = tuple(dict.fromkeys(p for p in paths if p[0] in roots))
    return _Analysis(paths=unique, names=names, complete=complete)


def _chain_of_expr(expr: Any) -> PathRef | None:
    node = expr
    while _is_tree(node) and node.data != "member" and len(node.children) == 1:
        node = node.children[0]
    if _is_tree(node) and node.data == "member":
        return _chain(node)
    return None


def _check_references(text: str, analysis: _Analysis, scope: Scope) -> None:
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
            if segs[0] == "cost" and len(segs) > 1 and segs[1] not in _COST_FIELDS:
                raise CelError("reference", text, f"source.cost has no field {segs[1]!r}")
            if segs[0] == "stock" and len(segs) > 2 and segs[2] not in _STOCK_FIELDS:
                raise CelError("reference", text, f"stock level has no field {segs[2]!r}")


# --- compiled conditions -------------------------------------------------------------------


@functools.cache
def _environment() -> celpy.Environment:
    # Built on first use, not at import: creating it loads cel-python's grammar.
    return celpy.Environment()


_OPERATORS = {
    "relation_lt": "<", "relation_le": "<=", "relation_gt": ">", "relation_ge": ">=",
    "relation_eq": "==", "relation_ne": "!=", "relation_in": "in", "addition_add": "+",
    "addition_sub": "-", "multiplication_mul": "*", "multiplication_div": "/",
    "multiplication_mod": "%",
}  # fmt: skip
_RULE_TOKEN = re.compile(r"Token\('RULE', '(\w+)'\)")
_CEL_CLASS = re.compile(r"<class 'celpy\.celtypes\.(\w+)Type'>|<class 'NoneType'>")


def _readable(message: str) -> str:
    """cel-python names operators and types by their Python classes; say them in CEL."""
    message = _RULE_TOKEN.sub(lambda m: repr(_OPERATORS.get(m.group(1), m.group(1))), message)
    return _CEL_CLASS.sub(lambda m: (m.group(1) or "null").lower(), message)


def _eval_message(error: Exception) -> str:
    if isinstance(error, CELEvalError) and error.args:
        return _readable(str(error.args[0]))
    return f"{type(error).__name__}: {error}"


def _is_missing_key(error: Exception) -> bool:
    return isinstance(error, CELEvalError) and len(error.args) > 1 and error.args[1] is KeyError


_SCALAR_SOURCE_FIELDS = frozenset(
    {"source_id", "kind", "country", "lat", "lon", "distance_km", "daily_capacity", "used_today",
     "capacity_left", "lead_time_days", "priority", "active"}
)  # fmt: skip

_KeyPart = Callable[[CandidateSource, "float | None", tuple[str, ...]], object]


def _source_key_part(segments: tuple[str, ...]) -> _KeyPart:
    """What a memo key needs of one ``source...`` path, as cheap to compute as possible."""
    if not segments:
        return lambda s, d, k: _freeze(_source_plain(s, d, k))
    getter = _SOURCE_GETTERS.get(segments[0])
    if getter is None:
        return lambda s, d, k: _MISSING
    if segments[0] in _SCALAR_SOURCE_FIELDS:
        # Each scalar field always has the same type (or is None when unknown, which CEL sees
        # as absent), so the value itself is a sound key without a type tag.
        return getter if len(segments) == 1 else (lambda s, d, k: _MISSING)
    rest = segments[1:]

    def part(s: CandidateSource, d: float | None, k: tuple[str, ...]) -> object:
        value = _resolve(getter(s, d, k), rest)
        return _MISSING if value is _MISSING else _freeze(value)

    return part


# Fields whose CEL value is the attribute itself, so operator.attrgetter can build a memo key
# for all of them in one C call.
_PLAIN_ATTRIBUTES = frozenset(
    {"source_id", "kind", "country", "lat", "lon", "daily_capacity", "used_today",
     "lead_time_days", "priority", "active"}
)  # fmt: skip


def _source_key_fns(
    paths: list[tuple[str, ...]],
) -> tuple[Callable[[CandidateSource], object] | None, _KeyPart]:
    """(fast key from the source alone or None, general key from source, distance, SKUs)."""
    plain = sorted({p[0] for p in paths if len(p) == 1 and p[0] in _PLAIN_ATTRIBUTES})
    others = [p for p in paths if not (len(p) == 1 and p[0] in _PLAIN_ATTRIBUTES)]
    by_attributes = operator.attrgetter(*plain) if plain else None
    if not others:
        if by_attributes is None:
            return None, lambda s, d, k: ()
        get = by_attributes
        return get, lambda s, d, k: get(s)
    parts = [_source_key_part(p) for p in others]
    if by_attributes is None:
        if len(parts) == 1:
            return None, parts[0]
        return None, lambda s, d, k: tuple([p(s, d, k) for p in parts])
    get = by_attributes
    return None, lambda s, d, k: (get(s), *[p(s, d, k) for p in parts])


BoundCondition = Callable[[CandidateSource | None, "float | None"], bool]


def _outcome(text: str, result: object) -> bool:
    if isinstance(result, bool):
        return result
    raise ConditionError(text, str(result))


class Condition:
    """A compiled CEL condition; evaluate it with :meth:`evaluate`."""

    __slots__ = (
        "_fast_key",
        "_memo",
        "_memo_size",
        "_order_paths",
        "_runner",
        "_source_key",
        "analysis",
        "text",
    )

    def __init__(self, text: str, runner: Any, analysis: _Analysis) -> None:
        self.text = text
        self._runner = runner
        self.analysis = analysis
        self._order_paths = tuple(p for p in analysis.paths if p[0] != "source")
        self._fast_key, self._source_key = _source_key_fns(
            [segs for root, segs in analysis.paths if root == "source"]
        )
        # Two levels: the order's part of the key is computed once per decide() call, then
        # each source only adds the few values of its own that the expression names.
        self._memo: dict[object, dict[object, object]] = {}
        self._memo_size = 0

    def __repr__(self) -> str:
        return f"Condition({self.text!r})"

    def _order_key(self, facts: OrderFacts) -> object:
        key = facts.keys.get(self)
        if key is None:
            parts: list[object] = []
            for root, segs in self._order_paths:
                if root == "order":
                    value = _resolve(facts.plain, segs)
                else:
                    value = facts.now if not segs else _MISSING
                parts.append(_MISSING if value is _MISSING else _freeze(value))
            key = facts.keys[self] = tuple(parts)
        return key

    def run(self, activation: Mapping[str, Any]) -> bool | str:
        """Evaluate without memo; a string result is the error message."""
        try:
            value = self._runner.evaluate(dict(activation))
        # cel-python surfaces most problems as CELEvalError but can raise plain Python errors
        # from its built-ins; a policy must never crash decide(), so all of them are reported.
        except Exception as error:
            return _eval_message(error)
        if isinstance(value, CELEvalError):
            return _eval_message(value)
        if not isinstance(value, celtypes.BoolType):
            return f"condition must be a bool, got {type(value).__name__}"
        return bool(value)

    def evaluate(
        self,
        facts: OrderFacts,
        source: CandidateSource | None = None,
        distance_km: float | None = None,
    ) -> bool:
        """True or False; raises :class:`ConditionError` when the data make it fail."""
        return self.bind(facts)(source, distance_km)

    def bind(self, facts: OrderFacts) -> BoundCondition:
        """This condition for one order, to be called per source.

        The result depends only on the values the expression names, so it is memoised on
        them: the order's part of the key is computed here, once; each call adds the source's
        part. Expressions the analysis cannot fully see through are evaluated every time.
        """
        text = self.text
        if not self.analysis.complete:

            def uncached(source: CandidateSource | None, distance_km: float | None) -> bool:
                return _outcome(text, self._evaluate_now(facts, source, distance_km))

            return uncached

        order_key = self._order_key(facts)
        fast_key = self._fast_key
        key_of = self._source_key
        skus = facts.skus
        inner = self._memo.setdefault(order_key, {})

        def check(source: CandidateSource | None, distance_km: float | None) -> bool:
            nonlocal inner
            if source is None:
                key: object = None
            elif fast_key is not None:
                key = fast_key(source)
            else:
                key = key_of(source, distance_km, skus)
            found = inner.get(key, _MISSING)
            if found is _MISSING:
                found = self._evaluate_now(facts, source, distance_km)
                if self._memo_size >= _CACHE_LIMIT:
                    self._memo.clear()
                    self._memo_size = 0
                    inner = self._memo.setdefault(order_key, {})
                inner[key] = found
                self._memo_size += 1
            if found is True or found is False:
                return found
            return _outcome(text, found)

        return check

    def _evaluate_now(
        self, facts: OrderFacts, source: CandidateSource | None, distance_km: float | None
    ) -> bool | str:
        activation: dict[str, Any] = {
            "order": facts.cel_order(),
            "now": celtypes.TimestampType(facts.now),
        }
        if source is not None:
            activation["source"] = to_cel(_source_plain(source, distance_km, facts.skus))
        return self.run(activation)

    def literals_compared_with(self, root: str, field: str) -> tuple[str, ...]:
        """String literals this condition compares ``root.field`` with (==, !=, in)."""
        out: list[str] = []
        for node in _walk(self._runner.ast):
            if node.data not in ("relation_eq", "relation_ne", "relation_in"):
                continue
            left = _chain_of_expr(node.children[0])
            parent_right = _sibling_operand(self._runner.ast, node)
            right_path = _chain_of_expr(parent_right) if parent_right is not None else None
            for path, other in ((left, parent_right), (right_path, node.children[0])):
                if path == (root, (field,)) and other is not None:
                    out.extend(_string_literals(other))
        return tuple(dict.fromkeys(out))


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


def _sample_order() -> OrderToRoute:
    return OrderToRoute(
        order_id="sample-order",
        channel="web",
        country="FR",
        demand_class="standard",
        delivery_method=DeliveryMethod.STANDARD,
        total=Decimal("100.00"),
        currency="EUR",
        lines=(LineToRoute("1", "SAMPLE-SKU", 1),),
        placed_at=datetime(2024, 1, 1, tzinfo=UTC),
        ship_to_lat=48.85,
        ship_to_lon=2.35,
        promised_by=datetime(2024, 1, 3, tzinfo=UTC),
    )


def _sample_source() -> CandidateSource:
    return CandidateSource(
        source_id="sample-source",
        kind=SourceKind.WAREHOUSE,
        lat=45.76,
        lon=4.84,
        country="FR",
        ships_to=frozenset({"FR"}),
        delivery_methods=frozenset({DeliveryMethod.STANDARD}),
        daily_capacity=10,
        used_today=1,
        cost=CostModel(Decimal("1"), Decimal("1"), Decimal("0.01"), "EUR"),
        lead_time_days=1,
        stock={"SAMPLE-SKU": StockLevel(on_hand=5)},
    )


def _type_check(condition: Condition, scope: Scope) -> None:
    """Evaluate against a sample so type mistakes surface when the policy is loaded.

    Best effort: branches that short-circuit are not visited. A missing map key is not an
    error here, because attributes and stock are open maps whose keys vary per order.
    """
    order = _sample_order()
    facts = OrderFacts(order, datetime(2024, 1, 2, tzinfo=UTC))
    activation: dict[str, Any] = {
        "order": facts.cel_order(),
        "now": celtypes.TimestampType(facts.now),
    }
    if scope is Scope.SOURCE:
        source = _sample_source()
        distance = haversine_km(48.85, 2.35, source.lat, source.lon)
        activation["source"] = to_cel(_source_plain(source, distance, facts.skus))
    try:
        value = condition._runner.evaluate(activation)
    except Exception as error:  # see Condition.run: cel-python may raise anything
        if _is_missing_key(error):
            return
        raise CelError("type", condition.text, _eval_message(error)) from None
    if not isinstance(value, celtypes.BoolType):
        raise CelError(
            "type", condition.text, f"condition must be a bool, got {type(value).__name__}"
        )


def _parse_error(text: str, error: CELParseError) -> CelError:
    cause = error.__context__
    token = getattr(cause, "token", None)
    char = getattr(cause, "char", None)
    expected = getattr(cause, "expected", None) or getattr(cause, "allowed", None) or ()
    if token is not None:
        found = "end of expression" if token.type == "$END" else f"token {str(token)!r}"
    elif char is not None:
        found = f"character {char!r}"
    else:
        found = str(error.args[0]).splitlines()[0] if error.args else "input"
    message = f"unexpected {found}"
    if expected:
        message += "; expected one of " + ", ".join(sorted(str(e) for e in expected))
    return CelError("syntax", text, message, line=error.line, column=error.column)


@functools.lru_cache(maxsize=1024)
def _compile(text: str) -> Condition:
    env = _environment()
    try:
        ast = env.compile(text)
    except CELParseError as error:
        raise _parse_error(text, error) from None
    return Condition(text, env.program(ast), _analyse(ast))


@functools.lru_cache(maxsize=1024)
def compile_condition(text: str, scope: Scope) -> Condition:
    """Compile (once per text) and check a condition; raises :class:`CelError`."""
    if not text.strip():
        raise CelError("syntax", text, "empty expression", line=1, column=1)
    condition = _compile(text)
    _check_references(text, condition.analysis, scope)
    _type_check(condition, scope)
    return condition
