"""What an adapter is given and what it gives back: the channel's context, Mapped or Refused."""

from collections.abc import Mapping
from dataclasses import dataclass, field
from datetime import datetime
from enum import StrEnum
from types import MappingProxyType

from schemas.channels import ChannelDefinition
from schemas.problems import FieldProblem
from schemas.submission import Address, OrderSubmission

_NO_STORES: Mapping[str, Address] = MappingProxyType({})


def _no_skus() -> Mapping[str, str]:
    return MappingProxyType({})


def _no_stores() -> Mapping[str, Address]:
    return _NO_STORES


@dataclass(frozen=True)
class ChannelContext:
    """Everything an adapter knows besides the payload; adapters never read the clock."""

    channel_id: str
    received_at: datetime
    default_currency: str | None = None
    default_country: str | None = None
    # The channel's item ids (ASINs, seller SKUs, buyer part numbers) → our SKUs.
    sku_map: Mapping[str, str] = field(default_factory=_no_skus)
    # The signed-in POS or call-center operator, for assisted entry.
    operator: str | None = None
    # Store addresses by store id, for click & collect (assisted entry).
    stores: Mapping[str, Address] = field(default_factory=_no_stores)

    def __post_init__(self) -> None:
        if self.received_at.tzinfo is None or self.received_at.utcoffset() is None:
            raise ValueError("received_at must be timezone-aware")

    @classmethod
    def for_channel(
        cls,
        definition: ChannelDefinition,
        received_at: datetime,
        *,
        operator: str | None = None,
        stores: Mapping[str, Address] = _NO_STORES,
    ) -> "ChannelContext":
        """The context for a registered channel."""
        return cls(
            channel_id=definition.channel_id,
            received_at=received_at,
            default_currency=definition.default_currency,
            default_country=definition.default_country,
            sku_map=MappingProxyType(dict(definition.sku_map)),
            operator=operator,
            stores=stores,
        )

    @property
    def channel_actor(self) -> str:
        return f"channel:{self.channel_id}"


@dataclass(frozen=True)
class Mapped:
    """One order of the payload, in canonical form, with its own raw text."""

    submission: OrderSubmission
    raw: str
    index: int
    actor: str


@dataclass(frozen=True)
class Refused:
    """One order of the payload that cannot be taken, each problem named in the sender's terms."""

    problems: list[FieldProblem]
    raw: str
    index: int
    external_id: str | None


AdapterResult = Mapped | Refused


class UnparseablePayload(Exception):
    """The bytes are not the format at all (not JSON, not X12, not CSV): a case for the DLQ."""

    def __init__(self, message: str) -> None:
        super().__init__(message)
        self.message = message


class ProblemCode(StrEnum):
    """Machine-readable codes of the problems adapters find themselves (the schema adds its own)."""

    MISSING = "missing"
    WRONG_TYPE = "wrong_type"
    FLOAT_MONEY = "float_money"
    BAD_MONEY = "bad_money"
    NOT_WHOLE_NUMBER = "not_whole_number"
    BAD_TIMESTAMP = "bad_timestamp"
    UNKNOWN_SKU = "unknown_sku"
    UNKNOWN_VALUE = "unknown_value"
    UNSUPPORTED = "unsupported"
    CONFLICTING_VALUE = "conflicting_value"
    DUPLICATE = "duplicate"
    NOT_OURS_TO_FULFIL = "not_ours_to_fulfil"
    COUNT_MISMATCH = "count_mismatch"
    CONTROL_NUMBER_MISMATCH = "control_number_mismatch"
    MALFORMED = "malformed"
    CHANNEL_MISMATCH = "channel_mismatch"
    OPERATOR_MISMATCH = "operator_mismatch"
