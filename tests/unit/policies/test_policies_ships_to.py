"""decide(): a source's ships_to may say everywhere ("*") or name a region (EU, EEA)."""

from __future__ import annotations

import pytest
from policies_factories import NOW, make_order, make_policy, make_source

from orchestration_policies import CandidateStatus, decide


@pytest.mark.parametrize(
    ("ships_to", "country", "eligible"),
    [
        ({"*"}, "US", True),
        ({"*"}, "FR", True),
        ({"EU"}, "DE", True),
        ({"EU"}, "NO", False),  # Norway is in the EEA, not the EU
        ({"EEA"}, "NO", True),
        ({"EEA"}, "CH", False),
        ({"EU", "CH"}, "CH", True),  # regions and countries together
        ({"FR"}, "DE", False),
    ],
)
def test_a_source_ships_to_the_countries_its_codes_and_regions_name(
    ships_to: set[str], country: str, eligible: bool
) -> None:
    source = make_source("wh-paris", stock={"RED-CHAIR": 5}, ships_to=frozenset(ships_to))
    order = make_order(("RED-CHAIR", 1), country=country)

    decision = decide(order, [source], make_policy(), NOW)

    assert bool(decision.shipments) is eligible
    if not eligible:
        (candidate,) = decision.explanation.candidates
        assert (candidate.status, candidate.rule) == (
            CandidateStatus.EXCLUDED,
            "does_not_ship_to_country",
        )
        assert candidate.detail == f"does not ship to {country}"
