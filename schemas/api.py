"""REST bodies that are not channel payloads."""

from pydantic import BaseModel, ConfigDict


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
