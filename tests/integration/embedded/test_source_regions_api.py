"""A source's ships_to through the API: an unknown destination is a field-level 422."""

from typing import Any

import httpx
import pytest

from hub.bootstrap import Hub
from tests.contracts.factories import source_body


@pytest.mark.asyncio
async def test_the_api_refuses_an_unknown_destination_with_a_field_level_422(
    running_hub: tuple[httpx.AsyncClient, Hub],
) -> None:
    client, _ = running_hub
    body: dict[str, Any] = source_body("wh-1", ships_to=["FR", "XYZ"])
    response = await client.put("/v1/sources/wh-1", json=body)
    accepted = await client.put("/v1/sources/wh-1", json=source_body("wh-1", ships_to=["*", "EU"]))

    assert response.status_code == 422
    assert response.headers["content-type"] == "application/problem+json"
    (problem,) = response.json()["errors"]
    assert problem["field"].endswith("ships_to.1")
    assert "'XYZ' is not an ISO 3166-1 alpha-2 country code" in problem["message"]
    assert accepted.status_code == 201
    assert accepted.json()["definition"]["ships_to"] == ["*", "EU"]
