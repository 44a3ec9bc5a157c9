"""A rejection lists up to `MAX_LISTED_PROBLEMS` problems and counts the rest, whoever found
them (pydantic through `field_problems`, a channel's adapter)."""

from hub.services.intake import RejectSubmission
from schemas.problems import MAX_LISTED_PROBLEMS, MORE_PROBLEMS, listed_dicts


def _problems(n: int) -> list[dict[str, str]]:
    return [{"field": f"lines.{i}.sku", "message": "unknown", "code": "value"} for i in range(n)]


def _rejection(problems: list[dict[str, str]]) -> RejectSubmission:
    return RejectSubmission("edi", "ISA*...", "x12", "invalid_submission", list(problems), "a")


def test_an_adapters_many_problems_are_kept_as_the_first_and_a_count() -> None:
    kept = _rejection(_problems(250)).problems
    assert kept[:MAX_LISTED_PROBLEMS] == _problems(MAX_LISTED_PROBLEMS)
    assert kept[-1]["code"] == MORE_PROBLEMS and "150 more" in kept[-1]["message"]
    assert len(kept) == MAX_LISTED_PROBLEMS + 1


def test_a_listed_list_is_not_counted_again_and_a_short_one_is_untouched() -> None:
    once = listed_dicts(_problems(5_000))
    assert listed_dicts(once) == once and "4,900 more" in once[-1]["message"]
    assert _rejection(_problems(MAX_LISTED_PROBLEMS)).problems == _problems(MAX_LISTED_PROBLEMS)
