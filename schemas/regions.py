"""Where a source ships: ISO country codes, ``"*"`` for everywhere, or a few named regions.

Kept small on purpose: each region is a fixed, well-known list that a person can check. A code
that is neither a country, ``"*"`` nor a region here is refused when a source is registered.
"""

from collections.abc import Iterable, Mapping
from types import MappingProxyType

EVERYWHERE = "*"

# The 27 member states of the European Union (ISO 3166-1 alpha-2; Greece is GR).
_EU = frozenset(
    {
        "AT", "BE", "BG", "CY", "CZ", "DE", "DK", "EE", "ES", "FI", "FR", "GR", "HR", "HU",
        "IE", "IT", "LT", "LU", "LV", "MT", "NL", "PL", "PT", "RO", "SE", "SI", "SK",
    }
)  # fmt: skip

REGIONS: Mapping[str, frozenset[str]] = MappingProxyType(
    {
        "EU": _EU,
        # The European Economic Area: the EU plus Iceland, Liechtenstein and Norway.
        "EEA": _EU | {"IS", "LI", "NO"},
    }
)


def is_region(code: str) -> bool:
    return code == EVERYWHERE or code in REGIONS


def expand(codes: Iterable[str]) -> tuple[bool, frozenset[str]]:
    """(ships everywhere, the countries named directly or through a region)."""
    everywhere = False
    countries: set[str] = set()
    for code in codes:
        if code == EVERYWHERE:
            everywhere = True
        elif code in REGIONS:
            countries |= REGIONS[code]
        else:
            countries.add(code)
    return everywhere, frozenset(countries)
