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
