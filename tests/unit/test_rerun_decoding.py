"""Recorded candidates decoded for a re-run: a copy of the definition's template slot by slot
with its own stock and shipments, and stock levels read inline, are the values the plain
construction makes (same slots, same types: 3.0 or True are not taken for 3 or 1)."""

import dataclasses
from types import MappingProxyType

import pytest

from orchestration_policies import decision_inputs, inputs
from orchestration_policies.decision_inputs import candidate_from
from orchestration_policies.inputs import CandidateSource, StockLevel

DEFINITION = {
    "source_id": "dc-1",
    "kind": "warehouse",
    "lat": 52.5,
    "lon": 13.4,
    "country": "DE",
    "ships_to": ["DE", "AT"],
    "delivery_methods": ["standard"],
    "daily_capacity": 40,
    "cost": {"base": "4.50", "per_unit": "0.10", "per_km": "0.01", "currency": "EUR"},
    "lead_time_days": 2,
    "priority": 3,
    "active": True,
    "demand_classes": ["vip"],
}


def test_a_copy_holds_every_slot_of_its_template_but_its_own_stock_and_shipments() -> None:
    template = candidate_from(DEFINITION, True, {})
    stock = {"A": StockLevel(5, 1, 0)}
    copy = template.restocked(stock, 7)
    expected = dataclasses.replace(template, stock=stock, used_today=7)

    assert type(copy) is CandidateSource and copy == expected
    for name in CandidateSource.__slots__:  # derived slots too (compare=False ones)
        if name not in ("stock", "used_today"):
            assert getattr(copy, name) is getattr(template, name), name
    assert copy.used_today == 7 and isinstance(copy.stock, MappingProxyType)
    assert dict(copy.stock) == stock and template.stock == {}
    stock["B"] = StockLevel(1)  # the copy owns the dict it was given: a view of it
    assert "B" in copy.stock
    with pytest.raises(dataclasses.FrozenInstanceError):
        copy.used_today = 1  # type: ignore[misc]


def test_the_copy_lists_every_slot_of_the_class() -> None:
    assert CandidateSource.__slots__ == inputs._COPIED


@pytest.mark.parametrize(
    "row",
    [[3, 0, 0], [3.0, 0, 0], [3, 0.0, 0], [3, 0, True], [True, 0, 0], [7, 2, 1]],
)
def test_stock_levels_read_inline_are_those_read_one_by_one(row: list[object]) -> None:
    decision_inputs.level_of(3, 0, 0)  # an integer level kept: what 3.0 or True must not hit
    found = decision_inputs._stock({"A": row})["A"]
    expected = StockLevel(*row)  # type: ignore[arg-type]

    assert found == expected
    assert [type(getattr(found, f)) for f in ("on_hand", "reserved", "safety_stock")] == [
        type(v) for v in row
    ]


def test_a_malformed_stock_row_is_refused_as_before() -> None:
    with pytest.raises(TypeError):
        decision_inputs._stock({"A": [3, 0]})
    with pytest.raises(ValueError, match="negative"):
        decision_inputs._stock({"A": [-1, 0, 0]})
