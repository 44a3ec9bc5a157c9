"""Channels and credentials: who may submit orders, in which format, and who may read what."""

from enum import StrEnum

from pydantic import Field, model_validator

from schemas.submission import Address, Contract
from schemas.types import CountryCode, CurrencyCode, Slug, UtcDatetime

FORMATS = ("canonical", "webshop", "marketplace", "assisted", "edi-x12-850", "csv")


class ChannelKind(StrEnum):
    WEB = "web"
    MARKETPLACE = "marketplace"
    POS = "pos"
    CALL_CENTER = "call_center"
    B2B = "b2b"


class ChannelDefinition(Contract):
    channel_id: Slug
    name: str = Field(min_length=1, max_length=200)
    kind: ChannelKind
    format: str = Field(description=f"One of {', '.join(FORMATS)}")
    default_currency: CurrencyCode | None = None
    default_country: CountryCode | None = None
    sku_map: dict[str, str] = Field(
        default_factory=dict, description="The channel's item ids (ASINs, seller SKUs) → our SKUs"
    )
    rate_limit_per_minute: int = Field(default=600, ge=1, le=1_000_000)
    stores: dict[str, Address] = Field(
        default_factory=dict, description="Store addresses by store id (click & collect)"
    )

    @model_validator(mode="after")
    def _known_format(self) -> "ChannelDefinition":
        if self.format not in FORMATS:
            raise ValueError(f"format must be one of {', '.join(FORMATS)}")
        return self


class Role(StrEnum):
    CHANNEL = "channel"
    OPS = "ops"
    AUDITOR = "auditor"
    ADMIN = "admin"
    SOURCE = "source"


class IssueKey(Contract):
    role: Role
    channel_id: Slug | None = None
    source_id: Slug | None = Field(default=None, description="For role source: the source")
    label: str = Field(default="", max_length=200)
    expires_at: UtcDatetime | None = Field(
        default=None,
        description="When the key stops working (time zone required; must be in the future). "
        "Unset: until it is revoked.",
    )

    @model_validator(mode="after")
    def _keys_name_what_they_act_for(self) -> "IssueKey":
        if (self.role is Role.CHANNEL) != (self.channel_id is not None):
            raise ValueError("channel_id is required for role channel, and only for it")
        if (self.role is Role.SOURCE) != (self.source_id is not None):
            raise ValueError("source_id is required for role source, and only for it")
        return self


# A week: long enough to roll a new secret out to every caller, short enough to bound a leak.
MAX_ROTATION_GRACE_SECONDS = 7 * 24 * 3600


class RotateKey(Contract):
    grace_seconds: int = Field(
        default=0,
        ge=0,
        le=MAX_ROTATION_GRACE_SECONDS,
        description="How long the previous secret keeps working; 0 (the default): it stops now",
    )


class KeyIssued(Contract):
    key_id: str
    api_key: str = Field(description="Shown once; only its hash is kept")
    role: Role
    channel_id: str | None
    source_id: str | None = None
    expires_at: UtcDatetime | None = None


class KeyRotated(KeyIssued):
    previous_valid_until: UtcDatetime | None = Field(
        default=None, description="Until when the previous secret still works (unset: no longer)"
    )
