"""The capture route reads its caller itself (`hub.api.deps.caller_of`), not through FastAPI's
dependencies: what it takes from the headers, and what its document says it takes, must stay
what the dependencies give every other route."""

import json
from pathlib import Path
from typing import Any

import pytest

from aggregates import order_id_for
from schemas.event_types import EventType
from tests.contracts.factories import submission_dict
from tests.support.running_hub import running

JSON = {"content-type": "application/json"}


def placed_event(hub: Any, channel: str, external_id: str) -> Any:
    order_id = str(order_id_for(channel, external_id))
    return next(
        env
        for _, env in hub.store.read_envelopes(None, 10_000)
        if env.subject == order_id and env.type == EventType.ORDER_PLACED
    )


def body(external_id: str) -> str:
    return json.dumps(submission_dict(channel="shop-a", external_id=external_id))


@pytest.mark.asyncio
async def test_the_capture_route_documents_the_same_caller_headers_as_the_dependency_routes(
    tmp_path: Path,
) -> None:
    async with running(tmp_path) as (client, _):
        document = (await client.get("/openapi.json")).json()

    capture = document["paths"]["/v1/orders"]["post"]["parameters"]
    status = document["paths"]["/v1/orders/{order_id}"]["get"]["parameters"]
    headers = [p for p in status if p["in"] == "header"]  # what Depends(get_principal) documents
    assert capture == headers
    assert [p["name"] for p in capture] == ["authorization", "x-api-key", "x-actor"]


@pytest.mark.asyncio
async def test_a_capture_records_the_callers_correlation_id_else_a_new_one_each_time(
    tmp_path: Path,
) -> None:
    async with running(tmp_path) as (client, hub):
        given = await client.post(
            "/v1/orders",
            content=body("C-1"),
            headers={**JSON, "X-Correlation-Id": "corr-from-caller"},
        )
        fresh = [
            await client.post("/v1/orders", content=body(f"C-{n}"), headers=JSON) for n in (2, 3)
        ]

        assert [r.status_code for r in (given, *fresh)] == [202, 202, 202]
        placed = placed_event(hub, "shop-a", "C-1")
        assert placed.correlationid == "corr-from-caller"
        made = [placed_event(hub, "shop-a", f"C-{n}").correlationid for n in (2, 3)]
        assert len(set(made)) == 2 and all(len(c) == 36 for c in made)  # a new UUID each


@pytest.mark.asyncio
async def test_a_capture_without_a_key_when_auth_is_required_is_a_401_and_records_nothing(
    tmp_path: Path,
) -> None:
    async with running(tmp_path, auth_required=True) as (client, hub):
        # No body: the front door lets it through, so the route's own check answers.
        bare = await client.post("/v1/orders")
        with_body = await client.post("/v1/orders", content=body("C-9"), headers=JSON)

        assert (bare.status_code, with_body.status_code) == (401, 401)
        assert bare.headers["www-authenticate"] == "Bearer"
        recorded = [env.type for _, env in hub.store.read_envelopes(None, 10_000)]
        assert EventType.ORDER_PLACED not in recorded
