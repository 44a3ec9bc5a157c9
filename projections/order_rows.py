"""The order status row and how events fold into it: one row per order, answering "where is my
order", with the facts that search, jeopardy clocks and KPIs need."""

from collections.abc import Callable
from dataclasses import dataclass, field
from datetime import UTC, datetime
from decimal import Decimal
from typing import Any, TypeVar

import orjson

from aggregates.order_states import FulfillmentFacts, derived_status
from aggregates.shipments import CLOSED, ShipmentState
from orchestration_policies.promise import promised_by
from schemas.envelope import EventEnvelope
from schemas.event_types import EventType

# Statuses at which the order has left the building: the promise is kept or broken by then.
SHIPPED_STATUSES = frozenset(
    {"shipped", "delivered", "completed", "partially_returned", "returned"}
)
LEFT = frozenset({"shipped", "delivered", "delivery_failed"})
# Statuses where nothing more will ship: no jeopardy clock runs.
FINAL_STATUSES = SHIPPED_STATUSES | {"rejected", "cancelled", "cancelling"}


@dataclass(frozen=True)
class OrderFacts:
    """What the row's status follows from (kept with the row, as JSON text in SQL)."""

    shipments: dict[str, str] = field(default_factory=dict)  # id -> shipment state
    withdrawing: tuple[str, ...] = ()
    waiting: bool = False
    invoiced: tuple[str, ...] = ()
    unroutable: str | None = None
    held: bool = False
    cancel_requested: bool = False
    shipped_units: int = 0
    returned_units: int = 0
    counted: tuple[str, ...] = ()  # shipments whose units were counted as shipped
    promise: str = ""  # channel | estimate | planned
    planned: bool = False  # the first routing with shipments set the KPIs

    def status(self) -> str:
        """The order's status exactly as the aggregate derives it."""
        return derived_status(
            FulfillmentFacts(
                shipments={sid: ShipmentState(s) for sid, s in self.shipments.items()},
                withdrawing=self.withdrawing,
                waiting=self.waiting,
                invoiced=self.invoiced,
                unroutable=bool(self.unroutable),
                held=self.held,
                cancel_requested=self.cancel_requested,
                shipped_units=self.shipped_units,
                returned_units=self.returned_units,
            )
        ).value

    def withdraw(self, shipment_ids: list[str], **changes: Any) -> "OrderFacts":
        return copied(
            self, withdrawing=tuple(sorted({*self.withdrawing, *shipment_ids})), **changes
        )

    def to_json(self) -> str:
        # Not asdict(): its deep copy was most of the row's save; the fields are flat but for
        # `shipments` (str -> str), and tuples are written as lists, as the copy's were. By
        # orjson (without the stdlib's spaces): the stdlib's encoder was most of a saved row's
        # JSON. Only `from_json` reads the text, and it reads either spelling.
        return orjson.dumps(self.__dict__, option=orjson.OPT_SORT_KEYS).decode()

    @classmethod
    def from_json(cls, text: str) -> "OrderFacts":
        """Rows written by earlier releases lack some keys (their defaults apply)."""
        data = {k: v for k, v in orjson.loads(text).items() if k in _FACT_NAMES}
        for name in ("withdrawing", "invoiced", "counted"):
            if name in data:
                data[name] = tuple(data[name])
        return cls(**data)


_FACT_NAMES = frozenset(OrderFacts.__dataclass_fields__)


@dataclass(frozen=True)
class OrderStatusRow:
    order_id: str
    channel: str
    external_id: str
    status: str
    customer_id: str
    demand_class: str
    country: str
    currency: str
    total: str
    line_count: int
    placed_at: str
    received_at: str
    updated_at: str
    version: int
    digest: str
    reasons: tuple[str, ...] = ()
    fulfillment: OrderFacts = OrderFacts()
    delivery_method: str = "standard"
    promised_by: str = ""  # UTC ISO; the channel's promise, else computed at first routing
    skus: tuple[str, ...] = ()
    sources: tuple[str, ...] = ()  # every source a shipment was requested from
    units_ordered: int = 0
    units_shipped: int = 0
    shipped_at: str = ""  # UTC ISO; when the order first counted as shipped
    split: bool = False  # a routing used more than one source
    distance_km: float | None = None  # mean over the first routing's shipments
    backordered: bool = False  # waited for stock at some point


Row = TypeVar("Row", OrderFacts, OrderStatusRow)


def copied(row: Row, **changes: Any) -> Row:
    """`dataclasses.replace` for the rows here (frozen, no `__post_init__`), copying the fields
    instead of calling `__init__` with every one of them: the status row has 28, and the fold
    replaced rows and facts two to four times per event."""
    unknown = changes.keys() - row.__dataclass_fields__.keys()
    if unknown:
        raise TypeError(f"{type(row).__name__} has no field(s) {sorted(unknown)}")
    copy = object.__new__(type(row))
    state = copy.__dict__
    state.update(row.__dict__)
    state.update(changes)
    return copy


def utc_text(value: str | datetime) -> str:
    """One spelling of UTC times in the view, so that text order is time order."""
    moment = datetime.fromisoformat(value) if isinstance(value, str) else value
    return moment.astimezone(UTC).strftime("%Y-%m-%dT%H:%M:%S.%fZ")


def _placed(row: OrderStatusRow | None, env: EventEnvelope) -> OrderStatusRow:
    sub = env.data["submission"]
    total = sum(
        (Decimal(line["unit_price"]) * line["quantity"] for line in sub["lines"]), Decimal(0)
    )
    delivery_method = sub.get("delivery_method") or "standard"
    return OrderStatusRow(
        order_id=env.subject,
        channel=sub["channel"],
        external_id=sub["external_id"],
        status="placed",
        customer_id=sub["customer"]["id"],
        demand_class=sub["customer"].get("demand_class", "standard"),
        country=sub["ship_to"]["country"],
        currency=sub["currency"],
        total=str(total),
        line_count=len(sub["lines"]),
        placed_at=utc_text(sub["placed_at"]),
        received_at=env.data["received_at"],
        updated_at=env.time.isoformat(),
        version=env.sequence,
        digest=env.data["digest"],
        delivery_method=sub.get("delivery_method", "standard"),
        # The channel's promise, else an estimate from the delivery method until the first
        # routing knows the source's lead time.
        promised_by=utc_text(
            sub.get("promised_by")
            or promised_by(datetime.fromisoformat(sub["placed_at"]), delivery_method, 0)
        ),
        fulfillment=OrderFacts(promise="channel" if sub.get("promised_by") else "estimate"),
        skus=tuple(sorted({line["sku"] for line in sub["lines"]})),
        units_ordered=sum(int(line["quantity"]) for line in sub["lines"]),
    )


def _status(status: str) -> Callable[[OrderStatusRow | None, EventEnvelope], OrderStatusRow | None]:
    def handle(row: OrderStatusRow | None, env: EventEnvelope) -> OrderStatusRow | None:
        if row is None:  # history starts before this view's retention; nothing to update
            return None
        reasons = tuple(env.data.get("reasons", row.reasons))
        return copied(
            row,
            status=status,
            updated_at=env.time.isoformat(),
            version=env.sequence,
            reasons=reasons,
        )

    return handle


def _routed(row: OrderStatusRow | None, env: EventEnvelope) -> OrderStatusRow | None:
    if row is not None:
        row = _first_routing(row, env)
    waiting_lines = env.data.get("waiting_lines") or []
    waiting = tuple(f"{w['line_id']}: waiting for {w['sku']}" for w in waiting_lines)
    has_shipments = row is not None and any(
        ShipmentState(state) not in CLOSED and sid not in row.fulfillment.withdrawing
        for sid, state in row.fulfillment.shipments.items()
    )
    reason = env.data.get("unroutable_reason")
    if reason:
        # Lines no source can take are an exception, even when other lines ship.
        return _fulfilled(
            row,
            env,
            lambda f: copied(f, waiting=bool(waiting), unroutable=reason, held=False),
            "unroutable",
            (reason,),
        )
    status = None if has_shipments else ("backordered" if waiting else "routed")
    return _fulfilled(
        row,
        env,
        lambda f: copied(f, waiting=bool(waiting), unroutable=None, held=False),
        status,
        waiting,
    )


def _first_routing(row: OrderStatusRow, env: EventEnvelope) -> OrderStatusRow:
    """The first routing that sends shipments sets the split and distance KPIs and, unless the
    channel promised a date, the promise (the sources' lead time + the method's transit,
    replacing the estimate made at placement). Re-routing later moves neither."""
    details = (env.data.get("decision") or {}).get("shipment_details") or []
    row = copied(row, backordered=row.backordered or bool(env.data.get("waiting_lines")))
    facts = copied(row.fulfillment, planned=True)
    if not details or row.fulfillment.planned:
        return row
    if facts.promise == "estimate":
        lead = max(int(d.get("lead_time_days", 0)) for d in details)
        placed = datetime.fromisoformat(row.placed_at)
        row = copied(row, promised_by=utc_text(promised_by(placed, row.delivery_method, lead)))
        facts = copied(facts, promise="planned")
    distances = [float(d["distance_km"]) for d in details if d.get("distance_km") is not None]
    return copied(
        row,
        split=len({d["source_id"] for d in details}) > 1,
        distance_km=round(sum(distances) / len(distances), 3) if distances else None,
        fulfillment=facts,
    )


def _held(row: OrderStatusRow | None, env: EventEnvelope) -> OrderStatusRow | None:
    # Held stays the status while live shipments move on, until routing or a person ends it.
    reasons = (f"{env.data['rule']}: {env.data['reason']}",)
    return _fulfilled(row, env, lambda f: copied(f, held=True), "held", reasons)


def _hold_released(row: OrderStatusRow | None, env: EventEnvelope) -> OrderStatusRow | None:
    return _fulfilled(row, env, lambda f: copied(f, held=False), "accepted")


def _fulfilled(
    row: OrderStatusRow | None,
    env: EventEnvelope,
    change: Callable[[OrderFacts], OrderFacts],
    status: str | None = None,
    reasons: tuple[str, ...] = (),
) -> OrderStatusRow | None:
    """Change the row's fulfillment facts, then derive the status the way the aggregate does."""
    if row is None:
        return None
    facts = change(row.fulfillment)
    if status is None:
        status = facts.status()
        if status == "held":
            reasons = reasons or row.reasons  # the hold's reason, while it lasts
    # A source counts once a shipment was requested from it (not when it was merely named).
    source = env.data["source_id"] if env.type.endswith(".fulfillment_requested") else None
    return copied(
        row,
        status=status,
        updated_at=env.time.isoformat(),
        version=env.sequence,
        reasons=reasons,
        fulfillment=facts,
        units_shipped=facts.shipped_units,
        shipped_at=row.shipped_at or (utc_text(env.time) if status in SHIPPED_STATUSES else ""),
        sources=tuple(sorted({*row.sources, source})) if source else row.sources,
    )


def _changed(row: OrderStatusRow | None, env: EventEnvelope) -> OrderStatusRow | None:
    if row is None:
        return None
    sub = env.data["submission"]
    total = sum(
        (Decimal(line["unit_price"]) * line["quantity"] for line in sub["lines"]), Decimal(0)
    )

    def change(f: OrderFacts) -> OrderFacts:
        return f.withdraw(env.data["withdrawn"], waiting=True, held=False)

    changed = _fulfilled(row, env, change, "rerouting", (f"revision {env.data['revision']}",))
    assert changed is not None
    return copied(
        changed,
        total=str(total),
        line_count=len(sub["lines"]),
        digest=env.data["digest"],
        skus=tuple(sorted({line["sku"] for line in sub["lines"]})),
        units_ordered=sum(int(line["quantity"]) for line in sub["lines"]),
    )


def _reroute(row: OrderStatusRow | None, env: EventEnvelope) -> OrderStatusRow | None:
    def change(f: OrderFacts) -> OrderFacts:
        return f.withdraw(env.data["withdrawn"], waiting=True, unroutable=None, held=False)

    reason = f"re-routing to {env.data['source_id']}: {env.data['reason']}"
    return _fulfilled(row, env, change, "rerouting", (reason,))


def _set_shipment(state_key: str) -> Callable[[OrderStatusRow | None, EventEnvelope], Any]:
    def handle(row: OrderStatusRow | None, env: EventEnvelope) -> OrderStatusRow | None:
        state = env.data.get(state_key, state_key)
        sid = env.data["shipment_id"]
        if state in LEFT and (row is None or sid not in row.fulfillment.counted):
            # The first report that the goods left (delivered or failed count too, when the
            # "shipped" report never came) counts the shipment's units once.
            units = sum(line["quantity"] for line in env.data.get("lines", []))

            def shipped(f: OrderFacts) -> OrderFacts:
                return copied(
                    _moved(f, sid, state),
                    shipped_units=f.shipped_units + units,
                    counted=tuple(sorted({*f.counted, sid})),
                )

            return _fulfilled(row, env, shipped)
        if state_key == "rejected":
            reason = (f"{env.data['source_id']} rejected: {env.data.get('reason', '')}",)
            if row is not None and sid in row.fulfillment.withdrawing:
                # Withdrawn already (cancelled or changed): its lines are not routed again.
                return _fulfilled(row, env, lambda f: _moved(f, sid, state))

            def rejected(f: OrderFacts) -> OrderFacts:
                return copied(_moved(f, sid, state), waiting=True)

            return _fulfilled(row, env, rejected, "rerouting", reason)
        return _fulfilled(row, env, lambda f: _moved(f, sid, state))

    return handle


def _moved(facts: OrderFacts, shipment_id: str, state: str) -> OrderFacts:
    return copied(facts, shipments={**facts.shipments, shipment_id: state})


def _invoiced(row: OrderStatusRow | None, env: EventEnvelope) -> OrderStatusRow | None:
    return _fulfilled(
        row, env, lambda f: copied(f, invoiced=(*f.invoiced, env.data["shipment_id"]))
    )


def _return_received(row: OrderStatusRow | None, env: EventEnvelope) -> OrderStatusRow | None:
    units = sum(int(line["quantity"]) for line in env.data["lines"])

    def returned(f: OrderFacts) -> OrderFacts:
        return copied(f, returned_units=f.returned_units + units)

    return _fulfilled(row, env, returned)


def _cancellation(row: OrderStatusRow | None, env: EventEnvelope) -> OrderStatusRow | None:
    def cancel(f: OrderFacts) -> OrderFacts:
        return f.withdraw(env.data["withdrawn"], waiting=False, cancel_requested=True)

    return _fulfilled(row, env, cancel)


HANDLERS: dict[str, Callable[[OrderStatusRow | None, EventEnvelope], OrderStatusRow | None]] = {
    EventType.ORDER_PLACED: _placed,
    EventType.ORDER_ACCEPTED: _status("accepted"),
    EventType.ORDER_REJECTED: _status("rejected"),
    EventType.ORDER_HELD: _held,
    EventType.ORDER_HOLD_RELEASED: _hold_released,
    EventType.ORDER_ROUTED: _routed,
    EventType.ORDER_FULFILLMENT_REQUESTED: _set_shipment("requested"),
    EventType.ORDER_SHIPMENT_PROGRESSED: _set_shipment("state"),
    EventType.ORDER_SHIPMENT_REJECTED: _set_shipment("rejected"),
    EventType.ORDER_SHIPMENT_CANCELLED: _set_shipment("cancelled"),
    EventType.ORDER_CANCELLATION_REQUESTED: _cancellation,
    EventType.ORDER_INVOICE_ISSUED: _invoiced,
    EventType.ORDER_RETURN_RECEIVED: _return_received,
    EventType.ORDER_CHANGED: _changed,
    EventType.ORDER_REROUTE_REQUESTED: _reroute,
}


def fold(row: OrderStatusRow | None, env: EventEnvelope) -> OrderStatusRow | None:
    """Apply one event; an event at or below the row's version was seen already and is ignored."""
    if row is not None and env.sequence <= row.version:
        return row
    handler = HANDLERS.get(env.type)
    if handler is None:
        return row
    return handler(row, env)
