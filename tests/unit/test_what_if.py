"""What-if over recorded history: a draft policy re-decides past decisions (pure engine).

The histories are built by hand: the live decisions are what decide() gave under the live
policy with the stock the live world had, and the report's figures are worked out here.
"""

import json
import math
from dataclasses import replace
from datetime import UTC, datetime, timedelta
from decimal import Decimal

import pytest

from orchestration_policies import (
    CandidateSource,
    CostModel,
    LineToRoute,
    OrderToRoute,
    Policy,
    StockLevel,
    decide,
    load_policy,
)
from orchestration_policies.decision_inputs import DecisionInputs, PolicyRef
from orchestration_policies.geo import EARTH_RADIUS_KM
from orchestration_policies.what_if import (
    MovementKind,
    RecordedDecision,
    StockMovement,
    UnknownAttributeError,
    run_what_if,
)
from schemas.decision_record import DecisionRecord

START = datetime(2026, 11, 1, tzinfo=UTC)
T = [START + timedelta(hours=h) for h in range(1, 10)]


def policy(weights: str, extra: str = "") -> Policy:
    zero = {"distance_km": 0, "shipping_cost": 0, "lead_time_days": 0}
    zero.pop(weights.split(":")[0])
    weights = ", ".join([weights, *(f"{k}: {v}" for k, v in zero.items())])
    return load_policy(
        f"""
id: p
version: 1
name: test
ranking:
  weights: {{{weights}}}
{extra}
"""
    )


BY_DISTANCE = policy("distance_km: 1.0")
BY_COST = policy("shipping_cost: 1.0")


def source(source_id: str, lon: float, base: str, lead: int) -> CandidateSource:
    return CandidateSource(
        source_id=source_id,
        kind="warehouse",
        lat=0.0,
        lon=lon,
        country="FR",
        ships_to=frozenset({"FR"}),
        delivery_methods=frozenset({"standard"}),
        daily_capacity=100,
        used_today=0,
        cost=CostModel(Decimal(base), Decimal("1.00"), Decimal("0"), "EUR"),
        lead_time_days=lead,
    )


NEAR = source("store-near", 0.1, "20.00", 1)
FAR = source("dc-far", 1.0, "5.00", 4)


def order(order_id: str, at: datetime, channel: str = "web", lon: float = 0.0) -> OrderToRoute:
    return OrderToRoute(
        order_id=order_id,
        channel=channel,
        country="FR",
        demand_class="standard",
        delivery_method="standard",
        total=Decimal("10.00"),
        currency="EUR",
        lines=(LineToRoute("L1", "CHAIR", 1),),
        placed_at=at,
        ship_to_lat=0.0,
        ship_to_lon=lon,
        promised_by=at + timedelta(days=5),
    )


def seen(candidate: CandidateSource, on_hand: int, reserved: int) -> CandidateSource:
    from dataclasses import replace

    return replace(candidate, stock={"CHAIR": StockLevel(on_hand, reserved)})


def recorded(
    to_route: OrderToRoute, at: datetime, live: Policy, *candidates: CandidateSource
) -> RecordedDecision:
    decision = decide(to_route, candidates, live, at)
    return RecordedDecision(
        order_id=to_route.order_id,
        n=1,
        channel=to_route.channel,
        decided_at=at,
        record=DecisionRecord.from_plain(decision.to_dict()),
        inputs=DecisionInputs(to_route, tuple(candidates), PolicyRef(live.id, live.version), at),
    )


def registered(candidate: CandidateSource, on_hand: int) -> StockMovement:
    return StockMovement(
        MovementKind.REGISTERED, candidate.source_id, "CHAIR", START - timedelta(days=1), on_hand
    )


def live_key(order_id: str) -> str:
    return f"{order_id}:ship-1:L1"


def test_a_draft_preferring_the_cheaper_far_source_is_reported_beside_the_live_one() -> None:
    # Live routes by distance: every order to the near store. The draft routes by cost: the far
    # DC, while it has stock in the draft's own world (2 chairs), then the near store.
    history = [
        registered(NEAR, 10),
        registered(FAR, 2),
        recorded(order("o1", T[0]), T[0], BY_DISTANCE, seen(NEAR, 10, 0), seen(FAR, 2, 0)),
        recorded(order("o2", T[1]), T[1], BY_DISTANCE, seen(NEAR, 10, 1), seen(FAR, 2, 0)),
        recorded(order("o3", T[2], "pos"), T[2], BY_DISTANCE, seen(NEAR, 10, 2), seen(FAR, 2, 0)),
    ]
    report = run_what_if(history, BY_COST, START)

    near_km = EARTH_RADIUS_KM * math.radians(0.1)
    far_km = EARTH_RADIUS_KM * math.radians(1.0)
    total = report.to_dict()["total"]
    assert (report.decisions, report.redecided, report.skipped) == (3, 3, 0)
    assert total["orders"] == 3
    assert total["changed"] == 2
    live, draft = total["live"], total["draft"]
    assert (live["routed"], draft["routed"]) == (3, 3)
    assert (live["shipments"], draft["shipments"]) == (3, 3)
    assert live["shipments_per_order"] == draft["shipments_per_order"] == 1.0
    # Cost = base + 1.00 per unit: near 21.00, far 6.00.
    assert live["cost"] == {"EUR": "63.00"}
    assert draft["cost"] == {"EUR": "33.00"}
    assert live["mean_distance_km"] == pytest.approx(near_km, abs=1e-3)
    assert draft["mean_distance_km"] == pytest.approx((2 * far_km + near_km) / 3, abs=1e-3)
    # Promised in 5 days; standard transit is 3: the near store (1 day) makes it, the far DC
    # (4 days) does not.
    assert (live["promises_checked"], live["promise_misses"]) == (3, 0)
    assert (draft["promises_checked"], draft["promise_misses"]) == (3, 2)

    web, pos = report.by_channel["web"].to_dict(), report.by_channel["pos"].to_dict()
    assert web["draft"]["cost"] == {"EUR": "12.00"} and web["changed"] == 2
    assert pos["draft"]["cost"] == {"EUR": "21.00"} and pos["changed"] == 0

    changed = report.changes
    assert [(c.order_id, c.live_sources, c.draft_sources) for c in changed] == [
        ("o1", ("store-near",), ("dc-far",)),
        ("o2", ("store-near",), ("dc-far",)),
    ]
    assert "from store-near" in changed[0].live_explanation
    assert "from dc-far" in changed[0].draft_explanation


def test_the_drafts_own_earlier_promises_exhaust_stock_the_recorded_inputs_still_show() -> None:
    # The live inputs of o3 show 2 chairs free at the far DC (the live policy never used it);
    # in the draft's world o1 and o2 took them, so o3 goes to the near store.
    history = [
        registered(NEAR, 10),
        registered(FAR, 2),
        *(
            recorded(order(f"o{i}", T[i]), T[i], BY_DISTANCE, seen(NEAR, 10, i), seen(FAR, 2, 0))
            for i in range(3)
        ),
    ]
    report = run_what_if(history, BY_COST, START)
    assert [c.order_id for c in report.changes] == ["o0", "o1"]
    assert report.total.draft.outcomes["routed"] == 3


def test_units_only_the_live_policy_freed_are_not_the_drafts_to_use() -> None:
    # Live routes by cost (the far DC, one chair), the draft by distance. Orders come from near
    # each source. o1 (near the store): live takes the DC's chair, the draft the store's. o2
    # (near the DC): live has only the store left, the draft takes the DC's chair. o1 is then
    # cancelled: live frees the DC's chair, the draft gives back the store's. o3 (near the
    # DC): the live inputs show the DC's chair free again, but in the draft's world o2 holds it.
    o1, o2, o3 = order("o1", T[0], lon=0.1), order("o2", T[1], lon=1.0), order("o3", T[3], lon=1.0)
    history = [
        registered(NEAR, 1),
        registered(FAR, 1),
        recorded(o1, T[0], BY_COST, seen(NEAR, 1, 0), seen(FAR, 1, 0)),
        StockMovement(
            MovementKind.RESERVED, "dc-far", "CHAIR", T[0], quantity=1, key=live_key("o1")
        ),
        recorded(o2, T[1], BY_COST, seen(NEAR, 1, 0), seen(FAR, 1, 1)),
        StockMovement(
            MovementKind.RESERVED, "store-near", "CHAIR", T[1], quantity=1, key=live_key("o2")
        ),
        StockMovement(
            MovementKind.RELEASED, "dc-far", "CHAIR", T[2], quantity=1, key=live_key("o1")
        ),
        recorded(o3, T[3], BY_COST, seen(NEAR, 1, 1), seen(FAR, 1, 0)),
    ]
    report = run_what_if(history, BY_DISTANCE, START)
    drafted = {c.order_id: c.draft_sources for c in report.changes}
    assert report.changes[0].live_sources == ("dc-far",)
    assert drafted["o1"] == ("store-near",)
    assert drafted["o2"] == ("dc-far",)
    # o3: the DC's chair is the draft's promise to o2; the store's came back with o1's
    # cancellation, so the draft ships from the store (live shipped from the DC).
    assert drafted["o3"] == ("store-near",)


def test_the_draft_waits_when_its_own_promises_leave_nothing() -> None:
    # The draft never uses the store: o1 takes the DC's only chair in its world, so o2 waits,
    # though the live inputs of o2 show the DC's chair free (live shipped o1 from the store).
    only_dc = policy("shipping_cost: 1.0", "excluded_sources: [store-near]")
    history = [
        registered(NEAR, 1),
        registered(FAR, 1),
        recorded(order("o1", T[0]), T[0], BY_DISTANCE, seen(NEAR, 1, 0), seen(FAR, 1, 0)),
        recorded(order("o2", T[1]), T[1], BY_DISTANCE, seen(NEAR, 1, 1), seen(FAR, 1, 0)),
    ]
    report = run_what_if(history, only_dc, START)
    draft = report.total.draft.outcomes
    assert (draft["routed"], draft["backordered"]) == (1, 1)
    assert report.total.live.outcomes["routed"] == 2
    assert report.changes[1].draft_outcome == "backordered"


def test_decisions_without_recorded_inputs_are_skipped_and_keep_their_stock() -> None:
    # o1 was recorded before inputs were: it stands as recorded, its chair at the DC too.
    old = recorded(order("o1", T[0]), T[0], BY_COST, seen(NEAR, 1, 0), seen(FAR, 1, 0))
    history = [
        registered(NEAR, 1),
        registered(FAR, 1),
        RecordedDecision("o1", 1, "web", T[0], old.record),
        recorded(order("o2", T[1]), T[1], BY_DISTANCE, seen(NEAR, 1, 0), seen(FAR, 1, 1)),
    ]
    report = run_what_if(history, BY_COST, START)
    assert (report.decisions, report.redecided, report.skipped) == (2, 1, 1)
    assert report.changes == []  # the DC held o1's chair: o2 goes to the store, as live
    assert report.total.draft.cost == {"EUR": Decimal("21.00")}


def test_only_the_channel_asked_for_is_redecided() -> None:
    history = [
        registered(NEAR, 10),
        registered(FAR, 10),
        recorded(order("o1", T[0], "web"), T[0], BY_DISTANCE, seen(NEAR, 10, 0), seen(FAR, 10, 0)),
        recorded(order("o2", T[1], "pos"), T[1], BY_DISTANCE, seen(NEAR, 10, 1), seen(FAR, 10, 0)),
    ]
    report = run_what_if(history, BY_COST, START, channel="pos")
    assert (report.redecided, report.out_of_scope) == (1, 1)
    assert list(report.by_channel) == ["pos"]


def test_a_draft_reading_an_attribute_unknown_at_the_time_is_a_clear_error() -> None:
    draft = policy(
        "shipping_cost: 1.0",
        """holds:
  - name: gold-review
    condition: order.attributes.loyalty_tier == "gold"
    reason: gold customers are checked by hand
""",
    )
    history = [
        registered(NEAR, 10),
        recorded(order("o1", T[0]), T[0], BY_DISTANCE, seen(NEAR, 10, 0)),
    ]
    with pytest.raises(UnknownAttributeError) as raised:
        run_what_if(history, draft, START)
    (problem,) = raised.value.problems
    assert problem.path == "holds[0].condition"
    assert "order.attributes.loyalty_tier is not known at the time" in problem.message


def test_reservations_made_before_the_window_are_kept_by_both_worlds() -> None:
    # Before the window the DC's only chair was reserved; it is still promised in the window.
    history = [
        registered(NEAR, 1),
        registered(FAR, 1),
        StockMovement(
            MovementKind.RESERVED,
            "dc-far",
            "CHAIR",
            START - timedelta(hours=1),
            quantity=1,
            key=live_key("before"),
        ),
        recorded(order("o1", T[0]), T[0], BY_DISTANCE, seen(NEAR, 1, 0), seen(FAR, 1, 1)),
    ]
    report = run_what_if(history, BY_COST, START)
    assert report.total.changed == 0  # the far DC has nothing free in either world


def test_an_attribute_guarded_by_has_is_no_error_and_the_live_policy_changes_nothing() -> None:
    guarded = policy(
        "distance_km: 1.0",
        """holds:
  - name: gold-review
    condition: has(order.attributes.loyalty_tier) && order.attributes.loyalty_tier == "gold"
    reason: gold customers are checked by hand
""",
    )
    history = [
        registered(NEAR, 10),
        registered(FAR, 2),
        *(
            recorded(order(f"o{i}", T[i]), T[i], BY_DISTANCE, seen(NEAR, 10, i), seen(FAR, 2, 0))
            for i in range(3)
        ),
    ]
    report = run_what_if(history, guarded, START)
    assert (report.redecided, report.total.changed, report.condition_failures) == (3, 0, 0)


def test_inputs_read_back_compactly_give_the_same_report() -> None:
    from orchestration_policies.decision_inputs import canonical_json, to_body
    from orchestration_policies.what_if_inputs import InputsDecoder

    live = [
        recorded(order(f"o{i}", T[i]), T[i], BY_DISTANCE, seen(NEAR, 10, i), seen(FAR, 2, 0))
        for i in range(3)
    ]
    definitions: dict[str, dict[str, object]] = {}
    compact = []
    for item in live:
        assert item.inputs is not None
        body, defs = to_body(item.inputs)
        definitions.update(defs)
        decoder = InputsDecoder(definitions.__getitem__)
        inputs, rows = decoder.decode_compact(json.loads(canonical_json(body)))
        assert decoder.decode(json.loads(canonical_json(body))) == item.inputs
        compact.append(replace(item, inputs=inputs, candidates=rows))
    stock = [registered(NEAR, 10), registered(FAR, 2)]
    full = run_what_if([*stock, *live], BY_COST, START).to_dict()
    assert run_what_if([*stock, *compact], BY_COST, START).to_dict() == full


def test_stock_unknown_to_the_history_starts_from_the_first_decision_that_saw_it() -> None:
    # The Belgian DC's chairs were registered before the history given. o1 (to France) saw one
    # there, though that DC cannot ship it; o2 (to Belgium) saw five (a receipt the history
    # lacks). The draft's world starts from the first sight: one chair, not enough for o2.
    belgian = replace(FAR, source_id="dc-be", country="BE", ships_to=frozenset({"BE"}))
    to_belgium = replace(order("o2", T[2]), country="BE", lines=(LineToRoute("L1", "CHAIR", 2),))
    history = [
        registered(NEAR, 10),
        recorded(order("o1", T[1]), T[1], BY_DISTANCE, seen(NEAR, 10, 0), seen(belgian, 1, 0)),
        recorded(to_belgium, T[2], BY_DISTANCE, seen(belgian, 5, 0)),
    ]
    report = run_what_if(history, BY_COST, START)
    assert report.total.live.outcomes["routed"] == 2
    assert report.total.draft.outcomes["routed"] == 1
    assert report.total.draft.outcomes["backordered"] == 1
    assert [c.order_id for c in report.changes] == ["o2"]
