"""Small factories for readable test data: a valid submission, its command, its events."""

import copy
import json
from collections.abc import Callable, Sequence
from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import Any, Literal

from aggregates.contract import to_envelope
from aggregates.order import Order
from hub.services.intake import INTAKE_ACTOR, SubmitOrder, submission_digest
from hub.store import OrderStore
from schemas.decision_record import DecisionRecord
from schemas.envelope import EventEnvelope
from schemas.sources import SourceDefinition
from schemas.submission import OrderSubmission

# The hub's clock in tests: one hour after the default order was placed.
NOW = datetime(2026, 11, 20, 9, 0, tzinfo=UTC)
PLACED_AT = "2026-11-20T08:00:00Z"

_SUBMISSION: dict[str, Any] = {
    "channel": "web-shop",
    "external_id": "WEB-1001",
    "placed_at": PLACED_AT,
    "customer": {"id": "CUST-ADA", "name": "Ada Lovelace", "email": "ada@example.org"},
    "ship_to": {
        "name": "Ada Lovelace",
        "line1": "3 place Bellecour",
        "city": "Lyon",
        "postal_code": "69002",
        "country": "FR",
    },
    "lines": [
        {"line_id": "1", "sku": "RED-CHAIR", "quantity": 2, "unit_price": "19.90"},
        {"line_id": "2", "sku": "BLUE-LAMP", "quantity": 1, "unit_price": "5.00"},
    ],
    "currency": "EUR",
}
# 2 x 19.90 + 1 x 5.00
DEFAULT_TOTAL = "44.80"


def submission_dict(**overrides: Any) -> dict[str, Any]:
    """A valid submission as a channel would send it; top-level keys replaced by overrides."""
    data = copy.deepcopy(_SUBMISSION)
    data.update(copy.deepcopy(overrides))
    return data


def submission(**overrides: Any) -> OrderSubmission:
    return OrderSubmission.model_validate(submission_dict(**overrides))


def submit_order(
    payload: dict[str, Any] | None = None,
    *,
    raw_payload: str | None = None,
    actor: str | None = None,
    correlation_id: str = "corr-web-1001",
    **overrides: Any,
) -> SubmitOrder:
    """The intake command for a submission dict (the default one, with overrides)."""
    data = payload if payload is not None else submission_dict(**overrides)
    parsed = OrderSubmission.model_validate(data)
    return SubmitOrder(
        submission=parsed,
        raw_payload=raw_payload if raw_payload is not None else json.dumps(data),
        actor=actor or f"channel:{parsed.channel}",
        correlation_id=correlation_id,
    )


def source_body(source_id: str, **changes: Any) -> dict[str, Any]:
    """A warehouse near Lyon shipping to France (standard delivery, 100 a day, next day), as
    the API takes it."""
    return {
        "source_id": source_id,
        "name": source_id,
        "kind": "warehouse",
        "lat": 45.75,
        "lon": 4.85,
        "country": "FR",
        "ships_to": ["FR"],
        "delivery_methods": ["standard"],
        "daily_capacity": 100,
        "cost": {"base": "4.50", "per_unit": "0.50", "per_km": "0.01", "currency": "EUR"},
        "lead_time_days": 1,
        **changes,
    }


def source_definition(source_id: str, **changes: Any) -> SourceDefinition:
    return SourceDefinition.model_validate(source_body(source_id, **changes))


def recorded_decision(**fields: Any) -> DecisionRecord:
    """A routing decision as recorded: policy default v1, nothing shipped; `fields` replace."""
    base = {
        "order_id": "o",
        "policy": {"id": "default", "version": 1},
        "decided_at": NOW.isoformat(),
        "shipments": {},
    }
    return DecisionRecord.from_plain(base | fields)


def fixed_clock(at: datetime = NOW) -> Callable[[], datetime]:
    return lambda: at


def in_the_future(now: datetime = NOW, by: timedelta = timedelta(days=1)) -> str:
    """A placed_at far enough ahead of `now` that intake must reject it."""
    return (now + by).isoformat().replace("+00:00", "Z")


def popo_store() -> OrderStore:
    return OrderStore(env={"PERSISTENCE_MODULE": "eventsourcing.popo"})


def sqlite_store(path: Path) -> OrderStore:
    return OrderStore(
        env={"PERSISTENCE_MODULE": "eventsourcing.sqlite", "SQLITE_DBNAME": str(path)}
    )


Decision = Literal["placed", "accepted", "rejected"]


def placed_order(external_id: str = "WEB-1001", now: datetime = NOW, **overrides: Any) -> Order:
    """A freshly placed Order aggregate (intake decision not taken yet)."""
    command = submit_order(external_id=external_id, **overrides)
    sub = command.submission
    return Order(
        channel=sub.channel,
        external_id=sub.external_id,
        submission=sub,
        digest=submission_digest(sub),
        raw_payload=command.raw_payload,
        actor=command.actor,
        correlation_id=command.correlation_id,
        received_at=now,
    )


def order_envelopes(
    external_id: str = "WEB-1001",
    decision: Decision = "accepted",
    reasons: tuple[str, ...] = ("placed_at: too far in the future",),
    now: datetime = NOW,
    **overrides: Any,
) -> list[EventEnvelope]:
    """One order's history as public envelopes: Placed, then Accepted or Rejected."""
    order = placed_order(external_id, now, **overrides)
    if decision == "accepted":
        order.accept(actor=INTAKE_ACTOR, now=now + timedelta(seconds=1))
    elif decision == "rejected":
        order.reject(list(reasons), actor=INTAKE_ACTOR, now=now + timedelta(seconds=1))
    return [to_envelope(e) for e in order.collect_events()]


def named_cases(rows: Sequence[Any]) -> dict[str, Any]:
    """parametrize() keywords for a table whose first column names the case: it becomes the id.

    Use as ``@pytest.mark.parametrize(("case", "x", "y"), **named_cases([...]))``; rows may be
    plain tuples or ``pytest.param(...)`` (e.g. with an xfail mark).
    """
    ids = [str(getattr(row, "values", row)[0]) for row in rows]
    return {"argvalues": list(rows), "ids": ids}
