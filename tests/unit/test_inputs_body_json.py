"""An inputs record's body is written by orjson only where it gives json.dumps' very bytes: the
digest names the record, and one recorded by an earlier release must keep its name."""

import hashlib
import math
from typing import Any

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from orchestration_policies import StockLevel
from orchestration_policies.decision_inputs import (
    DecisionInputs,
    PolicyRef,
    RoutingOverrides,
    body_json,
    canonical_json,
    to_body,
)
from tests.unit.policies.policies_factories import LILLE, LYON, NOW, make_order, make_source

# Figures decide() accepts that orjson would write otherwise than json.dumps (or not at all).
odd_numbers = st.sampled_from([math.nan, math.inf, 1e-05, 2.5e-07, 2**70, 0.1])
numbers = st.integers(0, 10**6) | st.floats(0, 1e6) | odd_numbers | st.just(-math.inf)


def _inputs(
    stock: tuple[Any, Any, Any], used_today: Any, at: tuple[Any, Any], attribute: Any
) -> DecisionInputs:
    return DecisionInputs(
        order=make_order(("RED-CHAIR", 2), at=at, attributes={"weight": attribute, "vip": True}),
        candidates=(
            make_source("wh-lyon", at=LYON, stock={"RED-CHAIR": StockLevel(*stock)}),
            make_source("store-lille", at=LILLE, used_today=used_today),
        ),
        policy=PolicyRef("default", 1),
        now=NOW,
        overrides=RoutingOverrides(pinned_source="wh-lyon", rejected_sources=("store-1e-5",)),
    )


@settings(max_examples=400, deadline=None)
@given(
    st.tuples(st.integers(0, 10**6) | odd_numbers, st.integers(0, 5) | odd_numbers, st.just(0)),
    st.integers(0, 50) | odd_numbers,
    st.tuples(numbers, numbers),
    numbers | st.text(max_size=6),
)
def test_a_body_is_written_as_json_dumps_writes_it(
    stock: tuple[Any, Any, Any], used_today: Any, at: tuple[Any, Any], attribute: Any
) -> None:
    body = to_body(_inputs(stock, used_today, at, attribute))[0]
    assert body_json(body) == canonical_json(body)


@pytest.mark.parametrize("where", ["stock", "used_today", "ship_to", "attribute"])
def test_a_nan_is_written_as_json_dumps_writes_it(where: str) -> None:
    nan = math.nan
    inputs = _inputs(
        (nan, 0, 0) if where == "stock" else (9, 0, 0),
        nan if where == "used_today" else 0,
        (nan, 2.0) if where == "ship_to" else (48.8, 2.3),
        nan if where == "attribute" else 1.5,
    )
    body = to_body(inputs)[0]
    assert b"NaN" in canonical_json(body)
    assert body_json(body) == canonical_json(body)
    assert inputs.digest == hashlib.sha256(canonical_json(body)).hexdigest()
