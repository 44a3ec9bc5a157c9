"""A source's ships_to: countries, "*" (everywhere) or a named region; anything else refused."""

import pytest
from pydantic import ValidationError

from schemas.regions import REGIONS, expand
from schemas.sources import SourceDefinition
from tests.contracts.factories import source_body


@pytest.mark.parametrize(
    ("given", "kept"),
    [(["*"], ["*"]), (["eu", "CH"], ["EU", "CH"]), (["EEA"], ["EEA"]), (["fr"], ["FR"])],
)
def test_everywhere_regions_and_countries_are_accepted(given: list[str], kept: list[str]) -> None:
    source = SourceDefinition.model_validate(source_body("wh-1", ships_to=given))
    assert source.ships_to == kept


@pytest.mark.parametrize("code", ["XX", "EUR", "WORLD", "", "**", "E*"])
def test_an_unknown_code_is_refused_naming_the_item(code: str) -> None:
    with pytest.raises(ValidationError) as refused:
        SourceDefinition.model_validate(source_body("wh-1", ships_to=["FR", code]))
    (error,) = refused.value.errors()
    assert error["loc"] == ("ships_to", 1)


def test_regions_are_fixed_lists_of_real_countries() -> None:
    assert len(REGIONS["EU"]) == 27 and REGIONS["EU"] < REGIONS["EEA"]
    assert REGIONS["EEA"] - REGIONS["EU"] == {"IS", "LI", "NO"}
    for countries in REGIONS.values():
        for code in countries:
            SourceDefinition.model_validate(source_body("wh-1", ships_to=[code]))
    assert expand(["EU", "NO", "*"]) == (True, REGIONS["EEA"] - {"IS", "LI"})
