"""The bounds every input meets before it can cost anything: identifiers without hidden
characters, plausible times, counts that fit the read models, JSON and YAML of bounded shape,
CSV of bounded width, and refused payloads that can always be kept."""

from datetime import UTC, datetime
from typing import Any

import pytest
from pydantic import TypeAdapter, ValidationError

from connectors.channels import UnparseablePayload
from connectors.channels.csv_bulk import MAX_COLUMNS, REQUIRED_COLUMNS, parse
from hub.api.guard import check_json_depth
from hub.api.problems import ProblemError
from hub.api.ratelimit import RateLimiter
from hub.services.intake import storable
from orchestration_policies.promise import promised_by
from orchestration_policies.yaml_shape import ShapeError, check_shape
from projections.order_status import fold
from schemas.types import MAX_QUANTITY, ExternalId, PlausibleTime, Quantity
from tests.contracts.factories import order_envelopes
from tests.unit.channels.test_channels_csv_bulk import CONTEXT, HEADER, ROW


@pytest.mark.parametrize(
    "value", ["A\x00B", "A\u202eB", "A\u2066B", "A\u200bB", "A\ufeffB", "A\x1bB", "A\u2028B"]
)
def test_an_identifier_with_a_control_or_invisible_character_is_refused_naming_it(
    value: str,
) -> None:
    with pytest.raises(ValidationError) as caught:
        TypeAdapter(ExternalId).validate_python(value)
    (error,) = caught.value.errors()
    assert error["type"] == "invisible_character"
    assert f"U+{ord(value[1]):04X} at position 1" in error["msg"]


@pytest.mark.parametrize("value", ["WEB-1001", "ÉLAN-7", "注文-42", "A B", "#1/2"])
def test_an_identifier_in_any_script_with_visible_characters_is_taken(value: str) -> None:
    assert TypeAdapter(ExternalId).validate_python(value) == value


@pytest.mark.parametrize(
    ("text", "taken"),
    [
        ("0001-01-02T00:00:00Z", False),
        ("1999-12-31T23:59:59Z", False),
        ("2000-01-01T00:00:00Z", True),
        ("2099-12-31T23:59:59Z", True),
        ("2100-01-01T00:00:00Z", False),
        ("9999-12-31T00:00:00Z", False),
    ],
)
def test_a_time_outside_the_documented_years_is_refused(text: str, taken: bool) -> None:
    adapter = TypeAdapter(PlausibleTime)
    if taken:
        assert adapter.validate_python(text).tzinfo is not None
    else:
        with pytest.raises(ValidationError) as caught:
            adapter.validate_python(text)
        assert caught.value.errors()[0]["type"] == "implausible_time"


@pytest.mark.parametrize(("value", "taken"), [(0, True), (MAX_QUANTITY, True), (2**63, False)])
def test_a_quantity_fits_a_64_bit_column_with_room_to_spare(value: int, taken: bool) -> None:
    adapter = TypeAdapter(Quantity)
    if taken:
        assert adapter.validate_python(value) == value
    else:
        with pytest.raises(ValidationError):
            adapter.validate_python(value)


def test_a_promise_from_an_order_placed_at_the_end_of_the_calendar_saturates() -> None:
    end = datetime(9999, 12, 31, tzinfo=UTC)
    assert promised_by(end, "standard", 365) == datetime.max.replace(tzinfo=UTC)


def test_the_status_view_folds_an_order_recorded_before_times_were_bounded() -> None:
    (placed,) = order_envelopes("WEB-9999", "placed")
    placed.data["submission"]["placed_at"] = "9999-12-31T00:00:00+00:00"  # as once recorded

    row = fold(None, placed)

    assert row is not None
    assert row.placed_at.startswith("9999-12-31")


@pytest.mark.parametrize(
    ("body", "ok"),
    [
        (b"[" * 32 + b"]" * 32, True),
        (b"[" * 33 + b"]" * 33, False),
        (b"[]" * 100_000, True),  # many, none deep
        (b'{"a": "' + b"[" * 1000 + b'"}', True),  # brackets inside a string are text
        (b'{"a": "\\"' + b"[" * 1000 + b'"}', True),  # ...after an escaped quote too
        (b'"' + b"[" * 1000, True),  # an unterminated string: the parser will say so
        (b"[" * 1_000_000, False),
    ],
)
def test_json_depth_is_counted_outside_strings(body: bytes, ok: bool) -> None:
    if ok:
        check_json_depth(body, 32)
    else:
        with pytest.raises(ProblemError) as caught:
            check_json_depth(body, 32)
        assert caught.value.problem.status == 400


@pytest.mark.parametrize(
    ("document", "fragment"),
    [
        ("a:\n" + "".join("  " * i + "b:\n" for i in range(1, 40)), "nests deeper than 8"),
        ("a: &a [1, 2, 3]\nb: [[[[[[[*a]]]]]]]\n", "nests deeper than 8"),
        (
            "a: &a [1, 2, 3, 4, 5, 6, 7, 8]\nb: [*a, *a, *a, *a, *a, *a, *a, *a, *a, *a]\n",
            "more than 50",
        ),
        ("a: &a [*a]\n", "refers to no finished anchor"),
    ],
    ids=["indented 40 deep", "an alias deepens", "aliases multiply", "a recursive alias"],
)
def test_a_yaml_document_is_measured_with_its_aliases_expanded(
    document: str, fragment: str
) -> None:
    with pytest.raises(ShapeError) as caught:
        check_shape(document, max_depth=8, max_nodes=50)
    assert fragment in str(caught.value)
    assert caught.value.line is not None


def test_a_yaml_document_within_bounds_may_use_anchors() -> None:
    check_shape("rule: &r {name: a}\nrules: [*r, *r]\n", max_depth=8, max_nodes=50)


def test_a_csv_header_wider_than_the_known_columns_allow_is_unreadable_at_once() -> None:
    wide = HEADER + "," + ",".join(f"x{n}" for n in range(100_000))
    with pytest.raises(UnparseablePayload) as caught:
        parse(f"{wide}\n{ROW}\n".encode(), CONTEXT)
    assert f"{len(REQUIRED_COLUMNS) + 100_000} columns" in str(caught.value)
    assert f"at most {MAX_COLUMNS}" in str(caught.value)


def test_a_lone_surrogate_is_written_out_so_the_refusal_can_be_kept() -> None:
    refused: dict[str, Any] = {"field": "external_id", "input": ["wh\ud800"]}

    kept = storable(refused)

    assert kept == {"field": "external_id", "input": ["wh\\ud800"]}
    assert storable("plain é") == "plain é"


class Clock:
    now = 0.0

    def __call__(self) -> float:
        return self.now


def test_a_charge_puts_the_bucket_in_debt_and_the_next_request_waits_for_it() -> None:
    clock = Clock()
    limiter = RateLimiter(clock=clock)
    assert limiter.take("shop", per_minute=60) is None  # 10 in the bucket, 9 left

    limiter.charge("shop", per_minute=60, cost=299)

    assert limiter.take("shop", per_minute=60) == 291  # one a second, to pay 290 back and 1
    clock.now = 291
    assert limiter.take("shop", per_minute=60) is None
