"""The contracts: what a submission must look like, how it is normalised, how errors read."""

import json
import random
from datetime import UTC, datetime
from decimal import Decimal
from typing import Any

import pytest
from hypothesis import given
from hypothesis import strategies as st
from pydantic import ValidationError

from hub.services.intake import submission_digest
from schemas.envelope import Actor, ActorKind, EventEnvelope
from schemas.event_types import EventType
from schemas.problems import field_problems
from schemas.submission import OrderSubmission
from tests.contracts.factories import named_cases, submission, submission_dict


def _errors(payload: Any) -> list[tuple[str, str]]:
    """(dotted field, error code) for every problem pydantic finds."""
    with pytest.raises(ValidationError) as caught:
        OrderSubmission.model_validate(payload)
    return [(p.field, p.code) for p in field_problems(caught.value)]


def _line(**overrides: Any) -> dict[str, Any]:
    return {"line_id": "1", "sku": "RED-CHAIR", "quantity": 1, "unit_price": "19.90", **overrides}


class TestAValidSubmission:
    def test_the_default_factory_submission_is_valid(self) -> None:
        parsed = submission()

        assert parsed.order_key == "web-shop:WEB-1001"
        assert [line.sku for line in parsed.lines] == ["RED-CHAIR", "BLUE-LAMP"]

    def test_country_and_currency_codes_are_upper_cased(self) -> None:
        ship_to = {**submission_dict()["ship_to"], "country": "fr"}

        parsed = submission(ship_to=ship_to, currency="eur")

        assert (parsed.ship_to.country, parsed.currency) == ("FR", "EUR")

    def test_times_are_converted_to_utc(self) -> None:
        parsed = submission(placed_at="2026-11-20T09:30:00+01:00")

        assert parsed.placed_at == datetime(2026, 11, 20, 8, 30, tzinfo=UTC)
        assert parsed.placed_at.utcoffset().total_seconds() == 0  # type: ignore[union-attr]

    def test_surrounding_whitespace_is_stripped_from_text(self) -> None:
        parsed = submission(lines=[_line(sku="  RED-CHAIR ")])

        assert parsed.lines[0].sku == "RED-CHAIR"

    @pytest.mark.parametrize(
        ("given_price", "recorded"),
        [("19.90", Decimal("19.90")), (25, Decimal("25")), ("0", Decimal("0"))],
    )
    def test_money_comes_as_a_string_or_an_integer_and_stays_exact(
        self, given_price: object, recorded: Decimal
    ) -> None:
        parsed = submission(lines=[_line(unit_price=given_price)])

        assert parsed.lines[0].unit_price == recorded
        assert parsed.model_dump(mode="json")["lines"][0]["unit_price"] == str(recorded)

    def test_optional_fields_take_their_documented_defaults(self) -> None:
        parsed = submission()

        assert parsed.delivery_method == "standard"
        assert parsed.payment_state == "pending"
        assert parsed.customer.demand_class == "standard"
        assert parsed.promised_by is None


@pytest.mark.parametrize(
    ("case", "overrides", "expected"),
    **named_cases(
        [
            ("quantity zero", {"lines": [_line(quantity=0)]}, ("lines.0.quantity", "greater_than")),
            (
                "negative quantity",
                {"lines": [_line(quantity=-2)]},
                ("lines.0.quantity", "greater_than"),
            ),
            (
                "quantity as text",
                {"lines": [_line(quantity="3")]},
                ("lines.0.quantity", "int_type"),
            ),
            (
                "fractional quantity",
                {"lines": [_line(quantity=3.0)]},
                ("lines.0.quantity", "int_type"),
            ),
            (
                "huge quantity",
                {"lines": [_line(quantity=100_001)]},
                ("lines.0.quantity", "less_than_equal"),
            ),
            (
                "price as a float",
                {"lines": [_line(unit_price=19.9)]},
                ("lines.0.unit_price", "value_error"),
            ),
            (
                "price as a bool",
                {"lines": [_line(unit_price=True)]},
                ("lines.0.unit_price", "value_error"),
            ),
            (
                "negative price",
                {"lines": [_line(unit_price="-1")]},
                ("lines.0.unit_price", "greater_than_equal"),
            ),
            (
                "price NaN",
                {"lines": [_line(unit_price="NaN")]},
                ("lines.0.unit_price", "finite_number"),
            ),
            (
                "price Infinity",
                {"lines": [_line(unit_price="Infinity")]},
                ("lines.0.unit_price", "finite_number"),
            ),
            (
                "sub-cent price",
                {"lines": [_line(unit_price="1.00001")]},
                ("lines.0.unit_price", "decimal_max_places"),
            ),
            (
                "sku with a space",
                {"lines": [_line(sku="RED CHAIR")]},
                ("lines.0.sku", "string_pattern_mismatch"),
            ),
            ("no lines", {"lines": []}, ("lines", "too_short")),
            ("unknown currency", {"currency": "XYZ"}, ("currency", "value_error")),
            ("currency too long", {"currency": "EURO"}, ("currency", "string_too_long")),
            (
                "naive placed_at",
                {"placed_at": "2026-11-20T08:00:00"},
                ("placed_at", "timezone_aware"),
            ),
            (
                "channel in capitals",
                {"channel": "Web-Shop"},
                ("channel", "string_pattern_mismatch"),
            ),
            ("blank external id", {"external_id": " "}, ("external_id", "string_too_short")),
            ("unknown field", {"gift_wrap": True}, ("gift_wrap", "extra_forbidden")),
            ("unknown delivery", {"delivery_method": "teleport"}, ("delivery_method", "enum")),
            (
                "bad email",
                {"customer": {"id": "CUST-ADA", "email": "ada"}},
                ("customer.email", "string_pattern_mismatch"),
            ),
        ]
    ),
)
def test_an_invalid_submission_names_the_field_and_the_rule(
    case: str, overrides: dict[str, Any], expected: tuple[str, str]
) -> None:
    assert _errors(submission_dict(**overrides)) == [expected]


@pytest.mark.parametrize(
    ("case", "country", "code"),
    **named_cases(
        [
            ("unknown code", "XX", "value_error"),
            ("alpha-3 code", "FRA", "string_too_long"),
            ("one letter", "F", "string_too_short"),
        ]
    ),
)
def test_the_ship_to_country_must_be_an_iso_alpha_2_code(
    case: str, country: str, code: str
) -> None:
    ship_to = {**submission_dict()["ship_to"], "country": country}

    assert _errors(submission_dict(ship_to=ship_to)) == [("ship_to.country", code)]


@pytest.mark.parametrize(
    "missing", ["channel", "external_id", "placed_at", "customer", "ship_to", "lines", "currency"]
)
def test_every_required_field_is_reported_when_missing(missing: str) -> None:
    payload = submission_dict()
    del payload[missing]

    assert _errors(payload) == [(missing, "missing")]


def test_every_broken_field_is_reported_not_only_the_first() -> None:
    payload = submission_dict(
        currency="XYZ", lines=[_line(quantity=0), _line(line_id="2", unit_price=1.5)]
    )

    assert {field for field, _ in _errors(payload)} == {
        "currency",
        "lines.0.quantity",
        "lines.1.unit_price",
    }


@pytest.mark.parametrize(
    ("case", "overrides", "words"),
    **named_cases(
        [
            (
                "repeated line ids",
                {"lines": [_line(), _line(sku="BLUE-LAMP")]},
                "line_id must be unique",
            ),
            (
                "promise before placing",
                {"placed_at": "2026-11-20T08:00:00Z", "promised_by": "2026-11-20T07:00:00Z"},
                "promised_by must be after placed_at",
            ),
        ]
    ),
)
def test_rules_across_fields_are_reported_on_the_body(
    case: str, overrides: dict[str, Any], words: str
) -> None:
    with pytest.raises(ValidationError) as caught:
        OrderSubmission.model_validate(submission_dict(**overrides))

    (problem,) = field_problems(caught.value)
    assert problem.field == "(body)"
    assert words in problem.message


@pytest.mark.parametrize("payload", [[], "order", None, 42])
def test_a_body_that_is_not_an_object_is_a_body_level_error(payload: object) -> None:
    assert [field for field, _ in _errors(payload)] == ["(body)"]


def test_a_submission_is_immutable() -> None:
    parsed = submission()

    with pytest.raises(ValidationError):
        parsed.currency = "USD"  # type: ignore[misc]


# -- the digest: what makes a re-sent order "the same order" --------------------------------------


def _shuffled(value: Any, rng: random.Random) -> Any:
    """The same JSON value with every object's keys in another order."""
    if isinstance(value, dict):
        items = list(value.items())
        rng.shuffle(items)
        return {k: _shuffled(v, rng) for k, v in items}
    if isinstance(value, list):
        return [_shuffled(v, rng) for v in value]
    return value


submissions = st.builds(
    lambda ext, qty, cents, sku: submission_dict(
        external_id=ext,
        lines=[
            _line(quantity=qty, unit_price=f"{cents // 100}.{cents % 100:02d}", sku=sku),
            _line(line_id="2", sku="BLUE-LAMP"),
        ],
    ),
    ext=st.from_regex(r"[A-Z]{3}-[0-9]{1,6}", fullmatch=True),
    qty=st.integers(min_value=1, max_value=100_000),
    cents=st.integers(min_value=0, max_value=10**9),
    sku=st.sampled_from(["RED-CHAIR", "BLUE-LAMP", "OAK-TABLE"]),
)


@given(
    payload=submissions,
    rng=st.randoms(use_true_random=False),
    indent=st.sampled_from([None, 0, 2, 4]),
)
def test_the_digest_is_stable_under_key_order_and_whitespace(
    payload: dict[str, Any], rng: random.Random, indent: int | None
) -> None:
    resent = json.loads(json.dumps(_shuffled(payload, rng), indent=indent))

    assert submission_digest(OrderSubmission.model_validate(resent)) == submission_digest(
        OrderSubmission.model_validate(payload)
    )


@given(payload=submissions, extra=st.integers(min_value=1, max_value=1000))
def test_the_digest_changes_when_a_quantity_changes(payload: dict[str, Any], extra: int) -> None:
    changed = json.loads(json.dumps(payload))
    quantity = changed["lines"][0]["quantity"]
    changed["lines"][0]["quantity"] = (
        quantity + extra if quantity + extra <= 100_000 else quantity - extra
    )

    assert submission_digest(OrderSubmission.model_validate(changed)) != submission_digest(
        OrderSubmission.model_validate(payload)
    )


@pytest.mark.parametrize(
    ("case", "overrides"),
    **named_cases(
        [
            ("defaults spelled out", {"delivery_method": "standard", "payment_state": "pending"}),
            ("lower-case codes", {"currency": "eur"}),
            ("another time zone", {"placed_at": "2026-11-20T09:00:00+01:00"}),
        ]
    ),
)
def test_the_digest_is_of_the_normalised_order_not_of_its_spelling(
    case: str, overrides: dict[str, Any]
) -> None:
    assert submission_digest(submission(**overrides)) == submission_digest(submission())


# -- the envelope ---------------------------------------------------------------------------------


def _envelope(**overrides: Any) -> dict[str, Any]:
    return {
        "id": "evt-1",
        "source": "/orderhub/orders",
        "type": EventType.ORDER_PLACED,
        "subject": "order-1",
        "time": "2026-11-20T09:00:00Z",
        "sequence": 1,
        "correlationid": "corr-1",
        "causationid": "corr-1",
        "actor": {"kind": "channel", "id": "web-shop"},
        "schemaversion": 1,
        "data": {},
        **overrides,
    }


@pytest.mark.parametrize("text", ["channel:web-shop", "system:intake", "user:ops-lyon"])
def test_an_actor_reads_back_from_its_text(text: str) -> None:
    assert str(Actor.parse(text)) == text


@pytest.mark.parametrize("text", ["robot:r2", "web-shop", "channel:"])
def test_an_actor_text_without_a_known_kind_and_an_id_is_refused(text: str) -> None:
    with pytest.raises(ValueError):
        Actor.parse(text)
    with pytest.raises(ValueError):  # refused again: a refusal is not remembered as an actor
        Actor.parse(text)


def test_an_actor_parsed_again_is_the_same_frozen_actor() -> None:
    first, again = Actor.parse("channel:web-shop"), Actor.parse("channel:web-shop")

    assert again == first == Actor(kind=ActorKind.CHANNEL, id="web-shop")
    assert Actor.parse("channel:pos-lyon") != first
    with pytest.raises(ValidationError):
        first.id = "other"  # type: ignore[misc]  # frozen: sharing one is safe


def test_an_envelope_keeps_its_time_in_utc() -> None:
    env = EventEnvelope.model_validate(_envelope(time="2026-11-20T10:00:00+01:00"))

    assert env.time == datetime(2026, 11, 20, 9, 0, tzinfo=UTC)
    assert env.actor == Actor(kind=ActorKind.CHANNEL, id="web-shop")
    assert env.aggregate_id == "order-1"
    assert (env.specversion, env.datacontenttype) == ("1.0", "application/json")


@pytest.mark.parametrize(
    ("case", "overrides", "field"),
    **named_cases(
        [
            ("sequence zero", {"sequence": 0}, "sequence"),
            ("naive time", {"time": "2026-11-20T09:00:00"}, "time"),
            ("unknown attribute", {"priority": "high"}, "priority"),
            ("schema version zero", {"schemaversion": 0}, "schemaversion"),
        ]
    ),
)
def test_an_invalid_envelope_is_refused(case: str, overrides: dict[str, Any], field: str) -> None:
    with pytest.raises(ValidationError) as caught:
        EventEnvelope.model_validate(_envelope(**overrides))

    assert [p.field for p in field_problems(caught.value)] == [field]
