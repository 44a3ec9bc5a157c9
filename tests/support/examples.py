"""How many examples a property test runs: its own weight, scaled by the active hypothesis profile.

A test says how much it matters relative to the others (``@settings(max_examples=examples(300))``);
the profile says how thorough the run is. Two profiles:

- ``ci``, hypothesis's own (100 examples, derandomized, no deadline, no example database),
  loaded under ``CI=true``: every test runs its full weight, as before the profiles existed.
- ``dev``, the default elsewhere: a tenth of the examples (at least 10), so that
  ``pytest tests/unit`` finishes in seconds. A failure found once is still replayed first on
  the next run from the local example database (``.hypothesis/``).

``HYPOTHESIS_PROFILE=ci`` (or ``dev``) picks one by name; pytest's ``--hypothesis-profile``
overrides both. Neither profile has a deadline: speed is measured in benchmarks, never asserted
in tests, and a shared machine would make a per-example time limit flaky.
"""

from __future__ import annotations

import os

from hypothesis import settings

from tests.harness.services import under_ci

FULL = 100  # hypothesis's own max_examples: the profile at which a test runs its full weight
FLOOR = 10  # fewer examples than this find too little to be worth running

settings.register_profile("dev", max_examples=FULL // 10, deadline=None)


def load_profile() -> str:
    """Loads the profile the environment asks for and returns its name."""
    name = os.environ.get("HYPOTHESIS_PROFILE", "").strip() or ("ci" if under_ci() else "dev")
    settings.load_profile(name)
    return name


def examples(weight: int) -> int:
    """``weight`` examples under the full profile; the same share of the active profile's."""
    active = settings.default.max_examples
    return max(min(weight, FLOOR), weight * active // FULL)
