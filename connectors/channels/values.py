"""Reading single values from text the way every adapter must: money, counts, times, codes."""

import re
from datetime import UTC, date, datetime, time
from decimal import ROUND_HALF_UP, Decimal

from connectors.channels.results import ProblemCode


class InvalidValue(ValueError):
    """A value that cannot be read; the message is written for the sender."""

    def __init__(self, message: str, code: ProblemCode) -> None:
        super().__init__(message)
        self.message = message
        self.code = code


# Plain decimal notation with ASCII digits only (int() and Decimal() would take any script's
# digits): no exponents, no thousands separators, no NaN/Infinity. The bounds
# keep every sum and product the adapters compute exact in Decimal's default 28-digit context.
_MONEY_TEXT = re.compile(r"[+-]?[0-9]{1,15}(\.[0-9]{1,6})?")
_MONEY_LIMIT = 10**15
_WHOLE_TEXT = re.compile(r"\+?[0-9]{1,9}")

# ISO 4217 minor units that are not 2 (most currencies use cents). Kept here rather than
# fetched because pycountry does not carry exponents.
_MINOR_UNITS = {
    **dict.fromkeys(
        ("BIF", "CLP", "DJF", "GNF", "ISK", "JPY", "KMF", "KRW", "PYG", "RWF", "UGX", "UYI",
         "VND", "VUV", "XAF", "XOF", "XPF"),
        0,
    ),
    **dict.fromkeys(("BHD", "IQD", "JOD", "KWD", "LYD", "OMR", "TND"), 3),
    "CLF": 4,
    "UYW": 4,
}  # fmt: skip


def money_from_text(text: str, *, decimal_comma: bool = False) -> Decimal:
    """ "19.90" → Decimal("19.90"); sign kept so the schema can say "must be ≥ 0"."""
    candidate = text.strip()
    if decimal_comma and candidate.count(",") == 1 and "." not in candidate:
        candidate = candidate.replace(",", ".")
    if not _MONEY_TEXT.fullmatch(candidate):
        raise InvalidValue(
            f'must be a decimal amount such as "19.90" (got {_shorten(text)!r})',
            ProblemCode.BAD_MONEY,
        )
    amount = Decimal(candidate)
    return abs(amount) if amount.is_zero() else amount  # "-0.00" is nothing owed either way


def money_from_integer(value: int) -> Decimal:
    if abs(value) >= _MONEY_LIMIT:
        raise InvalidValue("amount is out of range", ProblemCode.BAD_MONEY)
    return Decimal(value)


def whole_number_from_text(text: str) -> int:
    """ "3" → 3; "2.5", "0", "-1", "three" are refused: a quantity is counted, never rounded."""
    candidate = text.strip()
    if not _WHOLE_TEXT.fullmatch(candidate) or int(candidate) <= 0:
        raise InvalidValue(
            f"must be a whole number > 0 (got {_shorten(text)!r})", ProblemCode.NOT_WHOLE_NUMBER
        )
    return int(candidate)


def timestamp_from_text(text: str) -> datetime:
    """An ISO 8601 time with its offset, as UTC; a time without offset is ambiguous and refused."""
    candidate = text.strip()
    if len(candidate) > 40:
        raise InvalidValue("is not an ISO 8601 timestamp", ProblemCode.BAD_TIMESTAMP)
    try:
        parsed = datetime.fromisoformat(candidate)
    except ValueError:
        raise InvalidValue(
            f"must be an ISO 8601 timestamp with offset, e.g. 2024-03-05T10:15:00+01:00 "
            f"(got {_shorten(text)!r})",
            ProblemCode.BAD_TIMESTAMP,
        ) from None
    if parsed.tzinfo is None or parsed.utcoffset() is None:
        example = candidate if "T" in candidate or " " in candidate else f"{candidate}T10:15:00"
        raise InvalidValue(
            f"needs a time with its UTC offset, e.g. {example}Z or {example}+01:00",
            ProblemCode.BAD_TIMESTAMP,
        )
    return as_utc(parsed)


def as_utc(moment: datetime) -> datetime:
    try:
        return moment.astimezone(UTC)
    except OverflowError:
        raise InvalidValue(
            "is out of the supported date range", ProblemCode.BAD_TIMESTAMP
        ) from None


def date_from_ccyymmdd(text: str) -> date:
    """X12 dates: CCYYMMDD."""
    candidate = text.strip()
    if not re.fullmatch(r"[0-9]{8}", candidate):
        raise InvalidValue(
            f"must be a date CCYYMMDD (got {_shorten(text)!r})", ProblemCode.BAD_TIMESTAMP
        )
    try:
        return date(int(candidate[:4]), int(candidate[4:6]), int(candidate[6:]))
    except ValueError:
        raise InvalidValue(
            f"{candidate} is not a calendar date", ProblemCode.BAD_TIMESTAMP
        ) from None


def start_of_day_utc(day: date) -> datetime:
    return datetime.combine(day, time(0, 0), tzinfo=UTC)


def end_of_day_utc(day: date) -> datetime:
    """The last second of a day: a "deliver by" date is met until that day ends."""
    return datetime.combine(day, time(23, 59, 59), tzinfo=UTC)


def minor_unit(currency: str) -> int:
    return _MINOR_UNITS.get(currency.upper(), 2)


def to_minor_unit(amount: Decimal, currency: str | None) -> Decimal:
    """Round half up to the currency's minor unit (2 places when the currency is unknown)."""
    places = minor_unit(currency) if currency else 2
    return amount.quantize(Decimal(1).scaleb(-places), rounding=ROUND_HALF_UP)


def _shorten(text: str, limit: int = 40) -> str:
    return text if len(text) <= limit else text[: limit - 1] + "…"
