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
    inputs_recorded: bool | None = Field(
        default=None,
        description="Whether the inputs are kept, so that the decision can be re-run "
        "(POST .../decisions/{n}/rerun); false for decisions made before inputs were kept",
    )
    shipments: int = Field(description="Shipments this decision requested")
    actor: str
    explanation: str | None
    decision: dict[str, Any]


class OrderDecisionsPublic(BaseModel):
    model_config = ConfigDict(frozen=True)

    order_id: str
    decisions: list[DecisionPublic]


class DifferencePublic(BaseModel):
    model_config = ConfigDict(frozen=True)

    field: str = Field(description="Dotted path in the decision, e.g. shipments.wh-lyon")
    recorded: Any
    rerun: Any


class RerunPublic(BaseModel):
    """A recorded decision decided again on its recorded inputs with its policy version."""

    model_config = ConfigDict(frozen=True)

    order_id: str
    n: int = Field(description="Which of the order's decisions (1-based)")
    sequence: int = Field(description="The order's event version that recorded it")
    decided_at: str
    trigger: str = Field(description="What prompted the decision (as in .../decisions)")
    outcome: str = Field(description="routed | split | backordered | unroutable | held")
    identical: bool = Field(description="The re-run gave the recorded decision exactly")
    policy: PolicyRef
    inputs_digest: str
    recorded_digest: str = Field(description="Digest of the decision as recorded")
    rerun_digest: str = Field(description="Digest of the decision the re-run made")
    differences: list[DifferencePublic] = Field(
        description="Field by field where the re-run differs; empty when identical"
    )
    milliseconds: float = Field(description="Time to load the inputs and policy and re-decide")
