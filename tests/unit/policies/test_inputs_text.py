"""An inputs record's body written straight (inputs_text) is the generic writer's, byte for byte."""

import dataclasses
from datetime import timedelta
from decimal import Decimal

import pytest

from orchestration_policies import StockLevel, inputs_text
from orchestration_policies.decision_inputs import (
    DecisionInputs,
    PolicyRef,
    RoutingOverrides,
    body_json,
    canonical_json,
    definition_key,
    to_body,
)
from orchestration_policies.inputs import CandidateSource
from orchestration_policies.inputs_text import candidate_definition, record_body
from tests.unit.policies.policies_factories import LILLE, LYON, NOW, make_order, make_source


def _inputs(*candidates: CandidateSource, **order: object) -> DecisionInputs:
    made = make_order(
        ("RED-CHAIR", 3),
        ("BLUE-LAMP", 1),
        promised_by=NOW + timedelta(days=3),
        total=Decimal("249.50"),
        **order,  # type: ignore[arg-type]
    )
    return DecisionInputs(
        order=made,
        candidates=candidates,
        policy=PolicyRef("test-policy", 3),
        now=NOW,
        overrides=RoutingOverrides(rejected_sources=("wh-old",), pinned_source="wh-lyon"),
        sources_not_given=17,
    )


def _generic(inputs: DecisionInputs) -> tuple[bytes, dict[str, dict[str, object]]]:
    body, definitions = to_body(inputs)
    text = body_json(body)
    assert text == canonical_json(body)  # what json.dumps writes
    return text, definitions


ODD_TEXTS = ["plain", 'a "quoted" id', "back\\slash", "tab\there", "é-ü", "日本", "\x1f\x7f"]
ODD_TEXTS += ["1e-5", "0.00001"]


@pytest.mark.parametrize(
    "candidates",
    [
        (),
        (make_source("wh-lyon", at=LYON, stock={"RED-CHAIR": StockLevel(5, 2, 1)}),),
        (
            make_source("wh-lyon", at=LYON, stock={"RED-CHAIR": 5, "BLUE-LAMP": 4, "A-1": 0}),
            make_source("store-lille", at=LILLE, stock={}, used_today=7, active=False),
        ),
        tuple(make_source(text, stock={text: StockLevel(3, 1, 0), "Z": 1}) for text in ODD_TEXTS),
    ],
)
def test_the_body_is_the_generic_writers_byte_for_byte(
    candidates: tuple[CandidateSource, ...], monkeypatch: pytest.MonkeyPatch
) -> None:
    inputs = _inputs(*candidates)
    expected = _generic(inputs)
    # Written straight: the generic writer is not what gave it.
    monkeypatch.setattr(inputs_text, "to_body", None)
    assert record_body(inputs) == expected


@pytest.mark.parametrize(
    "attributes",
    [
        {"score": 1e-7, "note": 'a "quoted" \\ text'},  # a tiny figure beside an escape
        {"score": 0.25, "tier": 2, "vip": True},
    ],
)
def test_the_order_is_written_as_before_beside_the_rows(attributes: dict[str, object]) -> None:
    inputs = _inputs(make_source("wh-lyon", stock={"RED-CHAIR": 2}), attributes=attributes)
    assert record_body(inputs) == _generic(inputs)


@pytest.mark.parametrize(
    "odd",
    [
        {"stock": {"RED-CHAIR": StockLevel(True, 0, 0)}},  # a bool is written `true`
        {"stock": {"RED-CHAIR": StockLevel(2.0, 0, 0)}},  # a float `2.0`
        {"used_today": True},
        {"used_today": 2.5},
    ],
)
def test_a_figure_that_is_not_an_int_is_written_the_generic_way(odd: dict[str, object]) -> None:
    inputs = _inputs(make_source("wh-lyon"), make_source("wh-odd", **odd))
    text, definitions = record_body(inputs)
    assert (text, definitions) == _generic(inputs)
    assert b"true" in text or b".0" in text or b"2.5" in text


def test_a_candidates_definition_is_worked_out_once_and_carried_by_its_copies() -> None:
    template = make_source("wh-lyon", stock={})
    assert template.recorded_definition is None
    key, definition = candidate_definition(template)
    assert key == definition_key(template) and definition["source_id"] == "wh-lyon"
    copy = template.restocked({"RED-CHAIR": StockLevel(4)}, 3)
    assert copy.recorded_definition is template.recorded_definition
    assert candidate_definition(copy) == (key, definition)
    # Another definition (a field replaced) is its own: the template's is not carried over.
    moved = dataclasses.replace(copy, country="BE")
    assert moved.recorded_definition is None
    assert candidate_definition(moved)[0] == definition_key(moved) != key
    assert moved == dataclasses.replace(moved)  # compared without it
