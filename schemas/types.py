"""Field types shared by the contracts: money, codes, UTC times, slugs."""

import re
import unicodedata
from datetime import UTC, date, datetime
from decimal import Decimal
from typing import Annotated, Any

import pycountry
from pydantic import (
    AfterValidator,
    AwareDatetime,
    BeforeValidator,
    Field,
    GetCoreSchemaHandler,
    StrictInt,
    WithJsonSchema,
)
from pydantic_core import PydanticCustomError, core_schema


def _reject_float(value: Any) -> Any:
    # A float has already lost the cents: 0.1 + 0.2 != 0.3. Money must come as a string or an
    # integer so that what the channel meant is what we record.
    if isinstance(value, float):
        raise ValueError('money must be a string or an integer, not a float (e.g. "19.90")')
    if isinstance(value, bool):
        raise ValueError("money must be a string or an integer")
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


class _MoneyChecks:
    """The checks of an amount, in pydantic-core: non-negative, then at most 18 digits of which
    4 decimals. Two decimal steps, because one step checks the digits before the sign, and a
    negative over-precise amount was refused as negative. Written as `Field` constraints after
    a validator (as they were), pydantic checks them in Python: 40 % of a submission's
    validation. pydantic-core refuses NaN and infinities (`finite_number`) before either check
    and writes a Decimal in JSON as `str()` does (tests/unit/test_schema_types_table.py)."""

    def __get_pydantic_core_schema__(
        self, source: Any, handler: GetCoreSchemaHandler
    ) -> core_schema.CoreSchema:
        return core_schema.chain_schema(
            [
                core_schema.decimal_schema(ge=Decimal(0)),
                core_schema.decimal_schema(max_digits=18, decimal_places=4),
            ]
        )


Money = Annotated[
    Decimal,
    _MoneyChecks(),
    BeforeValidator(_reject_float),
    WithJsonSchema(MONEY_JSON_SCHEMA, mode="validation"),
    # What pydantic rendered for the serializer this replaced (its `decimal_places` included),
    # so that the OpenAPI document's answers read as before.
    WithJsonSchema({"decimal_places": 4, "type": "string"}, mode="serialization"),
]


# The codes as pycountry's `get(alpha_2=...)` finds them (it lower-cases both sides), read once:
# its `get` costs a function call, a lock check and a dict walk for every address and order.
_COUNTRIES = frozenset(country.alpha_2.lower() for country in pycountry.countries)
_CURRENCIES = frozenset(currency.alpha_3.lower() for currency in pycountry.currencies)


def country_code(value: str) -> str:
    """The upper-case ISO 3166-1 alpha-2 code; ValueError for anything else."""
    code = value.upper()
    if code.lower() not in _COUNTRIES:
        raise ValueError(f"{value!r} is not an ISO 3166-1 alpha-2 country code")
    return code


def _currency(value: str) -> str:
    code = value.upper()
    if code.lower() not in _CURRENCIES:
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

# Times a sender gives us (placed_at, promised_by, a source's `at`…) outside these years are
# typos or sentinels (0001-01-01, 9999-12-31): refused at the edge, so date arithmetic in the
# views never leaves the calendar. (An order placed more than a few minutes ahead of the hub's
# clock is a business rule: it is recorded, as rejected.)
EARLIEST_TIME = datetime(2000, 1, 1, tzinfo=UTC)
LATEST_TIME = datetime(2100, 1, 1, tzinfo=UTC)


def _plausible(value: datetime) -> datetime:
    if not EARLIEST_TIME <= value < LATEST_TIME:
        raise PydanticCustomError(
            "implausible_time",
            "the time must be in the years {earliest} to {latest}",
            {"earliest": EARLIEST_TIME.year, "latest": LATEST_TIME.year - 1},
        )
    return value


def _plausible_utc(value: datetime) -> datetime:
    # UtcDatetime's conversion then the years, in one call of a Python validator, not two.
    return _plausible(_to_utc(value))


PlausibleTime = Annotated[AwareDatetime, AfterValidator(_plausible_utc)]


def _iso_date(value: Any) -> Any:
    # pydantic would also read "0" as a Unix time (1970-01-01): a date is written YYYY-MM-DD.
    if isinstance(value, str) and not _ISO_DATE.fullmatch(value):
        raise PydanticCustomError("date_format", "a date is written YYYY-MM-DD")
    return value


def _plausible_day(value: date) -> date:
    _plausible(datetime(value.year, value.month, value.day, tzinfo=UTC))
    return value


_ISO_DATE = re.compile(r"\d{4}-\d{2}-\d{2}")
PlausibleDate = Annotated[date, BeforeValidator(_iso_date), AfterValidator(_plausible_day)]

# Counts of units (stock, order lines, capacities) stay far inside a 64-bit integer, which is
# what the read models store them in; nobody holds a billion of one SKU in one place.
MAX_QUANTITY = 1_000_000_000
Quantity = Annotated[StrictInt, Field(ge=0, le=MAX_QUANTITY)]
QuantityChange = Annotated[StrictInt, Field(ge=-MAX_QUANTITY, le=MAX_QUANTITY)]

SLUG_PATTERN = r"^[a-z0-9][a-z0-9_.-]{0,63}$"
SKU_PATTERN = r"^[A-Za-z0-9][A-Za-z0-9_.:/-]*$"
Slug = Annotated[str, Field(pattern=SLUG_PATTERN)]
Sku = Annotated[str, Field(min_length=1, max_length=64, pattern=SKU_PATTERN)]

# Characters that have no place in an identifier: controls (NUL…), and the invisible format
# characters, bidirectional overrides among them (U+202E turns "exe.txt" into "txt.exe" on
# screen), which make two ids look alike or one look like another.
_HIDDEN_CATEGORIES = frozenset({"Cc", "Cf", "Cs", "Co", "Cn", "Zl", "Zp"})


def _visible(value: str) -> str:
    # A printable string (`str.isprintable`: no character of the categories Other or Separator
    # but the space, by the same Unicode database as `unicodedata`) holds no hidden character:
    # one C call for the usual identifier, the walk only to say where the hidden one is.
    if value.isprintable():
        return value
    for position, char in enumerate(value):
        if unicodedata.category(char) in _HIDDEN_CATEGORIES:
            raise PydanticCustomError(
                "invisible_character",
                "character {code} at position {position} is a control or invisible formatting"
                " character, not allowed in an identifier",
                {"code": f"U+{ord(char):04X}", "position": position},
            )
    return value


ExternalId = Annotated[
    str, Field(min_length=1, max_length=128, pattern=r"^[^\s].*$"), AfterValidator(_visible)
]
LineId = Annotated[str, Field(min_length=1, max_length=64), AfterValidator(_visible)]
