"""What a waiting order's last decision is remembered by (hub.services.waiting_orders): raises
told apart by source, the rules whose verdict stock can change, the sources a decision excluded
for good, and the memory each waiting order costs."""

import sys
from datetime import UTC, datetime
from decimal import Decimal
from pathlib import Path
from uuid import uuid4

from aggregates.stock import StockItem
from hub.services.supply_view import SupplyView
from hub.services.waiting_orders import (
    Waited,
    WaitingOrders,
    fixed_exclusions,
    moving_rules,
    sku_tuple,
)
from hub.store import OrderStore
from orchestration_policies import StockLevel, decide, default_policy, load_policy
from orchestration_policies.decision_inputs import candidate_from
from orchestration_policies.inputs import CandidateSource, DeliveryMethod, LineToRoute, OrderToRoute
from tests.contracts.factories import source_body
from tests.unit.test_stock_by_totals import env

T1 = datetime(2026, 12, 5, 9, 0, tzinfo=UTC)


def test_a_raise_is_known_by_its_source(tmp_path: Path) -> None:
    store = OrderStore(env=env(tmp_path / "events.sqlite3"))
    lyon = StockItem(source_id="lyon", sku="A", on_hand=1, safety_stock=0, at=T1)
    berlin = StockItem(source_id="berlin", sku="A", on_hand=1, safety_stock=0, at=T1)
    store.save(lyon, berlin)
    view = SupplyView(store)
    view.refresh()
    seen = view.position
    assert not view.raised_since(["A"], seen)
    berlin.count(5, None, T1, "count")
    store.save(berlin)
    view.refresh()
    assert view.raised_since(["A"], seen)
    assert not view.raised_since(["A"], seen, excluded={"berlin"})
    assert not view.raised_since(["B"], seen)
    lyon.count(0, None, T1, "count")  # down: frees nothing
    store.save(lyon)
    view.refresh()
    assert not view.raised_since(["A"], seen, excluded={"berlin"})
    lyon.adjust(2, T1, "found")
    store.save(lyon)
    view.refresh()
    assert view.raised_since(["A"], seen, excluded={"berlin"})


RULES = """id: rules
version: 1
name: Rules
eligibility:
  - name: by-kind
    condition: source.kind != "store" || source.country == order.country
  - name: deep
    condition: has(source.stock["A"]) && source.stock["A"].available > 3
  - name: room
    condition: source.capacity_left > 10
"""


def test_rules_reading_stock_or_capacity_used_are_moving() -> None:
    policy = load_policy(RULES)
    assert moving_rules([policy, default_policy()]) == {"deep", "room"}


def _candidate(source_id: str, ships_to: list[str], on_hand: int) -> CandidateSource:
    body = source_body(source_id, ships_to=ships_to)
    return candidate_from(body, True, {"A": StockLevel(on_hand)} if on_hand else {})


def order_to_france(*lines: LineToRoute) -> OrderToRoute:
    return OrderToRoute(
        order_id="o",
        channel="web",
        country="FR",
        demand_class="standard",
        delivery_method=DeliveryMethod.STANDARD,
        total=Decimal(10),
        currency="EUR",
        lines=lines,
        placed_at=T1,
    )


def test_a_decision_excludes_for_good_only_by_rules_stock_cannot_change() -> None:
    order = order_to_france(LineToRoute("1", "A", 5))
    candidates = [
        _candidate("berlin", ["DE"], 9),  # does not ship to France: for good
        _candidate("lyon", ["FR"], 2),  # fewer than the rule wants: until it has more
        _candidate("paris", ["FR"], 0),  # holds none: its rules were not evaluated
    ]
    policy = load_policy(RULES)
    decision = decide(order, candidates, policy, T1)
    moving = moving_rules([policy])
    assert {c.source_id for c in decision.explanation.candidates} == {"berlin", "lyon", "paris"}
    assert fixed_exclusions(decision, moving) == {"berlin"}
    assert fixed_exclusions(decision, frozenset()) == {"berlin", "lyon"}


def test_a_waiting_order_is_kept_small_and_its_excluded_sources_shared(tmp_path: Path) -> None:
    view = SupplyView(OrderStore(env=env(tmp_path / "events.sqlite3")))
    waiting = WaitingOrders(view, lambda: T1)
    skus = sku_tuple(["SKU-0003", "SKU-0001", "SKU-0002", "SKU-0001"])
    assert skus == ("SKU-0001", "SKU-0002", "SKU-0003")
    ids = [uuid4() for _ in range(3)]
    for order_id in ids:
        excluded = frozenset({"berlin", "munich"})  # a new set each time, as decisions make
        waiting.decided(order_id, Waited(1, 0, T1.date(), skus, skus[:1], excluded))
    kept = [waiting._seen[order_id] for order_id in ids]
    assert kept[0].excluded is kept[1].excluded is kept[2].excluded
    # A tuple of SKUs is a fraction of a frozenset of the same.
    assert sys.getsizeof(skus) * 2 < sys.getsizeof(frozenset(skus))
    assert waiting.unchanged(ids[0], ["SKU-0001"])
    assert not waiting.unchanged(ids[0], ["SKU-0001", "SKU-0002"])  # waits for more since
    waiting.keep(ids[:1])
    assert len(waiting) == 3, "decided since the last keep: the view may not list them yet"
    waiting.keep(ids[:1])
    assert len(waiting) == 1
    assert list(waiting._shared) == [frozenset({"berlin", "munich"})]
    waiting.keep([])
    assert len(waiting) == 0 and not waiting._shared


def test_orders_the_view_may_not_list_yet_are_known_by_the_skus_they_wait_for(
    tmp_path: Path,
) -> None:
    view = SupplyView(OrderStore(env=env(tmp_path / "events.sqlite3")))
    waiting = WaitingOrders(view, lambda: T1)
    listed, unlisted, routed = uuid4(), uuid4(), uuid4()
    for order_id, waits in ((listed, ("A",)), (unlisted, ("A", "B")), (routed, ("B",))):
        waiting.decided(order_id, Waited(1, 0, T1.date(), waits, waits))
    waiting.decided(routed, None)  # decided again: no longer waiting
    assert waiting.unlisted(["A", "B", "C"]) == {
        "A": [(str(listed), ("A",)), (str(unlisted), ("A", "B"))],
        "B": [(str(unlisted), ("A", "B"))],
    }
    waiting.keep([listed])  # the view lists one of them
    assert waiting.unlisted(["A", "B"]) == {
        "A": [(str(unlisted), ("A", "B"))],
        "B": [(str(unlisted), ("A", "B"))],
    }
    # Decided again, now waiting for B only: asked by B, not by A.
    waiting.decided(unlisted, Waited(2, 0, T1.date(), ("A", "B"), ("B",)))
    assert waiting.unlisted(["A", "B"]) == {"B": [(str(unlisted), ("B",))]}
    waiting.keep([listed])
    assert waiting.unlisted(["B"]) == {"B": [(str(unlisted), ("B",))]}
    waiting.keep([listed])  # unlisted at two sweeps in a row, not decided between: forgotten
    assert waiting.unlisted(["A", "B"]) == {}
    assert len(waiting) == 1


def test_what_wakes_the_unlisted_orders_follows_each_decision_without_a_sweep(
    tmp_path: Path,
) -> None:
    view = SupplyView(OrderStore(env=env(tmp_path / "events.sqlite3")))
    waiting = WaitingOrders(view, lambda: T1)
    for _ in range(1000):  # each decided waiting, then routed: nothing left behind
        order_id = uuid4()
        waiting.decided(order_id, Waited(1, 0, T1.date(), ("A",), ("A",)))
        waiting.decided(order_id, None)
    assert waiting.unlisted(["A"]) == {} and waiting._recent == {}
    # Held (not decided by routing: no SKUs of its own decision): no raise moves it.
    held = uuid4()
    waiting.decided(held, Waited(1, 0, T1.date(), ("A",), ("A",)))
    waiting.decided(held, Waited(2, 0, T1.date(), (), ("A",)))
    assert waiting.unlisted(["A"]) == {} and waiting._recent == {}
    assert len(waiting) == 1  # still known, for the sweep to skip
