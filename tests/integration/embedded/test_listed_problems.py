"""A payload wrong at thousands of fields: the answer and the kept rejection list the first
`MAX_LISTED_PROBLEMS` and count the rest, instead of one entry each (a 1 MB body of unknown
keys made a 9 MB answer and a 9 MB stored rejection)."""

from pathlib import Path

import orjson
import pytest

from schemas.problems import MAX_LISTED_PROBLEMS, MORE_PROBLEMS
from tests.contracts.factories import submission_dict
from tests.support.running_hub import Clock, running

UNKNOWN = 5_000


@pytest.mark.asyncio
async def test_thousands_of_unknown_fields_are_answered_and_kept_as_a_hundred_and_a_count(
    tmp_path: Path, clock: Clock
) -> None:
    body = submission_dict(external_id="WEB-MANY") | {f"x{i}": i for i in range(UNKNOWN)}
    async with running(tmp_path, clock) as (client, hub):
        answer = await client.post("/v1/orders", content=orjson.dumps(body))
        hub.deliver()
        kept = hub.rejected.search(channel=body["channel"])
        stored = hub.store.events_of(answer.json()["rejection_id"])

    assert answer.status_code == 422
    errors = answer.json()["errors"]
    assert len(errors) == MAX_LISTED_PROBLEMS + 1
    assert {e["code"] for e in errors[:-1]} == {"extra_forbidden"}
    assert errors[:3] == [
        {"field": f"x{i}", "message": "Extra inputs are not permitted", "code": "extra_forbidden"}
        for i in range(3)
    ]
    assert errors[-1]["code"] == MORE_PROBLEMS
    assert f"{UNKNOWN - MAX_LISTED_PROBLEMS:,} more" in errors[-1]["message"]
    (row,) = kept
    assert row.problems == stored[0].data["problems"] == errors
    assert len(orjson.dumps(stored[0].data)) < len(orjson.dumps(body)) + 30_000


@pytest.mark.asyncio
async def test_a_few_problems_are_all_listed(tmp_path: Path, clock: Clock) -> None:
    body = submission_dict(external_id="WEB-FEW") | {f"x{i}": i for i in range(3)}
    async with running(tmp_path, clock) as (client, _):
        answer = await client.post("/v1/orders", content=orjson.dumps(body))
    assert [e["field"] for e in answer.json()["errors"]] == ["x0", "x1", "x2"]
