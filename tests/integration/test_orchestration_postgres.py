"""Orchestration racing for scarce stock through PostgreSQL, as separate workers would.

Each worker is its own hub (its own bootstrap, connection pool and repository), so the only
thing that keeps two of them from promising the same unit is the event store's optimistic
concurrency on the StockItem's version.
"""

import random
import threading
from collections.abc import Callable, Iterator
from datetime import timedelta
from pathlib import Path
from typing import Any
from uuid import UUID

import pytest

from aggregates import Order, OrderStatus
from aggregates.stock import StockItem
from hub.bootstrap import Hub
from hub.services.orchestration import OrchestrationResult, OrchestrationService
from hub.services.supply_view import SupplyView
from hub.store import OrderStore
from schemas.event_types import EventType
from schemas.sources import SourceDefinition, StockDelta, StockSnapshot
from tests.contracts.factories import NOW, fixed_clock, submit_order
from tests.support.running_hub import embedded_hub

pytestmark = pytest.mark.postgres

SKU = "RED-CHAIR"
SOURCES = {"wh-lyon": (45.75, 4.85), "store-lille": (50.63, 3.06)}
UNITS_PER_SOURCE = 5
ORDERS = 30
WORKERS = 5
CLASSES = ["standard", "vip", "b2b", "staff", "standard"]
ADMIN = "user:alice"

# The bundled default keeps 10 % of each source's stock for vip orders (1 of 5 units here),
# which would leave 8 units, not 10, to the other classes; this test is about the race, so its
# policy keeps nothing back and otherwise routes as the default does.
SCARCE_STOCK_POLICY = """
id: scarce-stock
version: 1
name: Scarce stock, nothing kept back for a class
holds:
  - name: payment-not-authorized
    condition: order.payment_state != "authorized" && order.payment_state != "captured"
    reason: payment is not authorised yet
split:
  max_shipments: 2
backorder: allow
"""


def _source(source_id: str) -> SourceDefinition:
    lat, lon = SOURCES[source_id]
    return SourceDefinition.model_validate(
        {
            "source_id": source_id,
            "name": source_id,
            "kind": "warehouse" if source_id.startswith("wh-") else "store",
            "lat": lat,
            "lon": lon,
            "country": "FR",
            "ships_to": ["FR"],
            "delivery_methods": ["standard"],
            "daily_capacity": 500,
            "lead_time_days": 1,
            "cost": {"base": "4.50", "per_unit": "0.40", "per_km": "0.01", "currency": "EUR"},
        }
    )


def _placed_at(n: int) -> str:
    # A permutation of 30 minutes (7 and 30 are coprime): placing order differs from numbering.
    at = NOW - timedelta(hours=2) + timedelta(minutes=(n * 7) % ORDERS)
    return at.isoformat().replace("+00:00", "Z")


def _order(n: int) -> Any:
    return submit_order(
        external_id=f"WEB-{n:03d}",
        placed_at=_placed_at(n),
        customer={"id": f"CUST-{n:03d}", "demand_class": CLASSES[n % len(CLASSES)]},
        lines=[{"line_id": "1", "sku": SKU, "quantity": 1, "unit_price": "19.90"}],
        payment_state="authorized",
    )


@pytest.fixture
def hubs(database_url: str, tmp_path: Path) -> Iterator[list[Hub]]:
    """One hub per worker plus one (index 0) for setting up and looking; all on one database."""
    made: list[Hub] = []
    try:
        for n in range(WORKERS + 1):
            made.append(embedded_hub(tmp_path / f"hub-{n}", fixed_clock(NOW), database_url))
        yield made
    finally:
        for hub in made:
            hub.close()


def _set_up(hub: Hub) -> list[UUID]:
    for source_id in SOURCES:
        hub.catalog.register_source(_source(source_id), ADMIN)
        hub.catalog.apply_stock(
            StockSnapshot(source_id=source_id, sku=SKU, on_hand=UNITS_PER_SOURCE), ADMIN
        )
    hub.policies.publish(SCARCE_STOCK_POLICY, ADMIN)
    placed = hub.intake.place_orders([_order(n) for n in range(1, ORDERS + 1)])
    assert {p.status for p in placed} == {"accepted"}
    return [p.order_id for p in placed]


def _orchestrate_as_consumer(hub: Hub, order_id: UUID) -> OrchestrationResult:
    """Like the orchestrator's consumer: an event whose handling gave up (after MAX_ATTEMPTS
    conflicts, "stock kept changing") is delivered again, up to max_handler_attempts times."""
    for delivery in range(1, hub.settings.max_handler_attempts + 1):
        try:
            return hub.orchestration.orchestrate(order_id)
        except RuntimeError:
            if delivery == hub.settings.max_handler_attempts:
                raise
    raise AssertionError("unreachable")


def _race(workers: list[Hub], order_ids: list[UUID]) -> list[OrchestrationResult]:
    """Orders dealt out to the workers (one worker per order, as Kafka partitions would) and
    orchestrated by all of them at once: every order competes for the same two stock items."""
    dealt = list(order_ids)
    random.Random(7).shuffle(dealt)
    start = threading.Barrier(len(workers))
    results: list[OrchestrationResult] = []
    errors: list[BaseException] = []
    lock = threading.Lock()

    def work(n: int, hub: Hub) -> None:
        mine = dealt[n :: len(workers)]
        start.wait()
        for order_id in mine:
            try:
                result = _orchestrate_as_consumer(hub, order_id)
            except BaseException as error:
                with lock:
                    errors.append(error)
                return
            with lock:
                results.append(result)

    threads = [
        threading.Thread(target=work, args=(n, hub), name=f"worker-{n}")
        for n, hub in enumerate(workers)
    ]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join(timeout=240)
    assert not any(t.is_alive() for t in threads), "a worker is stuck"
    assert errors == []
    return results


def _stock_events(hub: Hub, source_id: str) -> list[Any]:
    return list(hub.store.events.get(StockItem.create_id(source_id, SKU)))


def _reserved_never_above_on_hand(events: list[Any]) -> tuple[int, int]:
    """Fold a StockItem's history; at every event reserved <= on_hand - safety_stock
    unless a count lowered on-hand (none does here). Returns (on_hand, reserved)."""
    on_hand = safety = 0
    reserved: dict[str, int] = {}
    for version, event in enumerate(events, start=1):
        name = type(event).__name__
        if name in ("Registered", "Counted"):
            on_hand, safety = event.on_hand, event.safety_stock
        elif name == "Adjusted":
            on_hand += event.delta
        elif name == "Reserved":
            assert event.order_id not in reserved, f"{event.order_id} reserved twice"
            reserved[event.order_id] = event.quantity
        elif name == "Released":
            assert reserved.pop(event.order_id) == event.quantity
        assert sum(reserved.values()) + safety <= on_hand, f"oversold at version {version}"
    return on_hand, sum(reserved.values())


def _statuses(hub: Hub, order_ids: list[UUID]) -> dict[UUID, OrderStatus]:
    statuses = {}
    for order_id in order_ids:
        order: object = hub.store.repository.get(order_id)
        assert isinstance(order, Order)
        statuses[order_id] = order.status
    return statuses


def test_thirty_orders_racing_for_ten_units_route_ten_and_backorder_twenty(
    hubs: list[Hub],
) -> None:
    main, workers = hubs[0], hubs[1:]
    order_ids = _set_up(main)

    results = _race(workers, order_ids)

    statuses = _statuses(main, order_ids)
    routed = [o for o, s in statuses.items() if s is OrderStatus.ROUTED]
    backordered = [o for o, s in statuses.items() if s is OrderStatus.BACKORDERED]
    assert (len(routed), len(backordered)) == (10, 20)
    assert set(routed) | set(backordered) == set(order_ids)  # none lost, none held or failed
    assert {r.outcome for r in results} <= {"routed", "backordered", "skipped"}
    assert sum(r.outcome == "routed" for r in results) == 10

    reservations: dict[str, str] = {}
    total_reserved = 0
    for source_id in SOURCES:
        item = main.catalog.find_stock(source_id, SKU)
        assert item is not None
        assert item.reserved <= item.on_hand
        on_hand, reserved = _reserved_never_above_on_hand(_stock_events(main, source_id))
        assert (on_hand, reserved) == (item.on_hand, item.reserved)  # replay equals live
        reservations |= {key: source_id for key in item.reservations}
        total_reserved += item.reserved
    assert total_reserved == 10
    # One reservation per shipment line: order:shipment:line.
    assert sorted(k.split(":")[0] for k in reservations) == sorted(str(o) for o in routed)

    shipments = [
        env
        for _, env in main.store.read_envelopes(None, 100_000)
        if env.type == EventType.ORDER_FULFILLMENT_REQUESTED
    ]
    assert sorted(env.subject for env in shipments) == sorted(str(o) for o in routed)
    for env in shipments:
        key = f"{env.subject}:{env.data['shipment_id']}:1"
        assert reservations[key] == env.data["source_id"]


def test_stock_added_later_goes_to_backorders_by_demand_class_then_placed_at(
    hubs: list[Hub],
) -> None:
    main, workers = hubs[0], hubs[1:]
    order_ids = _set_up(main)
    _race(workers, order_ids)
    main.deliver()  # the backorder queue catches up with what the workers recorded
    waiting = [o for o, s in _statuses(main, order_ids).items() if s is OrderStatus.BACKORDERED]
    rank = {name: i for i, name in enumerate(main.settings.demand_classes)}
    by_number = {_order(n).order_id: n for n in range(1, ORDERS + 1)}
    expected = sorted(
        waiting,
        key=lambda o: (rank[CLASSES[by_number[o] % len(CLASSES)]], _placed_at(by_number[o])),
    )
    position = main.store.max_position()

    main.catalog.apply_stock(
        StockDelta(source_id="wh-lyon", sku=SKU, delta=6, reason="receipt"), ADMIN
    )
    main.deliver()

    routed_now = [
        UUID(env.subject)
        for _, env in main.store.read_envelopes(position, 100_000)
        if env.type == EventType.ORDER_ROUTED and not env.data["waiting_lines"]
    ]
    assert routed_now == expected[:6]
    statuses = _statuses(main, order_ids)
    assert [o for o in expected if statuses[o] is OrderStatus.BACKORDERED] == expected[6:]
    lyon = main.catalog.find_stock("wh-lyon", SKU)
    assert lyon is not None
    assert (lyon.on_hand, lyon.reserved, lyon.available) == (11, 11, 0)
    _reserved_never_above_on_hand(_stock_events(main, "wh-lyon"))


class ViewReadLate(SupplyView):
    """The real supply view, except that `meanwhile` runs just before it is first refreshed:
    between this worker's read of the order and its read of the stock."""

    def __init__(self, store: OrderStore, meanwhile: Callable[[], object]) -> None:
        super().__init__(store)
        self._meanwhile: Callable[[], object] | None = meanwhile

    def refresh(self) -> int:
        if self._meanwhile is not None:
            meanwhile, self._meanwhile = self._meanwhile, None
            meanwhile()
        return super().refresh()


def test_a_second_worker_routing_the_same_order_meanwhile_leaves_it_routed_once(
    hubs: list[Hub],
) -> None:
    main, first, second = hubs[0], hubs[1], hubs[2]
    (order_id, *_) = _set_up(main)
    late = OrchestrationService(
        second.store,
        second.policies,
        fixed_clock(NOW),
        ViewReadLate(second.store, lambda: first.orchestration.orchestrate(order_id)),
    )

    result = late.orchestrate(order_id)

    assert (result.outcome, result.status) == ("skipped", "routed")
    reservations = [
        key
        for source_id in SOURCES
        for key in main.catalog.find_stock(source_id, SKU).reservations  # type: ignore[union-attr]
    ]
    assert [k.split(":")[0] for k in reservations] == [str(order_id)]
