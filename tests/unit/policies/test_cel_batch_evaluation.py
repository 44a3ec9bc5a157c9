"""Evaluating a condition over many sources: once per distinct memo key, on only the fields it
reads, with the outcomes of a fresh evaluation over the whole source."""

from __future__ import annotations

import random
from typing import Any

import pytest
from policies_factories import LYON, NOW, PARIS, make_order, make_source

from orchestration_policies import SourceKind
from orchestration_policies.cel import OrderFacts, Scope, compile_condition
from orchestration_policies.cel import condition as condition_module
from orchestration_policies.cel.values import source_plain, to_cel


def _fresh(text: str, facts: OrderFacts, source: Any, distance: float | None) -> object:
    """Evaluated from scratch over the whole source (every field), without any memo."""
    condition = compile_condition(text, Scope.SOURCE)
    activation = {
        "order": to_cel(facts.plain),
        "now": to_cel(facts.now),
        "source": to_cel(source_plain(source, distance, facts.skus)),
    }
    return condition.run(activation)


def _sources(n: int, seed: int) -> list[Any]:
    rnd = random.Random(seed)
    return [
        make_source(
            f"src-{i}",
            at=rnd.choice([PARIS, LYON]),
            kind=rnd.choice(list(SourceKind)),
            country=rnd.choice(["FR", "BE", "DE"]),
            stock={"RED-CHAIR": rnd.randint(0, 6)},
            used_today=rnd.randint(0, 99),
        )
        for i in range(n)
    ]


def test_a_batch_evaluates_each_distinct_key_once(monkeypatch: pytest.MonkeyPatch) -> None:
    # A text of its own: the memo of a compiled condition is shared by every caller.
    text = 'source.kind != "store" || order.delivery_method != "same_day" || source.country == "BE"'
    condition = compile_condition(text, Scope.SOURCE)
    evaluated: list[object] = []
    real = condition_module.Condition._evaluate_now

    def counted(self: Any, facts: Any, source: Any, distance: Any) -> object:
        evaluated.append((source.kind, source.country))
        return real(self, facts, source, distance)

    monkeypatch.setattr(condition_module.Condition, "_evaluate_now", counted)
    sources = _sources(200, 1)
    facts = OrderFacts(make_order(delivery_method="same_day"), NOW)
    outcomes = condition.bind(facts).outcomes(sources, [None] * len(sources))
    keys = {(s.kind, s.country) for s in sources}
    assert sorted(evaluated) == sorted(keys)  # 200 sources, 9 evaluations (it was 200)
    monkeypatch.undo()
    assert outcomes == [_fresh(text, facts, s, None) for s in sources]
    again = condition.bind(facts).outcomes(sources, [None] * len(sources))
    assert again == outcomes


@pytest.mark.parametrize(
    "text",
    [
        'source.country == order.country && source.kind == "warehouse"',
        'source.stock["BLUE-LAMP"].available > 0',  # a missing key of a nested map
        "source.daily_capacity / (source.used_today % 3) > 1",  # an error for some sources
        'has(source.distance_km) && source.distance_km < 300.0 || source.kind == "store"',
        "size(source) > 3",  # the whole source read: every field given
        'source["kind"] == "store"',
        '.source.kind == "store"',  # not seen through: every field given
    ],
)
def test_only_the_fields_read_give_the_outcomes_of_the_whole_source(text: str) -> None:
    sources = _sources(30, 2)
    distances = [random.Random(i).choice([None, 12.0, 450.0]) for i in range(len(sources))]
    facts = OrderFacts(make_order(("RED-CHAIR", 1)), NOW)
    condition = compile_condition(text, Scope.SOURCE)
    outcomes = condition.bind(facts).outcomes(sources, distances)
    expected = [_fresh(text, facts, s, d) for s, d in zip(sources, distances, strict=True)]
    assert outcomes == expected


def test_the_fields_given_are_those_named_and_all_when_not_seen_through() -> None:
    named = compile_condition(
        'source.kind == "store" && source.stock["X"].on_hand > 0', Scope.SOURCE
    )
    assert named._source_fields == frozenset({"kind", "stock"})
    assert compile_condition("size(source) > 3", Scope.SOURCE)._source_fields is None
    assert compile_condition('.source.kind == "x"', Scope.SOURCE)._source_fields is None
