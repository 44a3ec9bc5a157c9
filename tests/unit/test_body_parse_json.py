"""`parse_json` reads a body with orjson where it gives what `json.loads` gives: every body
answers as the standard parser's reading would (the value, or the same 400)."""

import json
import math
from typing import Any

import pytest

from hub.api.body import parse_json
from hub.api.problems import ProblemError

BODIES = [
    b'{"channel": "shop-a", "lines": [{"quantity": 2, "unit_price": "19.90"}]}',
    b'{"n": 12345678901234567890123}',  # beyond 64 bits: orjson would give a float
    b'{"n": 1.0000000000000002, "m": -0.0, "e": 1e308, "z": -0}',
    b'{"inf": 1e400}',  # json reads infinity, orjson refuses
    b'{"nan": NaN, "i": -Infinity}',
    b'{"s": "\\ud800"}',  # a lone surrogate
    b'{"a": 1, "a": 2}',
    '{"name": "Zo\u00eb \u4e2d\u6587 \U0001f600"}'.encode(),
    b"\xef\xbb\xbf{}",  # a byte order mark: json.loads of the text refuses it
    b'{"a": 1} x',
    b'{"a": 1}\x00',
    b"",
    b"   [1, 2]  ",
    b'"' + b"9" * 30 + b'"',
]


def reading(body: bytes) -> tuple[str, Any]:
    try:
        text, value = parse_json(body)
    except ProblemError as error:
        return "problem", error.problem.model_dump()
    return text, value


def standard(body: bytes) -> tuple[str, Any]:
    text = body.decode()
    try:
        return text, json.loads(text)
    except json.JSONDecodeError as error:
        detail = f"{error.msg} at line {error.lineno}, column {error.colno}"
        return "problem", detail


def same(a: Any, b: Any) -> bool:
    if isinstance(a, float) and isinstance(b, float) and math.isnan(a):
        return math.isnan(b)
    if isinstance(a, dict) and isinstance(b, dict):
        return a.keys() == b.keys() and all(same(a[k], b[k]) for k in a)
    if isinstance(a, list) and isinstance(b, list):
        return len(a) == len(b) and all(same(x, y) for x, y in zip(a, b, strict=True))
    return type(a) is type(b) and a == b and str(a) == str(b)  # -0.0 is not 0.0 here


@pytest.mark.parametrize("body", BODIES)
def test_a_body_reads_as_the_standard_parser_reads_it(body: bytes) -> None:
    text, value = reading(body)
    expected_text, expected = standard(body)
    if expected_text == "problem":
        assert text == "problem" and value["status"] == 400 and value["detail"] == expected
    else:
        assert text == expected_text and same(value, expected)
