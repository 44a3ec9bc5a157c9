"""The canonical order submission every channel adapter maps to."""

from enum import StrEnum

from pydantic import BaseModel, ConfigDict, Field, StrictInt, model_validator

from schemas.types import (
    CountryCode,
    CurrencyCode,
    ExternalId,
    LineId,
    Money,
    PlausibleTime,
    Sku,
    Slug,
)


class DeliveryMethod(StrEnum):
    STANDARD = "standard"
    EXPRESS = "express"
    SAME_DAY = "same_day"
    CLICK_AND_COLLECT = "click_and_collect"


class PaymentState(StrEnum):
    PENDING = "pending"
    AUTHORIZED = "authorized"
    CAPTURED = "captured"
    NOT_REQUIRED = "not_required"


class Contract(BaseModel):
    """Base for contracts: unknown fields are errors, values are immutable."""

    model_config = ConfigDict(extra="forbid", frozen=True, str_strip_whitespace=True)


class Customer(Contract):
    id: ExternalId
    name: str | None = Field(default=None, max_length=200)
    email: str | None = Field(default=None, max_length=254, pattern=r"^[^@\s]+@[^@\s]+$")
    demand_class: Slug = "standard"


class Address(Contract):
    name: str = Field(min_length=1, max_length=200)
    line1: str = Field(min_length=1, max_length=200)
    line2: str | None = Field(default=None, max_length=200)
    city: str = Field(min_length=1, max_length=100)
    postal_code: str = Field(min_length=1, max_length=20)
    region: str | None = Field(default=None, max_length=100)
    country: CountryCode
    lat: float | None = Field(default=None, ge=-90, le=90)
    lon: float | None = Field(default=None, ge=-180, le=180)


class OrderLine(Contract):
    line_id: LineId
    sku: Sku
    # StrictInt: "3" and 3.0 are rejected, a quantity is counted, never parsed or rounded.
    quantity: StrictInt = Field(gt=0, le=100_000)
    unit_price: Money


class OrderSubmission(Contract):
    """One order as a channel submitted it, in canonical form."""

    channel: Slug
    external_id: ExternalId
    placed_at: PlausibleTime
    customer: Customer
    ship_to: Address
    lines: list[OrderLine] = Field(min_length=1, max_length=500)
    currency: CurrencyCode
    delivery_method: DeliveryMethod = DeliveryMethod.STANDARD
    promised_by: PlausibleTime | None = None
    payment_state: PaymentState = PaymentState.PENDING

    @model_validator(mode="after")
    def _check_consistency(self) -> "OrderSubmission":
        line_ids = [line.line_id for line in self.lines]
        if len(set(line_ids)) != len(line_ids):  # counted only when some are repeated
            duplicates = sorted({i for i in line_ids if line_ids.count(i) > 1})
            raise ValueError(f"line_id must be unique within an order; repeated: {duplicates}")
        if self.promised_by is not None and self.promised_by <= self.placed_at:
            raise ValueError("promised_by must be after placed_at")
        return self

    @property
    def order_key(self) -> str:
        """The idempotency key: one order per channel and external id."""
        return f"{self.channel}:{self.external_id}"


__all__ = [
    "Address",
    "Customer",
    "DeliveryMethod",
    "OrderLine",
    "OrderSubmission",
    "PaymentState",
]
