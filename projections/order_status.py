"""The order status read model: one row per order, answering "where is my order"."""

import json
from collections.abc import Callable, Sequence
from dataclasses import asdict, dataclass, replace
from decimal import Decimal
from typing import Any, Protocol

from aggregates.shipments import CLOSED, ShipmentState, order_status_from
from projections.positions import create_positions_table, read_positions, save_positions
from projections.sqldb import SqlDatabase
from schemas.envelope import EventEnvelope

FOLLOWER = "order_status"


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
    # {"shipments": {id: state}, "waiting": bool, "invoiced": [id, ...]}, as JSON text
    fulfillment: str = "{}"


def _placed(row: OrderStatusRow | None, env: EventEnvelope) -> OrderStatusRow:
    sub = env.data["submission"]
    total = sum(
        (Decimal(line["unit_price"]) * line["quantity"] for line in sub["lines"]), Decimal(0)
    )
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
        placed_at=sub["placed_at"],
        received_at=env.data["received_at"],
        updated_at=env.time.isoformat(),
        version=env.sequence,
        digest=env.data["digest"],
    )


def _status(status: str) -> Callable[[OrderStatusRow | None, EventEnvelope], OrderStatusRow | None]:
    def handle(row: OrderStatusRow | None, env: EventEnvelope) -> OrderStatusRow | None:
        if row is None:  # history starts before this view's retention; nothing to update
            return None
        reasons = tuple(env.data.get("reasons", row.reasons))
        return replace(
            row,
            status=status,
            updated_at=env.time.isoformat(),
            version=env.sequence,
            reasons=reasons,
        )

    return handle


def _routed(row: OrderStatusRow | None, env: EventEnvelope) -> OrderStatusRow | None:
    waiting_lines = env.data.get("waiting_lines") or []
    waiting = tuple(f"{w['line_id']}: waiting for {w['sku']}" for w in waiting_lines)
    facts = json.loads(row.fulfillment) if row is not None else {}
    withdrawing = set(facts.get("withdrawing", []))
    has_shipments = row is not None and any(
        ShipmentState(state) not in CLOSED and sid not in withdrawing
        for sid, state in _shipment_states(row).items()
    )
    reason = env.data.get("unroutable_reason")
    if reason:
        # Lines no source can take are an exception, even when other lines ship.
        return _fulfilled(
            row,
            env,
            lambda f: f.update(waiting=bool(waiting), unroutable=reason),
            "unroutable",
            (reason,),
        )
    status = None if has_shipments else ("backordered" if waiting else "routed")
    return _fulfilled(
        row, env, lambda f: f.update(waiting=bool(waiting), unroutable=None), status, waiting
    )


def _held(row: OrderStatusRow | None, env: EventEnvelope) -> OrderStatusRow | None:
    return _with(row, env, "held", (f"{env.data['rule']}: {env.data['reason']}",))


def _shipment_states(row: OrderStatusRow) -> dict[str, str]:
    shipments: dict[str, str] = json.loads(row.fulfillment).get("shipments", {})
    return shipments


def _fulfilled(
    row: OrderStatusRow | None,
    env: EventEnvelope,
    change: Callable[[dict[str, Any]], object],
    status: str | None = None,
    reasons: tuple[str, ...] = (),
) -> OrderStatusRow | None:
    """Change the row's fulfillment facts, then derive the status the way the aggregate does."""
    if row is None:
        return None
    facts: dict[str, Any] = {"shipments": {}, "waiting": False, "invoiced": []}
    facts.update(json.loads(row.fulfillment))
    change(facts)
    if status is None:
        status = _derived(facts)
        if facts.get("returned_units"):
            full = facts["returned_units"] >= facts.get("shipped_units", 0)
            status = "returned" if full else "partially_returned"
    return replace(
        row,
        status=status,
        updated_at=env.time.isoformat(),
        version=env.sequence,
        reasons=reasons,
        fulfillment=json.dumps(facts, sort_keys=True),
    )


def _derived(facts: dict[str, Any]) -> str:
    """The order's status exactly as the aggregate derives it."""
    if facts.get("unroutable") and not facts.get("cancel_requested"):
        return "unroutable"
    return order_status_from(
        {sid: ShipmentState(s) for sid, s in facts["shipments"].items()},
        set(facts.get("withdrawing", [])),
        facts["waiting"],
        set(facts["invoiced"]),
    )


def _changed(row: OrderStatusRow | None, env: EventEnvelope) -> OrderStatusRow | None:
    if row is None:
        return None
    sub = env.data["submission"]
    total = sum(
        (Decimal(line["unit_price"]) * line["quantity"] for line in sub["lines"]), Decimal(0)
    )

    def change(f: dict[str, Any]) -> None:
        f["withdrawing"] = sorted({*f.get("withdrawing", []), *env.data["withdrawn"]})
        f["waiting"] = True

    changed = _fulfilled(row, env, change, "rerouting", (f"revision {env.data['revision']}",))
    assert changed is not None
    return replace(
        changed, total=str(total), line_count=len(sub["lines"]), digest=env.data["digest"]
    )


def _set_shipment(state_key: str) -> Callable[[OrderStatusRow | None, EventEnvelope], Any]:
    def handle(row: OrderStatusRow | None, env: EventEnvelope) -> OrderStatusRow | None:
        state = env.data.get(state_key, state_key)
        sid = env.data["shipment_id"]
        if state == "shipped":
            units = sum(line["quantity"] for line in env.data.get("lines", []))

            def shipped(f: dict[str, Any]) -> None:
                f["shipments"][sid] = state
                f["shipped_units"] = f.get("shipped_units", 0) + units

            return _fulfilled(row, env, shipped)
        if state_key == "rejected":
            reason = (f"{env.data['source_id']} rejected: {env.data.get('reason', '')}",)
            facts = json.loads(row.fulfillment) if row is not None else {}
            if sid in facts.get("withdrawing", []):
                # Withdrawn already (cancelled or changed): its lines are not routed again.
                return _fulfilled(row, env, lambda f: f["shipments"].__setitem__(sid, state))

            def rejected(f: dict[str, Any]) -> None:
                f["shipments"][sid] = state
                f["waiting"] = True

            return _fulfilled(row, env, rejected, "rerouting", reason)
        return _fulfilled(row, env, lambda f: f["shipments"].__setitem__(sid, state))

    return handle


def _invoiced(row: OrderStatusRow | None, env: EventEnvelope) -> OrderStatusRow | None:
    return _fulfilled(row, env, lambda f: f["invoiced"].append(env.data["shipment_id"]))


def _return_received(row: OrderStatusRow | None, env: EventEnvelope) -> OrderStatusRow | None:
    units = sum(int(line["quantity"]) for line in env.data["lines"])

    def returned(f: dict[str, Any]) -> None:
        f["returned_units"] = f.get("returned_units", 0) + units

    return _fulfilled(row, env, returned)


def _cancellation(row: OrderStatusRow | None, env: EventEnvelope) -> OrderStatusRow | None:
    def cancel(f: dict[str, Any]) -> None:
        f["withdrawing"] = sorted({*f.get("withdrawing", []), *env.data["withdrawn"]})
        f["waiting"] = False
        f["cancel_requested"] = True

    return _fulfilled(row, env, cancel)


def _with(
    row: OrderStatusRow | None, env: EventEnvelope, status: str, reasons: tuple[str, ...]
) -> OrderStatusRow | None:
    if row is None:
        return None
    return replace(
        row, status=status, updated_at=env.time.isoformat(), version=env.sequence, reasons=reasons
    )


HANDLERS: dict[str, Callable[[OrderStatusRow | None, EventEnvelope], OrderStatusRow | None]] = {
    "orderhub.order.placed": _placed,
    "orderhub.order.accepted": _status("accepted"),
    "orderhub.order.rejected": _status("rejected"),
    "orderhub.order.held": _held,
    "orderhub.order.hold_released": lambda row, env: _with(row, env, "accepted", ()),
    "orderhub.order.routed": _routed,
    "orderhub.order.fulfillment_requested": _set_shipment("requested"),
    "orderhub.order.shipment_progressed": _set_shipment("state"),
    "orderhub.order.shipment_rejected": _set_shipment("rejected"),
    "orderhub.order.shipment_cancelled": _set_shipment("cancelled"),
    "orderhub.order.cancellation_requested": _cancellation,
    "orderhub.order.invoice_issued": _invoiced,
    "orderhub.order.return_received": _return_received,
    "orderhub.order.changed": _changed,
}


def fold(row: OrderStatusRow | None, env: EventEnvelope) -> OrderStatusRow | None:
    """Apply one event; an event at or below the row's version was seen already and is ignored."""
    if row is not None and env.sequence <= row.version:
        return row
    handler = HANDLERS.get(env.type)
    if handler is None:
        return row
    return handler(row, env)


class OrderStatusView(Protocol):
    def apply(self, envelopes: Sequence[EventEnvelope], positions: dict[str, int]) -> None:
        """Apply a batch and record the positions it reached, atomically."""

    def get(self, order_id: str) -> OrderStatusRow | None: ...

    def positions(self) -> dict[str, int]: ...


class InMemoryOrderStatusView:
    def __init__(self) -> None:
        self._rows: dict[str, OrderStatusRow] = {}
        self._positions: dict[str, int] = {}

    def apply(self, envelopes: Sequence[EventEnvelope], positions: dict[str, int]) -> None:
        rows = dict(self._rows)
        for env in envelopes:
            new = fold(rows.get(env.subject), env)
            if new is not None:
                rows[env.subject] = new
        self._rows = rows
        for stream, position in positions.items():
            self._positions[stream] = max(position, self._positions.get(stream, -1))

    def get(self, order_id: str) -> OrderStatusRow | None:
        return self._rows.get(order_id)

    def positions(self) -> dict[str, int]:
        return dict(self._positions)


_COLUMNS = [f for f in OrderStatusRow.__dataclass_fields__]
_DDL = """
CREATE TABLE IF NOT EXISTS order_status (
    order_id TEXT PRIMARY KEY,
    channel TEXT NOT NULL,
    external_id TEXT NOT NULL,
    status TEXT NOT NULL,
    customer_id TEXT NOT NULL,
    demand_class TEXT NOT NULL,
    country TEXT NOT NULL,
    currency TEXT NOT NULL,
    total TEXT NOT NULL,
    line_count INTEGER NOT NULL,
    placed_at TEXT NOT NULL,
    received_at TEXT NOT NULL,
    updated_at TEXT NOT NULL,
    version INTEGER NOT NULL,
    digest TEXT NOT NULL,
    reasons TEXT NOT NULL,
    fulfillment TEXT NOT NULL DEFAULT '{}'
)"""


class SqlOrderStatusView:
    """SQLite or PostgreSQL; rows and positions are written in one transaction per batch."""

    def __init__(self, db: SqlDatabase) -> None:
        self._db = db
        with db.schema_transaction() as cur:
            cur.execute(_DDL)
            cur.execute("CREATE INDEX IF NOT EXISTS order_status_status ON order_status (status)")
            create_positions_table(cur)

    def apply(self, envelopes: Sequence[EventEnvelope], positions: dict[str, int]) -> None:
        ids = sorted({env.subject for env in envelopes})
        with self._db.transaction() as cur:
            rows = self._load(cur, ids)
            changed: dict[str, OrderStatusRow] = {}
            for env in envelopes:
                new = fold(rows.get(env.subject), env)
                if new is not None and new is not rows.get(env.subject):
                    rows[env.subject] = changed[env.subject] = new
            if changed:
                placeholders = ", ".join("?" for _ in _COLUMNS)
                updates = ", ".join(f"{c} = excluded.{c}" for c in _COLUMNS if c != "order_id")
                cur.executemany(
                    f"INSERT INTO order_status ({', '.join(_COLUMNS)}) VALUES ({placeholders}) "
                    f"ON CONFLICT (order_id) DO UPDATE SET {updates} "
                    "WHERE excluded.version > order_status.version",
                    [_to_params(row) for row in changed.values()],
                )
            save_positions(cur, FOLLOWER, positions)

    def get(self, order_id: str) -> OrderStatusRow | None:
        with self._db.transaction() as cur:
            return self._load(cur, [order_id]).get(order_id)

    def positions(self) -> dict[str, int]:
        with self._db.transaction() as cur:
            return read_positions(cur, FOLLOWER)

    def _load(self, cur: object, ids: Sequence[str]) -> dict[str, OrderStatusRow]:
        if not ids:
            return {}
        placeholders = ", ".join("?" for _ in ids)
        cur.execute(  # type: ignore[attr-defined]
            f"SELECT {', '.join(_COLUMNS)} FROM order_status WHERE order_id IN ({placeholders})",
            list(ids),
        )
        return {r[0]: _from_record(r) for r in cur.fetchall()}  # type: ignore[attr-defined]


def _to_params(row: OrderStatusRow) -> list[object]:
    values = asdict(row)
    values["reasons"] = json.dumps(list(row.reasons))
    return [values[c] for c in _COLUMNS]


def _from_record(record: Sequence[object]) -> OrderStatusRow:
    values = dict(zip(_COLUMNS, record, strict=True))
    values["reasons"] = tuple(json.loads(str(values["reasons"])))
    values["line_count"] = int(str(values["line_count"]))
    values["version"] = int(str(values["version"]))
    return OrderStatusRow(**values)  # type: ignore[arg-type]
