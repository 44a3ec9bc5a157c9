"""Fulfillment sources and stock: the REST bodies and the stock feed's messages."""

from enum import StrEnum
from typing import Annotated, Literal

from pydantic import AfterValidator, Field, StrictInt

from schemas.regions import EVERYWHERE, REGIONS
from schemas.submission import Contract, DeliveryMethod
from schemas.types import (
    CountryCode,
    CurrencyCode,
    Money,
    PlausibleTime,
    Quantity,
    QuantityChange,
    Sku,
    Slug,
    country_code,
)


def _destination(value: str) -> str:
    code = value.upper()
    if code == EVERYWHERE or code in REGIONS:
        return code
    try:
        return country_code(value)
    except ValueError:
        regions = ", ".join(sorted(REGIONS))
        raise ValueError(
            f"{value!r} is not an ISO 3166-1 alpha-2 country code, "
            f"{EVERYWHERE!r} (everywhere) or a region ({regions})"
        ) from None


Destination = Annotated[
    str,
    Field(
        min_length=1,
        max_length=3,
        description=(
            "An ISO 3166-1 alpha-2 country code, '*' for everywhere, or a region: "
            + ", ".join(
                f"{name} ({len(countries)} countries)" for name, countries in REGIONS.items()
            )
        ),
    ),
    AfterValidator(_destination),
]


class SourceKind(StrEnum):
    WAREHOUSE = "warehouse"
    STORE = "store"
    DROPSHIP = "dropship"


class CostModelSpec(Contract):
    """Shipping cost of one shipment = base + per_unit * units + per_km * distance."""

    base: Money
    per_unit: Money
    per_km: Money
    currency: CurrencyCode


class SourceDefinition(Contract):
    source_id: Slug
    name: str = Field(min_length=1, max_length=200)
    kind: SourceKind
    lat: float = Field(ge=-90, le=90)
    lon: float = Field(ge=-180, le=180)
    country: CountryCode
    ships_to: list[Destination] = Field(min_length=1, max_length=300)
    delivery_methods: list[DeliveryMethod] = Field(min_length=1)
    daily_capacity: Quantity = Field(description="Shipments per day")
    cost: CostModelSpec
    lead_time_days: StrictInt = Field(ge=0, le=365)
    priority: StrictInt = Field(default=0, ge=-1_000_000, le=1_000_000)
    demand_classes: list[Slug] = Field(
        default_factory=list, description="Classes it serves; empty = all"
    )


class SourcePublic(Contract):
    definition: SourceDefinition
    active: bool
    pause_reason: str | None = None
    version: int


class PauseSource(Contract):
    reason: str = Field(min_length=1, max_length=500)


class StockSnapshot(Contract):
    """An absolute count from the source's own system."""

    kind: Literal["snapshot"] = "snapshot"
    source_id: Slug
    sku: Sku
    on_hand: Quantity
    safety_stock: Quantity | None = None
    counted_at: PlausibleTime | None = None


class StockDelta(Contract):
    """A relative change: a receipt (+), damage or shrinkage (-)."""

    kind: Literal["delta"] = "delta"
    source_id: Slug
    sku: Sku
    delta: QuantityChange
    reason: str = Field(min_length=1, max_length=200)


StockMessage = Annotated[StockSnapshot | StockDelta, Field(discriminator="kind")]


class StockLevelPublic(Contract):
    source_id: str
    sku: str
    on_hand: int
    reserved: int
    safety_stock: int
    available: int
    version: int
