"""The published JSON Schemas are the models' own, regenerated: never edited by hand."""

from pathlib import Path

import pytest

from schemas.export import DEFAULT_FOLDER, schemas


@pytest.mark.parametrize("name", sorted(schemas()))
def test_published_schema_matches_the_model(name: str) -> None:
    published = Path(DEFAULT_FOLDER / name)
    assert published.exists(), f"run `python -m schemas.export` to publish {name}"
    assert published.read_text() == schemas()[name], f"{name} is stale: python -m schemas.export"


def test_the_submission_schema_refuses_unknown_fields_and_requires_lines() -> None:
    import json

    schema = json.loads(schemas()["order-submission.schema.json"])
    assert schema["additionalProperties"] is False
    assert "lines" in schema["required"]


def test_money_is_published_as_written_not_as_the_library_renders_it() -> None:
    """Pydantic's rendering of a constrained Decimal changed in 2.14; the contract must not."""
    import json

    from schemas.types import MONEY_JSON_SCHEMA

    schema = json.loads(schemas()["order-submission.schema.json"])
    price = schema["$defs"]["OrderLine"]["properties"]["unit_price"]
    assert {k: v for k, v in price.items() if k != "title"} == MONEY_JSON_SCHEMA


@pytest.mark.parametrize("text", ["0", "19.90", "12345678901234.1234", "7"])
def test_money_the_schema_accepts_is_money_the_model_accepts(text: str) -> None:
    import re

    from pydantic import TypeAdapter

    from schemas.types import MONEY_JSON_SCHEMA, Money

    pattern = MONEY_JSON_SCHEMA["anyOf"][1]["pattern"]
    assert re.fullmatch(pattern, text)
    assert str(TypeAdapter(Money).validate_python(text)) == text


@pytest.mark.parametrize("text", ["-1", "1.23456", "1e3", "", "1.", "١٢"])
def test_money_the_schema_refuses(text: str) -> None:
    import re

    from schemas.types import MONEY_JSON_SCHEMA

    assert not re.fullmatch(MONEY_JSON_SCHEMA["anyOf"][1]["pattern"], text)
