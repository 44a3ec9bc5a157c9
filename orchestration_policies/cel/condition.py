"""Compiled CEL conditions: compiled once per text, checked at load, memoised when evaluated.

cel-python interprets an expression in about a quarter of a millisecond, far too slow to run
per source for every order. A condition is a pure function of the few values it names, so
results are memoised per condition, keyed on those values (see :meth:`Condition.bind`).
"""

from __future__ import annotations

import functools
import operator
import re
from collections.abc import Callable, Mapping, Sequence
from datetime import UTC, datetime
from itertools import repeat
from typing import Any

import celpy
from celpy import celtypes
from celpy.celparser import CELParseError
from celpy.evaluation import CELEvalError

from orchestration_policies.cel.analysis import (
    Analysis,
    analyse,
    check_references,
    literals_compared_with,
    source_fields_read,
)
from orchestration_policies.cel.direct import Undecided, direct
from orchestration_policies.cel.errors import CelError, ConditionError, Scope
from orchestration_policies.cel.values import (
    MISSING,
    SOURCE_GETTERS,
    OrderFacts,
    freeze,
    resolve,
    sample_order,
    sample_source,
    source_plain,
    to_cel,
)
from orchestration_policies.geo import haversine_km
from orchestration_policies.inputs import CandidateSource

__all__ = ["BoundCondition", "Condition", "compile_condition"]

_CACHE_LIMIT = 4096


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
        return lambda s, d, k: freeze(source_plain(s, d, k))
    getter = SOURCE_GETTERS.get(segments[0])
    if getter is None:
        return lambda s, d, k: MISSING
    if segments[0] in _SCALAR_SOURCE_FIELDS:
        # Each scalar field always has the same type (or is None when unknown, which CEL sees
        # as absent), so the value itself is a sound key without a type tag.
        return getter if len(segments) == 1 else (lambda s, d, k: MISSING)
    rest = segments[1:]

    def part(s: CandidateSource, d: float | None, k: tuple[str, ...]) -> object:
        value = resolve(getter(s, d, k), rest)
        return MISSING if value is MISSING else freeze(value)

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


def _outcome(text: str, result: object) -> bool:
    if isinstance(result, bool):
        return result
    raise ConditionError(text, str(result))


class Condition:
    """A compiled CEL condition: :meth:`evaluate` once, or :meth:`bind` to an order first."""

    __slots__ = (
        "_direct",
        "_fast_key",
        "_memo",
        "_memo_size",
        "_order_paths",
        "_runner",
        "_source_fields",
        "_source_key",
        "analysis",
        "text",
    )

    def __init__(self, text: str, runner: Any, analysis: Analysis) -> None:
        self.text = text
        self._runner = runner
        self.analysis = analysis
        self._order_paths = tuple(p for p in analysis.paths if p[0] != "source")
        source_paths = [segs for root, segs in analysis.paths if root == "source"]
        self._fast_key, self._source_key = _source_key_fns(source_paths)
        # Only those the activation needs: converting a whole source was 40 % of an evaluation.
        self._source_fields = source_fields_read(analysis)
        # Evaluated in Python where it answers as cel-python does (see `cel.direct`).
        self._direct = direct(runner.ast) if analysis.complete else None
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
                    value = resolve(facts.plain, segs)
                else:
                    value = facts.now if not segs else MISSING
                parts.append(MISSING if value is MISSING else freeze(value))
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
        """This condition for one order, to be evaluated per source (see BoundCondition)."""
        return BoundCondition(self, facts)

    def _memo_for(self, order_key: object) -> dict[object, object]:
        known = self._memo.get(order_key)
        if known is None:
            self._make_room()
            known = self._memo[order_key] = {}
            self._memo_size += 1
        return known

    def _remember(self, order_key: object, key: object, result: object) -> None:
        inner = self._memo_for(order_key)
        if self._make_room():
            inner = self._memo_for(order_key)
        inner[key] = result
        self._memo_size += 1

    def _make_room(self) -> bool:
        """Forget everything when the memo is full (bounded memory); True if it was cleared.

        Shared between threads without a lock on purpose: a race can only cost a
        recomputation or an early clear, never a wrong result.
        """
        if self._memo_size < _CACHE_LIMIT:
            return False
        self._memo.clear()
        self._memo_size = 0
        return True

    def _evaluate_now(
        self, facts: OrderFacts, source: CandidateSource | None, distance_km: float | None
    ) -> bool | str:
        plain = None
        if source is not None:
            plain = source_plain(source, distance_km, facts.skus, self._source_fields)
        if self._direct is not None:
            try:
                return bool(self._direct(facts.plain, plain))
            except Undecided:
                pass  # values it does not answer for: cel-python does
        activation: dict[str, Any] = {
            "order": facts.cel_order(),
            "now": celtypes.TimestampType(facts.now),
        }
        if plain is not None:
            activation["source"] = to_cel(plain)
        return self.run(activation)

    def literals_compared_with(self, root: str, field: str) -> tuple[str, ...]:
        """String literals this condition compares ``root.field`` with (==, !=, in)."""
        return literals_compared_with(self._runner.ast, root, field)


def _type_check(condition: Condition, scope: Scope) -> None:
    """Evaluate against a sample so type mistakes surface when the policy is loaded.

    Best effort: branches that short-circuit are not visited. A missing map key is not an
    error here, because attributes and stock are open maps whose keys vary per order.
    """
    order = sample_order()
    facts = OrderFacts(order, datetime(2024, 1, 2, tzinfo=UTC))
    activation: dict[str, Any] = {
        "order": facts.cel_order(),
        "now": celtypes.TimestampType(facts.now),
    }
    if scope is Scope.SOURCE:
        source = sample_source()
        distance = haversine_km(48.85, 2.35, source.lat, source.lon)
        activation["source"] = to_cel(source_plain(source, distance, facts.skus))
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
    return Condition(text, env.program(ast), analyse(ast))


@functools.lru_cache(maxsize=1024)
def compile_condition(text: str, scope: Scope) -> Condition:
    """Compile (once per text) and check a condition; raises :class:`CelError`."""
    if not text.strip():
        raise CelError("syntax", text, "empty expression", line=1, column=1)
    condition = _compile(text)
    check_references(text, condition.analysis, scope)
    _type_check(condition, scope)
    return condition


class BoundCondition:
    """A condition bound to one order: evaluate it for a source, or for many at once.

    Results depend only on the values the expression names, so they are memoised on them:
    the order's part of the key is computed once here and each source adds its own part.
    Outcomes are True, False, or the error message when evaluation failed. Expressions the
    analysis cannot fully see through are evaluated every time.
    """

    __slots__ = ("_condition", "_facts", "_order_key")

    def __init__(self, condition: Condition, facts: OrderFacts) -> None:
        self._condition = condition
        self._facts = facts
        self._order_key = condition._order_key(facts) if condition.analysis.complete else None

    def __call__(
        self, source: CandidateSource | None = None, distance_km: float | None = None
    ) -> bool:
        """True or False; raises :class:`ConditionError` when the data make it fail."""
        condition = self._condition
        result: object
        if self._order_key is None:
            result = condition._evaluate_now(self._facts, source, distance_km)
            return _outcome(condition.text, result)
        if source is None:
            key: object = None
        elif condition._fast_key is not None:
            key = condition._fast_key(source)
        else:
            key = condition._source_key(source, distance_km, self._facts.skus)
        result = condition._memo_for(self._order_key).get(key, MISSING)
        if result is MISSING:
            result = condition._evaluate_now(self._facts, source, distance_km)
            condition._remember(self._order_key, key, result)
        return _outcome(condition.text, result)

    def outcomes(
        self, sources: Sequence[CandidateSource], distances: Sequence[float | None]
    ) -> list[object]:
        """Outcome per source (True, False or an error message), memo lookups in bulk."""
        condition = self._condition
        facts = self._facts
        pairs = zip(sources, distances, strict=True)
        if self._order_key is None:
            return [condition._evaluate_now(facts, s, d) for s, d in pairs]
        if condition._fast_key is not None:
            keys: list[object] = list(map(condition._fast_key, sources))
        else:
            key_of, skus = condition._source_key, facts.skus
            keys = [key_of(s, d, skus) for s, d in pairs]
        results = list(map(condition._memo_for(self._order_key).get, keys, repeat(MISSING)))
        # Sources sharing a key are evaluated once (a first order of a kind met 200 misses of
        # a few keys: 200 evaluations of 0.5 ms, where a re-run's whole decide() is 1 ms).
        done: dict[object, object] = {}
        for i in [i for i, result in enumerate(results) if result is MISSING]:
            result = done.get(keys[i], MISSING)
            if result is MISSING:
                result = condition._evaluate_now(facts, sources[i], distances[i])
                condition._remember(self._order_key, keys[i], result)
                done[keys[i]] = result
            results[i] = result
        return results
