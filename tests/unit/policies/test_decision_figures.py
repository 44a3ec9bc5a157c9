"""The scored candidates' figures as a decision records them (worked out column by column): each
one the raw value, the normalised value and the weighted contribution of `breakdown`, rounded
to 6 decimals, for shared, integer, unknown and differing values alike."""

import math

import pytest
from hypothesis import given
from hypothesis import strategies as st

from orchestration_policies.decision import (
    CandidateExplanation,
    CandidateStatus,
    Explanation,
    PlanExplanation,
    PlanStrategy,
    SearchMode,
    _candidate_dicts,
)
from orchestration_policies.policy import CRITERIA
from orchestration_policies.scoring import bounds_of

_PLAN = PlanExplanation(PlanStrategy.NONE, SearchMode.NONE, "", 0, None, 0, 0, ())
_VALUE = st.one_of(
    # Halves at the 6th decimal, and beyond the fast rounding's range (|x| x 1e6 >= 1e12).
    st.sampled_from([0, 1, 1.0, 2, 2.5, -0.0, 0.0, 1e-7, 3.0000005, 5e-7, 1.2345675, 2e6, -3e6]),
    st.floats(-1e6, 1e6, allow_nan=False),
    st.integers(-1000, 1000),
)


def _explanation(raws: list[tuple[float | None, ...]], weights: tuple[float, ...]) -> Explanation:
    scored = tuple(
        CandidateExplanation(
            f"src-{n:03d}",
            CandidateStatus.SCORED,
            raw=raw,
            total=0.5 + n,
            rank=n + 1,
            usable=(("RED-CHAIR", n + 1),),
        )
        for n, raw in enumerate(raws)
    )
    others = (
        CandidateExplanation("src-empty", CandidateStatus.NO_STOCK, detail="holds none"),
        CandidateExplanation("src-out", CandidateStatus.EXCLUDED, "paused", "paused by ops"),
    )
    columns = list(zip(*raws, strict=True)) if raws else [() for _ in CRITERIA]
    return Explanation(
        criteria=CRITERIA,
        weights=weights,
        bounds=tuple(bounds_of(list(c)) if c else None for c in columns),
        split_penalty=0.1,
        candidates=(*scored[:1], *others, *scored[1:]),  # in any order
        plan=_PLAN,
    )


def _rounded(value: float) -> float:
    return round(value, 6) + 0.0


@given(
    raws=st.lists(st.tuples(*[_VALUE] * len(CRITERIA)), max_size=30),
    weights=st.tuples(*[st.sampled_from([0.0, 0.25, 1.0, 3.0])] * len(CRITERIA)),
    unknown_distance=st.booleans(),
)
def test_each_scored_candidate_records_its_breakdown_rounded(
    raws: list[tuple[float, ...]], weights: tuple[float, ...], unknown_distance: bool
) -> None:
    given_raws: list[tuple[float | None, ...]] = [
        (None, *raw[1:]) if unknown_distance else raw for raw in raws
    ]
    explanation = _explanation(given_raws, weights)

    rows = _candidate_dicts(explanation)

    scored = [c for c in explanation.candidates if c.status is CandidateStatus.SCORED]
    by_id = {row["source_id"]: row for row in rows}
    assert [row["source_id"] for row in rows] == [c.source_id for c in explanation.candidates]
    for candidate in scored:
        row = by_id[candidate.source_id]
        breakdown = candidate.breakdown(explanation)
        assert row["raw"] == [None if s.raw is None else _rounded(float(s.raw)) for s in breakdown]
        assert row["normalised"] == [_rounded(s.normalised) for s in breakdown]
        assert row["contribution"] == [
            _rounded(s.contribution) if s.weight else 0.0 for s in breakdown
        ]
        assert all(math.copysign(1, x) == 1 for x in row["contribution"] + row["normalised"])
        assert row["rank"] == candidate.rank and row["usable"] == dict(candidate.usable)
    assert by_id["src-out"] == {
        "source_id": "src-out",
        "status": "excluded",
        "rule": "paused",
        "detail": "paused by ops",
    }
    assert by_id["src-empty"] == {
        "source_id": "src-empty",
        "status": "no_stock",
        "detail": "holds none",
        "usable": {},
    }


def test_a_scored_candidate_without_a_value_per_criterion_is_refused() -> None:
    explanation = _explanation([(1.0,) * len(CRITERIA)], (1.0,) * len(CRITERIA))
    short = explanation.candidates[0]._replace(raw=(1.0,) * (len(CRITERIA) - 1))
    broken = Explanation(
        explanation.criteria,
        explanation.weights,
        explanation.bounds,
        0.1,
        (short,),
        _PLAN,
    )

    with pytest.raises(ValueError):
        _candidate_dicts(broken)


def test_a_figure_that_is_not_a_finite_number_is_refused() -> None:
    raw = (float("nan"), *(1.0,) * (len(CRITERIA) - 1))
    explanation = _explanation([raw, (1.0,) * len(CRITERIA)], (1.0,) * len(CRITERIA))

    with pytest.raises(ValueError, match="not JSON compliant"):
        _candidate_dicts(explanation)
