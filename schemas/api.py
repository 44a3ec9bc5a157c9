"""REST bodies that are not channel payloads."""

from typing import Any

from pydantic import BaseModel, ConfigDict, Field


class SubmissionReceipt(BaseModel):
    """Answer to POST /v1/orders."""

    model_config = ConfigDict(frozen=True)

    order_id: str
    outcome: str  # created | duplicate | submitted
    status: str
    digest: str
    reasons: list[str] = []


class OrderPublic(BaseModel):
    """An order as GET /v1/orders/{id} shows it."""

    model_config = ConfigDict(frozen=True)

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
    reasons: list[str] = []


class PolicyRef(BaseModel):
    model_config = ConfigDict(frozen=True)

    id: str | None
    version: int | None


class DecisionPublic(BaseModel):
    """One routing decision of an order, as GET /v1/orders/{id}/decisions lists it."""

    model_config = ConfigDict(frozen=True)

    n: int = Field(description="1-based position among the order's decisions")
    sequence: int = Field(description="The order's event version that recorded it")
    decided_at: str
    trigger: str = Field(
        description="order_accepted | hold_released | shipment_rejected | rerouted_by_person"
        " | order_changed | backorder_wakeup"
    )
    outcome: str = Field(description="routed | split | backordered | unroutable | held")
    policy: PolicyRef
    decision_digest: str
    inputs_digest: str | None = Field(description="None when it was not recorded")
    shipments: int = Field(description="Shipments this decision requested")
    actor: str
    explanation: str | None
    decision: dict[str, Any]


class OrderDecisionsPublic(BaseModel):
    model_config = ConfigDict(frozen=True)

    order_id: str
    decisions: list[DecisionPublic]
