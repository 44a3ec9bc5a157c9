"""A stored order submission whose JSON values are its public data as they are.

`Order.Placed` (and `Order.Changed`) store the submission as pydantic dumped it; the mapper
reads it back through `OrderSubmission`'s validation and `to_envelope` dumps it again: ~15-18 µs
of a `Placed`'s ~30 µs in the relay (benchmarks/README.md, relay11/relay12). For a submission
already in the exact form that dump writes, the round trip gives the same JSON values back.

`as_stored` is a conservative test of that form, in Python, narrower than the model: every key
of every object in the model's field order (the dump writes them all, defaults too), printable
texts with no space at either end (so `str_strip_whitespace` changes nothing), within the
field's limits, slugs and SKUs of the patterns' ASCII characters,
times as the dump writes a UTC time (`Z`, six digits of fraction or none) inside the plausible
years, amounts as `str()` of their Decimal, quantities and coordinates of exactly their type
and range, unique line ids, `promised_by` after `placed_at`. The codes (country, currency) are
checked by the model's own validators, once per distinct text. Whatever it does not accept
goes through pydantic as before (tests/unit/test_stored_submission.py holds every accepted
form to the round trip, and the refused neighbours of each rule; it binds the copies here to
the models: their fields in order, each text's limit, every character of a slug or SKU, and the
numeric limits read from the models)."""

import re
from datetime import datetime
from typing import Any

from pydantic import TypeAdapter

from schemas.submission import (
    Address,
    Customer,
    DeliveryMethod,
    OrderLine,
    OrderSubmission,
    PaymentState,
)
from schemas.types import EARLIEST_TIME, LATEST_TIME, CountryCode, CurrencyCode

__all__ = ["as_stored"]

# Each object's keys are compared as `list(value) == keys`: the dump writes every field, in
# the model's order.
_TOP = list(OrderSubmission.model_fields)
_CUSTOMER = list(Customer.model_fields)
_ADDRESS = list(Address.model_fields)
_LINE = list(OrderLine.model_fields)
_SLUG = re.compile(r"[a-z0-9][a-z0-9_.-]{0,63}")
_SKU = re.compile(r"[A-Za-z0-9][A-Za-z0-9_.:/-]{0,63}")
_MONEY = re.compile(r"(?:0|[1-9][0-9]{0,13})(?:\.[0-9]{1,4})?")
_TIME = re.compile(r"[0-9]{4}-[0-9]{2}-[0-9]{2}T[0-9]{2}:[0-9]{2}:[0-9]{2}(?:\.[0-9]{6})?Z")
_DELIVERY = frozenset(m.value for m in DeliveryMethod)
_PAYMENT = frozenset(m.value for m in PaymentState)
_COUNTRY: TypeAdapter[str] = TypeAdapter(CountryCode)
_CURRENCY: TypeAdapter[str] = TypeAdapter(CurrencyCode)
_CODES: dict[tuple[int, str], bool] = {}  # (2 country | 3 currency, text) -> the model keeps it


def as_stored(stored: Any) -> bool:
    """Whether a stored submission's JSON values are public as they are (see the module)."""
    if type(stored) is not dict or list(stored) != _TOP or not _times(stored):
        return False
    return (
        _slug(stored["channel"])
        and _text(stored["external_id"], 1, 128)
        and _customer(stored["customer"])
        and _address(stored["ship_to"])
        and _lines(stored["lines"])
        and _codes(stored)
    )


def _times(stored: dict[str, Any]) -> bool:
    placed = _time(stored["placed_at"])
    promised = stored["promised_by"]
    return placed is not None and (promised is None or _after(promised, placed))


def _codes(stored: dict[str, Any]) -> bool:
    return (
        _code(3, stored["currency"])
        and _member(stored["delivery_method"], _DELIVERY)
        and _member(stored["payment_state"], _PAYMENT)
    )


def _member(value: Any, values: frozenset[str]) -> bool:
    return type(value) is str and value in values


def _text(value: Any, low: int, high: int) -> bool:
    """A text pydantic keeps as it is, of `low` to `high` characters (code points, as both
    count). Printable (`str.isprintable`), its only possible white space is U+0020 (every
    other White_Space character, which pydantic-core's trim strips, is a control or a
    separator): none at either end means nothing to strip, and no `\\s` for a pattern."""
    return (
        type(value) is str
        and low <= len(value) <= high
        and value.isprintable()
        and (not value or (value[0] != " " and value[-1] != " "))
    )


def _optional(value: Any, high: int) -> bool:
    return value is None or _text(value, 0, high)


def _slug(value: Any) -> bool:
    return type(value) is str and _SLUG.fullmatch(value) is not None


def _customer(value: Any) -> bool:
    if type(value) is not dict or list(value) != _CUSTOMER:
        return False
    email = value["email"]
    return (
        _text(value["id"], 1, 128)
        and _optional(value["name"], 200)
        and (email is None or _email(email))
        and _slug(value["demand_class"])
    )


def _email(value: Any) -> bool:
    # ^[^@\s]+@[^@\s]+$ on a printable text: one "@" with something either side, no space.
    return (
        _text(value, 3, 254)
        and value.count("@") == 1
        and " " not in value
        and value[0] != "@"
        and value[-1] != "@"
    )


def _address(value: Any) -> bool:
    if type(value) is not dict or list(value) != _ADDRESS:
        return False
    return (
        _text(value["name"], 1, 200)
        and _text(value["line1"], 1, 200)
        and _optional(value["line2"], 200)
        and _text(value["city"], 1, 100)
        and _text(value["postal_code"], 1, 20)
        and _place(value)
    )


def _place(address: dict[str, Any]) -> bool:
    return (
        _optional(address["region"], 100)
        and _code(2, address["country"])
        and _degrees(address["lat"], 90.0)
        and _degrees(address["lon"], 180.0)
    )


def _degrees(value: Any, limit: float) -> bool:
    # A float as pydantic keeps it (an int would come back as a float, NaN is out of range).
    return value is None or (type(value) is float and -limit <= value <= limit)


def _lines(value: Any) -> bool:
    if type(value) is not list or not 1 <= len(value) <= 500:
        return False
    ids = set()
    for line in value:
        if type(line) is not dict or list(line) != _LINE or not _line(line):
            return False
        ids.add(line["line_id"])
    return len(ids) == len(value)


def _line(line: dict[str, Any]) -> bool:
    quantity, price, sku = line["quantity"], line["unit_price"], line["sku"]
    return (
        type(quantity) is int
        and 0 < quantity <= 100_000
        and type(price) is str
        and _MONEY.fullmatch(price) is not None
        and type(sku) is str
        and _SKU.fullmatch(sku) is not None
        and _text(line["line_id"], 1, 64)
    )


def _time(value: Any) -> datetime | None:
    """A UTC time as the dump writes it, in the plausible years; None for anything else."""
    if type(value) is not str or _TIME.fullmatch(value) is None or value.endswith(".000000Z"):
        return None
    try:
        time = datetime.fromisoformat(value)
    except ValueError:
        return None
    return time if EARLIEST_TIME <= time < LATEST_TIME else None


def _after(value: Any, placed: datetime) -> bool:
    promised = _time(value)
    return promised is not None and promised > placed


def _code(size: int, value: Any) -> bool:
    """A country (2) or currency (3) code the model's own validator keeps as it is."""
    if type(value) is not str or len(value) != size:
        return False
    key = (size, value)
    found = _CODES.get(key)
    if found is None:
        adapter = _COUNTRY if size == 2 else _CURRENCY
        try:
            found = adapter.validate_python(value) == value
        except ValueError:
            found = False
        if len(_CODES) < 10_000:
            _CODES[key] = found
    return found
