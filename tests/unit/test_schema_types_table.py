"""The field types' answers, input by input: what is taken (and written back how), what is
refused (field, code and message as a 4xx problem body gives them).

The tables were written from the validators as they were before their checks moved into
pydantic-core (main 0748036: Money's digits and sign checked in Python, codes looked up in
pycountry, every character of an identifier looked at): what a channel sent then gets the
same answer now.
"""

import sys
import unicodedata
from decimal import Decimal
from types import FrameType
from typing import Any

import pycountry
import pytest
from pydantic import TypeAdapter, ValidationError

from schemas.problems import field_problems
from schemas.submission import OrderSubmission
from schemas.types import (
    CurrencyCode,
    ExternalId,
    Money,
    PlausibleTime,
    country_code,
)
from tests.contracts.factories import submission_dict

PRICE = "lines.0.unit_price"
GE = ("greater_than_equal", "Input should be greater than or equal to 0")
PLACES = ("decimal_max_places", "Decimal input should have no more than 4 decimal places")
DIGITS = ("decimal_max_digits", "Decimal input should have no more than 18 digits in total")
WHOLE = (
    "decimal_whole_digits",
    "Decimal input should have no more than 14 digits before the decimal point",
)
FINITE = ("finite_number", "Input should be a finite number")
PARSING = ("decimal_parsing", "Input should be a valid decimal")
TYPE = (
    "decimal_type",
    "Decimal input should be an integer, float, string or Decimal object",
)
FLOAT = (
    "value_error",
    'Value error, money must be a string or an integer, not a float (e.g. "19.90")',
)
BOOL = ("value_error", "Value error, money must be a string or an integer")

# (what the channel sent, the Decimal's str() and JSON string recorded)
TAKEN: list[tuple[Any, str]] = [
    ("0", "0"),
    ("19.90", "19.90"),
    ("-0", "-0"),
    ("-0.00", "-0.00"),
    ("1e3", "1E+3"),
    ("1E+2", "1E+2"),
    ("0E-10", "0E-10"),
    ("0.0000", "0.0000"),
    ("1.00000", "1.00000"),
    (" 19.90 ", "19.90"),
    ("1_000", "1000"),
    ("١٢٣", "123"),
    ("99999999999999.9999", "99999999999999.9999"),
    ("10000000000000.0000", "10000000000000.0000"),
    ("12345678901234.12340", "12345678901234.12340"),
    ("12345678901234.123400000", "12345678901234.123400000"),
    ("1." + "0" * 40, "1." + "0" * 40),
    (0, "0"),
    (25, "25"),
    (99_999_999_999_999, "99999999999999"),
    (Decimal("1.5"), "1.5"),
    (Decimal("-0"), "-0"),
]

REFUSED: list[tuple[Any, tuple[str, str]]] = [
    ("-1", GE),
    ("-0.0001", GE),
    # Negative and over-precise: refused as negative, the first check as it was.
    ("-1.00001", GE),
    ("-1.23456", GE),
    ("-1e20", GE),
    ("-1e-100", GE),
    ("-" + "9" * 30, GE),
    (-1, GE),
    (-(10**30), GE),
    (Decimal("-1.23456"), GE),
    ("1E-5", PLACES),
    ("0.00001", PLACES),
    ("0.12345", PLACES),
    (Decimal("1.23456"), PLACES),
    ("999999999999999", WHOLE),
    ("100000000000000", WHOLE),
    ("123456789012345678", WHOLE),
    (10**14, WHOLE),
    ("1234567890123456789", DIGITS),
    ("1.00000000000000000000000000001", DIGITS),  # past the decimal context's 28 digits
    ("1" + "0" * 30, DIGITS),
    ("1e20", DIGITS),
    ("1e-100", DIGITS),
    ("0." + "0" * 30 + "1", DIGITS),
    (10**30, DIGITS),
    (Decimal("1E+30"), DIGITS),
    ("NaN", FINITE),
    ("nan", FINITE),
    ("-NaN", FINITE),
    ("sNaN", FINITE),
    ("Infinity", FINITE),
    ("-Infinity", FINITE),
    ("inf", FINITE),
    (Decimal("NaN"), FINITE),
    (Decimal("sNaN"), FINITE),
    (Decimal("-Infinity"), FINITE),
    ("19,90", PARSING),
    ("", PARSING),
    ("abc", PARSING),
    (None, TYPE),
    ([], TYPE),
    ({}, TYPE),
    (b"1", TYPE),
    (b"-1", TYPE),
    (True, BOOL),
    (False, BOOL),
    (19.9, FLOAT),
    (0.0, FLOAT),
    (float("nan"), FLOAT),
    (float("inf"), FLOAT),
]


def _with_price(price: Any) -> dict[str, Any]:
    payload = submission_dict()
    payload["lines"] = [{"line_id": "1", "sku": "RED-CHAIR", "quantity": 1, "unit_price": price}]
    return payload


@pytest.mark.parametrize(("sent", "recorded"), TAKEN, ids=repr)
def test_an_amount_taken_is_recorded_and_written_as_before(sent: Any, recorded: str) -> None:
    parsed = OrderSubmission.model_validate(_with_price(sent))

    price = parsed.lines[0].unit_price
    assert type(price) is Decimal
    assert str(price) == recorded
    assert f'"unit_price":"{recorded}"' in parsed.model_dump_json()
    assert parsed.model_dump(mode="json")["lines"][0]["unit_price"] == recorded
    assert parsed.model_dump()["lines"][0]["unit_price"] == price  # a Decimal, not text


@pytest.mark.parametrize(("sent", "problem"), REFUSED, ids=repr)
def test_an_amount_refused_gives_the_problem_it_gave(sent: Any, problem: tuple[str, str]) -> None:
    with pytest.raises(ValidationError) as caught:
        OrderSubmission.model_validate(_with_price(sent))

    code, message = problem
    assert [(p.field, p.code, p.message) for p in field_problems(caught.value)] == [
        (PRICE, code, message)
    ]


@pytest.mark.parametrize(
    ("text", "expected"),
    [
        ('"19.9"', Decimal("19.9")),
        ('"1e3"', Decimal("1E+3")),
        ("25", Decimal(25)),
        ("19.9", FLOAT),  # a JSON number with a fraction or an exponent is a float
        ("1e3", FLOAT),
        ("NaN", FLOAT),
        ("Infinity", FLOAT),
        ("true", BOOL),
        ("null", TYPE),
        ('"NaN"', FINITE),
        ('"-1.00001"', GE),
        ("123456789012345678901234567890", DIGITS),
    ],
)
def test_an_amount_read_from_json_gets_the_same_answer(
    text: str, expected: Decimal | tuple[str, str]
) -> None:
    adapter = TypeAdapter(Money)
    if isinstance(expected, Decimal):
        assert adapter.validate_json(text) == expected
        return
    with pytest.raises(ValidationError) as caught:
        adapter.validate_json(text)
    assert [(e["type"], e["msg"]) for e in caught.value.errors()] == [expected]


def test_an_amount_is_checked_by_pydantic_core_but_for_the_float_check() -> None:
    """The digits, decimals and sign of every amount of every order used to be checked by five
    Python functions; one is left (floats and booleans are refused with our own words)."""
    called: list[str] = []

    def record(frame: FrameType, event: str, _: Any) -> None:
        where = frame.f_code.co_filename
        if event == "call" and ("/pydantic/_internal/" in where or "/schemas/" in where):
            called.append(frame.f_code.co_name)

    adapter = TypeAdapter(Money)
    sys.setprofile(record)
    try:
        adapter.validate_python("19.90")
    finally:
        sys.setprofile(None)
    assert called == ["_reject_float"]


def _codes_to_try(length: int) -> list[str]:
    letters = [chr(c) for c in range(ord("A"), ord("Z") + 1)]
    # Letters whose case maps are not ASCII's: the Kelvin sign lower-cases to "k", dotless
    # i upper-cases to "I", "ß" to "SS", the dotted capital I lower-cases to two characters.
    odd = ["\u212a", "\u0131", "ß", "\u017f", "ǅ", "\u0130", "ﬀ", "é", " ", "0"]
    codes = [a + b for a in letters + odd for b in letters + odd]
    if length == 3:
        codes = [code + c for code in codes for c in [*letters[:8], "R", "S", "D", *odd]]
    return codes


def test_a_country_code_is_taken_as_pycountry_finds_it() -> None:
    for value in _codes_to_try(2) + [c.alpha_2.lower() for c in pycountry.countries]:
        found = pycountry.countries.get(alpha_2=value.upper())
        if found is None:
            with pytest.raises(ValueError, match="not an ISO 3166-1 alpha-2 country code"):
                country_code(value)
        else:
            assert country_code(value) == value.upper(), value


def test_a_currency_code_is_taken_as_pycountry_finds_it() -> None:
    adapter = TypeAdapter(CurrencyCode)
    for value in _codes_to_try(3) + [c.alpha_3.lower() for c in pycountry.currencies]:
        found = pycountry.currencies.get(alpha_3=value.upper())
        try:
            taken = adapter.validate_python(value)
        except ValidationError as refused:
            codes = [e["type"] for e in refused.errors()]
            assert found is None and codes == ["value_error"], value
        else:
            assert found is not None and taken == value.upper(), value


def test_a_printable_text_holds_no_hidden_character() -> None:
    """The identifiers' check looks at each character only when `str.isprintable` says no:
    every printable character of Unicode (as this Python knows it) is one it would take."""
    hidden = {"Cc", "Cf", "Cs", "Co", "Cn", "Zl", "Zp"}
    printable_but_hidden = [
        c
        for c in map(chr, range(sys.maxunicode + 1))
        if c.isprintable() and unicodedata.category(c) in hidden
    ]
    assert printable_but_hidden == []


@pytest.mark.parametrize(
    ("value", "problem"),
    [
        ("A\u00a0B", None),  # a no-break space: not printable, not hidden either
        ("A\u3000B", None),
        ("A B", None),
        ("A\u202eB", "U+202E at position 1"),
        ("AB\U000e0001", "U+E0001 at position 2"),
        ("\ue000", "U+E000 at position 0"),
        ("A\u2029", "U+2029 at position 1"),
    ],
)
def test_an_identifier_that_is_not_printable_is_looked_at_character_by_character(
    value: str, problem: str | None
) -> None:
    adapter = TypeAdapter(ExternalId)
    if problem is None:
        assert adapter.validate_python(value) == value
        return
    with pytest.raises(ValidationError) as caught:
        adapter.validate_python(value)
    assert [e["type"] for e in caught.value.errors()] == ["invisible_character"]
    assert problem in caught.value.errors()[0]["msg"]


@pytest.mark.parametrize(
    ("text", "problem"),
    [
        ("2026-12-05T04:00:00+01:00", None),
        ("2099-12-31T23:30:00-01:00", "implausible_time"),  # 2100 once in UTC
        ("2000-01-01T00:30:00+01:00", "implausible_time"),  # 1999 once in UTC
        ("0001-01-01T00:00:00+01:00", "value_error"),  # no UTC time: said so, not implausible
        ("2026-12-05T04:00:00", "timezone_aware"),
    ],
)
def test_a_time_is_made_utc_before_its_years_are_checked(text: str, problem: str | None) -> None:
    adapter = TypeAdapter(PlausibleTime)
    if problem is None:
        assert adapter.validate_python(text).isoformat() == "2026-12-05T03:00:00+00:00"
        return
    with pytest.raises(ValidationError) as caught:
        adapter.validate_python(text)
    assert [e["type"] for e in caught.value.errors()] == [problem]
