"""A source's ships_to: countries, "*" (everywhere) or a named region; anything else refused."""

from pathlib import Path
from typing import Any

import pytest
from pydantic import ValidationError

from schemas.regions import REGIONS, expand
from schemas.sources import SourceDefinition
from tests.e2e.test_embedded_orchestration import running
from tests.e2e.test_parallel_sources import _definition


@pytest.mark.parametrize(
    ("given", "kept"),
    [(["*"], ["*"]), (["eu", "CH"], ["EU", "CH"]), (["EEA"], ["EEA"]), (["fr"], ["FR"])],
)
def test_everywhere_regions_and_countries_are_accepted(given: list[str], kept: list[str]) -> None:
    source = SourceDefinition.model_validate(_definition("wh-1", ships_to=given))
    assert source.ships_to == kept


@pytest.mark.parametrize("code", ["XX", "EUR", "WORLD", "", "**", "E*"])
def test_an_unknown_code_is_refused_naming_the_item(code: str) -> None:
    with pytest.raises(ValidationError) as refused:
        SourceDefinition.model_validate(_definition("wh-1", ships_to=["FR", code]))
    (error,) = refused.value.errors()
    assert error["loc"] == ("ships_to", 1)


def test_regions_are_fixed_lists_of_real_countries() -> None:
    assert len(REGIONS["EU"]) == 27 and REGIONS["EU"] < REGIONS["EEA"]
    assert REGIONS["EEA"] - REGIONS["EU"] == {"IS", "LI", "NO"}
    for countries in REGIONS.values():
        for code in countries:
            SourceDefinition.model_validate(_definition("wh-1", ships_to=[code]))
    assert expand(["EU", "NO", "*"]) == (True, REGIONS["EEA"] - {"IS", "LI"})


@pytest.mark.asyncio
async def test_the_api_refuses_an_unknown_destination_with_a_field_level_422(
    tmp_path: Path,
) -> None:
    async with running(tmp_path) as (client, _):
        body: dict[str, Any] = _definition("wh-1", ships_to=["FR", "XYZ"])
        response = await client.put("/v1/sources/wh-1", json=body)
        accepted = await client.put(
            "/v1/sources/wh-1", json=_definition("wh-1", ships_to=["*", "EU"])
        )

    assert response.status_code == 422
    assert response.headers["content-type"] == "application/problem+json"
    (problem,) = response.json()["errors"]
    assert problem["field"].endswith("ships_to.1")
    assert "'XYZ' is not an ISO 3166-1 alpha-2 country code" in problem["message"]
    assert accepted.status_code == 201
    assert accepted.json()["definition"]["ships_to"] == ["*", "EU"]
