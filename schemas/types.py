"""Field types shared by the contracts: money, codes, UTC times, slugs."""

from datetime import UTC, datetime
from decimal import Decimal
from typing import Annotated, Any

import pycountry
from pydantic import (
    AfterValidator,
    AwareDatetime,
    BeforeValidator,
    Field,
    PlainSerializer,
    WithJsonSchema,
)


def _reject_float(value: Any) -> Any:
    # A float has already lost the cents: 0.1 + 0.2 != 0.3. Money must come as a string or an
    # integer so that what the channel meant is what we record.
    if isinstance(value, float):
        raise ValueError('money must be a string or an integer, not a float (e.g. "19.90")')
    if isinstance(value, bool):
        raise ValueError("money must be a string or an integer")
    return value


def _finite(value: Decimal) -> Decimal:
    if not value.is_finite():
        raise ValueError("money must be a finite number")
    return value


# The published schema of money is written here, not derived: pydantic's own rendering of a
# constrained Decimal changes between its releases (2.14 dropped the string pattern) and
# carried non-JSON-Schema keywords. This one says what the validator accepts, slightly
# stricter: a plain decimal string or an integer, never a float.
MONEY_JSON_SCHEMA: dict[str, Any] = {
    "anyOf": [
        {"type": "integer", "minimum": 0, "maximum": 99_999_999_999_999},
        {"type": "string", "pattern": r"^[0-9]{1,14}(\.[0-9]{1,4})?$"},
    ],
    "description": 'A non-negative amount: a decimal string with at most 4 decimals (e.g. "19.90") '
    "or an integer; never a float.",
}

Money = Annotated[
    Decimal,
    BeforeValidator(_reject_float),
    AfterValidator(_finite),
    Field(ge=0, max_digits=18, decimal_places=4),
    PlainSerializer(lambda d: str(d), return_type=str, when_used="json"),
    WithJsonSchema(MONEY_JSON_SCHEMA, mode="validation"),
]


def country_code(value: str) -> str:
    """The upper-case ISO 3166-1 alpha-2 code; ValueError for anything else."""
    code = value.upper()
    if pycountry.countries.get(alpha_2=code) is None:
        raise ValueError(f"{value!r} is not an ISO 3166-1 alpha-2 country code")
    return code


def _currency(value: str) -> str:
    code = value.upper()
    if pycountry.currencies.get(alpha_3=code) is None:
        raise ValueError(f"{value!r} is not an ISO 4217 currency code")
    return code


CountryCode = Annotated[str, Field(min_length=2, max_length=2), AfterValidator(country_code)]
CurrencyCode = Annotated[str, Field(min_length=3, max_length=3), AfterValidator(_currency)]


def _to_utc(value: datetime) -> datetime:
    try:
        return value.astimezone(UTC)
    except OverflowError:  # e.g. 0001-01-01T00:00:00+01:00 has no UTC equivalent
        raise ValueError("the time is out of range once converted to UTC") from None


# AwareDatetime would accept any offset; we keep every time in UTC so that replay and comparison
# never depend on the sender's zone.
UtcDatetime = Annotated[AwareDatetime, AfterValidator(_to_utc)]

Slug = Annotated[str, Field(pattern=r"^[a-z0-9][a-z0-9_.-]{0,63}$")]
ExternalId = Annotated[str, Field(min_length=1, max_length=128, pattern=r"^[^\s].*$")]
