"""Properties of decide() over generated orders, sources and policies (hypothesis)."""

from __future__ import annotations

import dataclasses
import math
import random
from collections import Counter
from decimal import Decimal
from typing import Any

from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st
from policies_factories import NOW, make_policy

from orchestration_policies import (
    CRITERIA,
    CandidateSource,
    CostModel,
    Decision,
    DeliveryMethod,
    LineToRoute,
    OrderToRoute,
    Policy,
    SourceKind,
    StockLevel,
    decide,
)
from tests.support.examples import examples

SKUS = ["RED-CHAIR", "BLUE-LAMP", "GREEN-RUG", "GOLD-CLOCK"]
CLASSES = ["standard", "vip", "b2b"]

PROPERTY_SETTINGS = settings(
    max_examples=examples(100), deadline=None, suppress_health_check=[HealthCheck.too_slow]
)


@st.composite
def orders(draw: st.DrawFn) -> OrderToRoute:
    count = draw(st.integers(1, 4))
    lines = tuple(
        LineToRoute(f"L{i}", draw(st.sampled_from(SKUS)), draw(st.integers(1, 6)))
        for i in range(count)
    )
    located = draw(st.booleans())
    return OrderToRoute(
        order_id="order-p",
        channel="web",
        country=draw(st.sampled_from(["FR", "FR", "BE"])),
        demand_class=draw(st.sampled_from(CLASSES)),
        delivery_method=draw(st.sampled_from(list(DeliveryMethod))),
        total=Decimal("120.00"),
        currency="EUR",
        lines=lines,
        placed_at=NOW,
        ship_to_lat=draw(st.floats(43.0, 51.0)) if located else None,
        ship_to_lon=draw(st.floats(-1.0, 7.0)) if located else None,
    )


# Strategies are built once: constructing them inside a composite per draw dominates run time.
_STOCK = st.dictionaries(
    st.sampled_from(SKUS),
    st.builds(StockLevel, st.integers(0, 12), st.integers(0, 3), st.integers(0, 2)),
)
_COST = st.builds(
    CostModel,
    st.integers(100, 900).map(lambda c: Decimal(c) / 100),
    st.integers(0, 100).map(lambda c: Decimal(c) / 100),
    st.integers(0, 5).map(lambda c: Decimal(c) / 100),
    st.just("EUR"),
)
_SOURCE = st.builds(
    CandidateSource,
    source_id=st.just("placeholder"),
    kind=st.sampled_from(list(SourceKind)),
    lat=st.floats(43.0, 51.0),
    lon=st.floats(-1.0, 7.0),
    country=st.just("FR"),
    ships_to=st.frozensets(st.sampled_from(["FR", "BE", "DE"]), min_size=1),
    delivery_methods=st.frozensets(st.sampled_from(list(DeliveryMethod)), min_size=1),
    daily_capacity=st.integers(0, 5),
    used_today=st.integers(0, 5),
    cost=_COST,
    lead_time_days=st.integers(0, 5),
    priority=st.integers(0, 3),
    active=st.sampled_from([True, True, True, False]),
    demand_classes=st.frozensets(st.sampled_from(CLASSES), max_size=2),
    stock=_STOCK,
)


@st.composite
def sources(draw: st.DrawFn) -> list[CandidateSource]:
    drawn = draw(st.lists(_SOURCE, max_size=8))
    return [dataclasses.replace(s, source_id=f"src-{i:02d}") for i, s in enumerate(drawn)]


@st.composite
def policies(draw: st.DrawFn) -> Policy:
    allocation: list[dict[str, Any]] = []
    for demand_class in draw(st.sets(st.sampled_from(["vip", "b2b"]))):
        rule: dict[str, Any] = {"demand_class": demand_class}
        if draw(st.booleans()):
            rule["units"] = draw(st.integers(0, 4))
        if draw(st.booleans()) or "units" not in rule:
            rule["share"] = str(Decimal(draw(st.integers(0, 50))) / 100)
        allocation.append(rule)
    weight = st.sampled_from([0.0, 0.5, 1.0, 2.0])
    weights = {name: draw(weight) for name in CRITERIA}
    return make_policy(
        ranking={"weights": weights},
        split={
            "allowed": draw(st.booleans()),
            "max_shipments": draw(st.integers(1, 4)),
            "ship_complete": draw(st.booleans()),
            "split_penalty": draw(st.sampled_from([0.0, 0.3, 2.0])),
            "lines": draw(st.booleans()),
        },
        backorder=draw(st.sampled_from(["allow", "hold", "reject"])),
        allocation=allocation,
    )


def usable_units(source: CandidateSource, sku: str, order: OrderToRoute, policy: Policy) -> int:
    """Independent statement of the allocation rule: available minus what other classes keep."""
    level = source.stock.get(sku)
    if level is None:
        return 0
    kept = 0
    for rule in policy.allocation:
        if rule.demand_class != order.demand_class:
            share = rule.share if rule.share is not None else Decimal(0)
            kept += max(rule.units or 0, math.ceil(share * level.on_hand))
    return max(0, level.available - kept)


def passes_builtin_rules(source: CandidateSource, order: OrderToRoute) -> bool:
    return (
        source.active
        and order.country in source.ships_to
        and order.delivery_method in source.delivery_methods
        and (not source.demand_classes or order.demand_class in source.demand_classes)
        and source.used_today < source.daily_capacity
    )


@PROPERTY_SETTINGS
@given(orders(), sources(), policies())
def test_never_allocates_more_than_usable_stock_per_source_and_sku(
    order: OrderToRoute, candidates: list[CandidateSource], policy: Policy
) -> None:
    decision = decide(order, candidates, policy, NOW)
    by_id = {s.source_id: s for s in candidates}
    for source_id, lines in decision.shipments.items():
        source = by_id[source_id]
        assert passes_builtin_rules(source, order)
        taken = Counter[str]()
        for line in lines:
            taken[line.sku] += line.quantity
        for sku, units in taken.items():
            assert units <= usable_units(source, sku, order, policy), (source_id, sku)


@PROPERTY_SETTINGS
@given(orders(), sources(), policies(), st.randoms(use_true_random=False))
def test_decisions_are_deterministic_even_with_candidates_shuffled(
    order: OrderToRoute, candidates: list[CandidateSource], policy: Policy, rnd: random.Random
) -> None:
    first = decide(order, candidates, policy, NOW)
    shuffled = list(candidates)
    rnd.shuffle(shuffled)
    again = decide(order, shuffled, policy, NOW)
    assert first.to_json() == again.to_json()
    assert first.digest() == again.digest()


@PROPERTY_SETTINGS
@given(orders(), sources(), policies())
def test_respects_max_shipments_and_ship_complete(
    order: OrderToRoute, candidates: list[CandidateSource], policy: Policy
) -> None:
    decision = decide(order, candidates, policy, NOW)
    split = policy.split
    assert len(decision.shipments) <= split.max_shipments
    if not split.allowed or split.ship_complete:
        assert len(decision.shipments) <= 1
    if split.ship_complete and decision.shipments:
        # ship-complete: one shipment that carries every unit of every line
        assert all(decision.shipped_quantity(ln.line_id) == ln.quantity for ln in order.lines)
    if not split.lines:
        for line in order.lines:
            carriers = [s for s, lines in decision.shipments.items() if any(
                x.line_id == line.line_id for x in lines)]  # fmt: skip
            assert len(carriers) <= 1
            assert decision.shipped_quantity(line.line_id) in (0, line.quantity)


@PROPERTY_SETTINGS
@given(orders(), sources(), policies())
def test_every_line_is_shipped_backordered_or_unallocated_and_quantities_add_up(
    order: OrderToRoute, candidates: list[CandidateSource], policy: Policy
) -> None:
    decision = decide(order, candidates, policy, NOW)
    if decision.held is not None or decision.rejected is not None:
        assert decision.shipments == {}
        return
    for line in order.lines:
        backordered = sum(b.quantity for b in decision.backordered if b.line_id == line.line_id)
        unallocated = sum(u.quantity for u in decision.unallocated if u.line_id == line.line_id)
        shipped = decision.shipped_quantity(line.line_id)
        assert shipped + backordered + unallocated == line.quantity, line


@PROPERTY_SETTINGS
@given(orders(), sources(), policies())
def test_prefers_one_source_whenever_one_can_ship_everything(
    order: OrderToRoute, candidates: list[CandidateSource], policy: Policy
) -> None:
    decision: Decision = decide(order, candidates, policy, NOW)
    wanted = Counter[str]()
    for line in order.lines:
        wanted[line.sku] += line.quantity
    can_ship_all = [
        s
        for s in candidates
        if passes_builtin_rules(s, order)
        and all(usable_units(s, sku, order, policy) >= q for sku, q in wanted.items())
    ]
    if can_ship_all and decision.held is None and decision.rejected is None:
        assert len(decision.shipments) == 1
        assert not decision.backordered and not decision.unallocated


@PROPERTY_SETTINGS
@given(orders(), sources(), policies())
def test_an_order_of_another_class_never_dips_into_reserved_stock(
    order: OrderToRoute, candidates: list[CandidateSource], policy: Policy
) -> None:
    decision = decide(order, candidates, policy, NOW)
    by_id = {s.source_id: s for s in candidates}
    for source_id, lines in decision.shipments.items():
        for sku in {line.sku for line in lines}:
            level = by_id[source_id].stock[sku]
            taken = sum(line.quantity for line in lines if line.sku == sku)
            for rule in policy.allocation:
                if rule.demand_class == order.demand_class:
                    continue
                share = rule.share if rule.share is not None else Decimal(0)
                kept = max(rule.units or 0, math.ceil(share * level.on_hand))
                assert level.available - taken >= min(kept, level.available)


@PROPERTY_SETTINGS
@given(orders(), sources(), policies())
def test_deciding_without_the_candidates_explained_decides_the_same(
    order: OrderToRoute, candidates: list[CandidateSource], policy: Policy
) -> None:
    full = decide(order, candidates, policy, NOW)
    lean = decide(order, candidates, policy, NOW, explain=False)
    assert lean.explanation.candidates == ()
    assert lean == dataclasses.replace(
        full, explanation=dataclasses.replace(full.explanation, candidates=())
    )
