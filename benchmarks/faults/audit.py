"""What the event log says after a fault run: lost, doubled, oversold, stuck.

Pure: it folds the recorded envelopes (the event store is the truth) and the set of orders the
clients were told were accepted. Each count is one that a correct hub keeps at zero.
"""

from collections import Counter
from collections.abc import Iterable
from dataclasses import dataclass, field

from schemas.envelope import EventEnvelope
from schemas.event_types import EventFamily, EventType

# Events after which routing an order again is expected (something changed or was waiting).
_ROUTE_AGAIN = {
    EventType.ORDER_SHIPMENT_REJECTED,
    EventType.ORDER_SHIPMENT_CANCELLED,
    EventType.ORDER_REROUTE_REQUESTED,
    EventType.ORDER_CHANGED,
    EventType.ORDER_HOLD_RELEASED,
}
_DECIDED = {EventType.ORDER_ROUTED, EventType.ORDER_HELD, EventType.ORDER_REJECTED}
_CLOSED_SHIPMENT = {EventType.ORDER_SHIPMENT_REJECTED, EventType.ORDER_SHIPMENT_CANCELLED}


@dataclass
class _Order:
    lines: dict[str, int] = field(default_factory=dict)  # line id -> quantity ordered
    decided: bool = False
    routed: int = 0
    expects_routing: bool = True
    duplicate_routings: int = 0
    shipments: dict[str, dict[str, int]] = field(default_factory=dict)  # open: line -> qty
    requested_twice: int = 0


@dataclass
class _Stock:
    on_hand: int = 0
    safety: int = 0
    reservations: dict[str, int] = field(default_factory=dict)
    oversold: bool = False


@dataclass(frozen=True)
class Audit:
    acknowledged: int
    placed: int
    lost: list[str]
    routed_twice: list[str]
    shipments_requested_twice: int
    over_allocated_orders: list[str]
    oversold_items: list[str]
    stuck: list[str]
    events: int
    events_by_type: dict[str, int]


class LogAudit:
    """Feed it the log in order (`add`), then ask for the `result`."""

    def __init__(self) -> None:
        self._orders: dict[str, _Order] = {}
        self._stock: dict[str, _Stock] = {}
        self._types: Counter[str] = Counter()
        self._events = 0

    def add(self, envelopes: Iterable[EventEnvelope]) -> None:
        for env in envelopes:
            self._events += 1
            self._types[env.type] += 1
            if env.type.startswith(EventFamily.ORDER):
                self._order_event(env)
            elif env.type.startswith(EventFamily.STOCK_ITEM):
                self._stock_event(env)

    def _order_event(self, env: EventEnvelope) -> None:
        order = self._orders.setdefault(env.subject, _Order())
        data = env.data
        if env.type == EventType.ORDER_PLACED:
            lines = data.get("submission", {}).get("lines", [])
            order.lines = {str(line["line_id"]): int(line["quantity"]) for line in lines}
        if env.type in _DECIDED:
            order.decided = True
        if env.type == EventType.ORDER_ROUTED:
            order.routed += 1
            if not order.expects_routing:
                order.duplicate_routings += 1
            # Lines still waiting (backorder) or unroutable may be routed again later.
            order.expects_routing = bool(data.get("waiting_lines")) or bool(
                data.get("unroutable_reason")
            )
        elif env.type in _ROUTE_AGAIN:
            order.expects_routing = True
        if env.type == EventType.ORDER_FULFILLMENT_REQUESTED:
            shipment = str(data["shipment_id"])
            if shipment in order.shipments:
                order.requested_twice += 1
            order.shipments[shipment] = {
                str(line["line_id"]): int(line["quantity"]) for line in data.get("lines", [])
            }
        elif env.type in _CLOSED_SHIPMENT:
            order.shipments.pop(str(data.get("shipment_id")), None)

    def _stock_event(self, env: EventEnvelope) -> None:
        item = self._stock.setdefault(env.subject, _Stock())
        data = env.data
        kind = env.type.removeprefix(EventFamily.STOCK_ITEM)
        if kind in ("registered", "counted"):
            item.on_hand = int(data["on_hand"])
            item.safety = int(data.get("safety_stock", 0))
        elif kind == "adjusted":
            item.on_hand += int(data["delta"])
        elif kind == "reserved":
            item.reservations[str(data["order_id"])] = int(data["quantity"])
        elif kind == "released":
            item.reservations.pop(str(data["order_id"]), None)
        elif kind == "consumed":
            item.reservations.pop(str(data["order_id"]), None)
            item.on_hand -= int(data["quantity"])
        # A count may lower on-hand below what is reserved (the source says so); only a
        # reservation beyond what was available is an oversell.
        if kind == "reserved" and sum(item.reservations.values()) > item.on_hand - item.safety:
            item.oversold = True

    def result(self, acknowledged: Iterable[str]) -> Audit:
        acked = set(acknowledged)
        placed = {oid for oid, o in self._orders.items() if o.lines}
        over = [
            oid
            for oid, o in self._orders.items()
            if any(
                sum(s.get(line, 0) for s in o.shipments.values()) > qty
                for line, qty in o.lines.items()
            )
        ]
        return Audit(
            acknowledged=len(acked),
            placed=len(placed),
            lost=sorted(acked - placed),
            routed_twice=sorted(oid for oid, o in self._orders.items() if o.duplicate_routings),
            shipments_requested_twice=sum(o.requested_twice for o in self._orders.values()),
            over_allocated_orders=sorted(over),
            oversold_items=sorted(sid for sid, s in self._stock.items() if s.oversold),
            stuck=sorted(oid for oid in placed & acked if not self._orders[oid].decided),
            events=self._events,
            events_by_type=dict(self._types),
        )
