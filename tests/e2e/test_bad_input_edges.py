"""Bad input from outside, embedded: never a 5xx, never lost, bounded. Each case was once a 500,
a submission lost, a body parsed before its sender was known, or a value that broke a view."""

import json
import time
from collections.abc import AsyncIterator
from pathlib import Path
from typing import Any

import httpx
import pytest
from openapi_spec_validator import validate

from tests.contracts.factories import submission_dict
from tests.e2e.test_channel_access import (
    ADMIN,
    PROBLEM_JSON,
    SOURCE_LYON,
    ManualClock,
    RateLimiter,
    bearer,
    issue_key,
    json_headers,
    order_body,
    register_channel,
    world,
)
from tests.support.running_hub import running

SECURED = {"auth_required": True, "admin_api_key": ADMIN["X-API-Key"]}


def assert_problem(response: httpx.Response, status: int) -> dict[str, Any]:
    assert response.status_code == status, response.text
    assert response.headers["content-type"] == PROBLEM_JSON
    assert response.headers["x-content-type-options"] == "nosniff"
    problem: dict[str, Any] = response.json()
    assert problem["status"] == status
    return problem


def fields(problem: dict[str, Any]) -> list[str]:
    return [e["field"] for e in problem["errors"]]


# --- path parameters ---------------------------------------------------------------------------

BAD_PATHS = {
    "a SKU outside its pattern": ("PUT", "/v1/stock/wh-lyon/%C3%A9", {"on_hand": 1}, "path.sku"),
    "a source id outside its pattern (stock)": (
        "GET",
        "/v1/stock/WH%20LYON/RED",
        None,
        "path.source_id",
    ),
    "a source id outside its pattern": ("GET", "/v1/sources/%C3%A9", None, "path.source_id"),
    "a source id outside its pattern (write)": (
        "PUT",
        "/v1/sources/Lyon!",
        SOURCE_LYON,
        "path.source_id",
    ),
    "a channel id outside its pattern": ("GET", "/v1/channels/%00", None, "path.channel_id"),
    "a policy version that is not a number": (
        "GET",
        "/v1/policies/p/versions/x",
        None,
        "path.version",
    ),
    "an exception id with a control character": (
        "POST",
        "/v1/ops/exceptions/%0A/resolve",
        {"note": "x"},
        "path.exception_id",
    ),
}


@pytest.mark.asyncio
async def test_a_path_parameter_that_fails_its_pattern_is_a_422_naming_it(tmp_path: Path) -> None:
    async with running(tmp_path) as (client, _):
        for case, (method, path, body, field) in BAD_PATHS.items():
            response = await client.request(method, path, json=body)

            problem = assert_problem(response, 422)
            assert field in fields(problem), case


# --- identifiers: lone surrogates, controls, bidi overrides ------------------------------------


def with_external_id(escaped: str) -> str:
    """An order body whose external_id is written with JSON escapes, as a channel might."""
    return order_body("shop-a", "PLACEHOLDER").replace('"PLACEHOLDER"', f'"{escaped}"')


@pytest.mark.parametrize(
    ("escaped", "code"),
    [
        ("\\ud800", "string_unicode"),
        ("A-\\u0000-1", "invisible_character"),
        ("A-\\u202e-1", "invisible_character"),
        ("A-\\u200b-1", "invisible_character"),
        ("A-\\u0007-1", "invisible_character"),
    ],
    ids=["lone surrogate", "NUL", "RIGHT-TO-LEFT OVERRIDE", "zero-width space", "BEL"],
)
@pytest.mark.asyncio
async def test_an_external_id_with_an_unwritable_or_hidden_character_is_refused_and_kept(
    tmp_path: Path, escaped: str, code: str
) -> None:
    async with world(tmp_path) as w:
        body = with_external_id(escaped)

        response = await w.client.post(
            "/v1/orders", content=body, headers=json_headers(w.as_("shop-a"))
        )

        problem = assert_problem(response, 422)
        assert [(e["field"], e["code"]) for e in problem["errors"]] == [("external_id", code)]
        listed = await w.client.get("/v1/submissions/rejected", headers=w.as_("shop-a"))
        kept = {r["id"]: r for r in listed.json()}[problem["rejection_id"]]
        assert kept["raw_payload"] == body  # exactly the bytes sent (the escapes are text)
        assert kept["problems"][0]["field"] == "external_id"


@pytest.mark.asyncio
async def test_a_fulfillment_update_with_a_lone_surrogate_is_parked_not_a_500(
    tmp_path: Path,
) -> None:
    async with running(tmp_path) as (client, _):
        body = json.dumps(
            {
                "order_id": "00000000-0000-4000-8000-000000000000",
                "shipment_id": "SHP-1",
                "source_id": "wh\ud800",
                "kind": "accepted",
                "at": "2026-11-20T09:00:00Z",
            }
        )  # json.dumps writes the surrogate as the escape \ud800

        response = await client.post(
            "/v1/fulfillment/updates", content=body, headers={"content-type": "application/json"}
        )

        problem = assert_problem(response, 422)
        assert "source_id" in fields(problem)
        listed = (await client.get("/v1/submissions/rejected")).json()
        assert [r["raw_payload"] for r in listed] == [body]
        assert listed[0]["channel"] == "source:wh\\ud800"  # written out, recognisably


# --- implausible values ------------------------------------------------------------------------


@pytest.mark.asyncio
async def test_implausible_times_and_quantities_are_refused_at_the_edge_naming_the_field(
    tmp_path: Path,
) -> None:
    async with running(tmp_path) as (client, _):
        assert (await client.put("/v1/sources/wh-lyon", json=SOURCE_LYON)).status_code == 201
        orders = {
            "placed_at": submission_dict(external_id="T-1", placed_at="9999-12-31T00:00:00Z"),
            "placed_at ": submission_dict(external_id="T-2", placed_at="0001-01-02T00:00:00Z"),
            "lines.0.quantity": submission_dict(
                external_id="T-3",
                lines=[{"line_id": "1", "sku": "RED", "quantity": 2**63, "unit_price": "1"}],
            ),
        }
        for field, order in orders.items():
            problem = assert_problem(await client.post("/v1/orders", json=order), 422)
            assert field.strip() in fields(problem)
        for count in (2**63, 10**9 + 1):
            response = await client.put("/v1/stock/wh-lyon/RED", json={"on_hand": count})
            assert "body.on_hand" in fields(assert_problem(response, 422))
        adjust = {"source_id": "wh-lyon", "sku": "RED", "delta": -(2**63), "reason": "typo"}
        response = await client.post("/v1/stock/adjustments", json=adjust)
        assert "body.delta" in fields(assert_problem(response, 422))
        source = {**SOURCE_LYON, "daily_capacity": 2**63}
        response = await client.put("/v1/sources/wh-lyon", json=source)
        assert "body.daily_capacity" in fields(assert_problem(response, 422))

        # The largest documented count is taken, and read back.
        response = await client.put("/v1/stock/wh-lyon/RED", json={"on_hand": 10**9})
        assert response.status_code == 200, response.text
        assert response.json()["on_hand"] == 10**9


# --- bounded parsing ---------------------------------------------------------------------------


@pytest.mark.parametrize(
    ("document", "message"),
    [
        # Our own depth check, or LibYAML's own (the one in PyYAML 6.0.4's wheels stops at 1,000
        # levels while scanning, before our check sees the events).
        ("[" * 10_000 + "]" * 10_000, "nest"),
        ("id: p\nversion: " + "9" * 5000 + "\n", "cannot be read"),
        (
            "a: &a [x, x, x, x, x, x, x, x, x, x]\n"
            + "".join(
                f"{b}: &{b} [{', '.join([f'*{a}'] * 10)}]\n"
                for a, b in zip("abcdefg", "bcdefgh", strict=True)
            ),
            "more than",
        ),
    ],
    ids=["nested 10,000 deep", "an integer of 5,000 digits", "a billion laughs"],
)
@pytest.mark.asyncio
async def test_an_absurd_policy_document_is_a_422_in_bounded_time(
    tmp_path: Path, document: str, message: str
) -> None:
    async with running(tmp_path) as (client, _):
        started = time.process_time()
        response = await client.post(
            "/v1/policies/validate",
            content=document,
            headers={"content-type": "application/yaml"},
        )
        spent = time.process_time() - started

        problem = assert_problem(response, 422)
        assert message in problem["errors"][0]["message"]
        assert spent < 5  # it was ~10 s of CPU, then a 500; generous for a shared machine


@pytest.mark.asyncio
async def test_a_csv_upload_with_100000_header_columns_is_a_400_naming_the_header(
    tmp_path: Path,
) -> None:
    async with running(tmp_path) as (client, _):
        await client.put(
            "/v1/channels/b2b-csv",
            json={"channel_id": "b2b-csv", "name": "B2B", "kind": "b2b", "format": "csv"},
        )
        header = ",".join(["external_id", *(f"c{n}" for n in range(100_000))]) + "\n"

        response = await client.post(
            "/v1/intake/csv",
            params={"channel": "b2b-csv"},
            content=header + "A-1" + "," * 100_000 + "\n",
            headers={"content-type": "text/csv"},
        )

        problem = assert_problem(response, 400)
        assert "100001 columns" in problem["detail"]


@pytest.mark.asyncio
async def test_json_nested_deeper_than_the_limit_is_a_400_on_every_json_route(
    tmp_path: Path,
) -> None:
    async with running(tmp_path) as (client, _):
        deep = '{"reason": ' + "[" * 40 + "]" * 40 + "}"
        for path in (
            "/v1/orders",
            "/v1/keys",
            f"/v1/orders/{'0' * 8}-0000-4000-8000-{'0' * 12}/cancel",
        ):
            response = await client.post(
                path, content=deep, headers={"content-type": "application/json"}
            )
            problem = assert_problem(response, 400)
            assert [e["code"] for e in problem["errors"]] == ["too_deep"], path
        # Brackets inside strings are text, not nesting.
        brackets = submission_dict(external_id="[" * 100)
        response = await client.post("/v1/orders", json=brackets)
        assert response.status_code == 202, response.text


# --- size, content type and who is asking, before the body -------------------------------------


class Unending:
    """A request body that would run to `megabytes`, counting what the server pulled of it."""

    def __init__(self, megabytes: int) -> None:
        self.chunks = megabytes * 16
        self.pulled = 0

    async def __aiter__(self) -> AsyncIterator[bytes]:
        for _ in range(self.chunks):
            self.pulled += 1
            yield b" " * 65_536


@pytest.mark.parametrize(
    "path", ["/v1/keys", "/v1/orders", "/v1/stock/adjustments", "/v1/policies/validate"]
)
@pytest.mark.asyncio
async def test_a_huge_body_without_a_credential_is_a_401_before_it_is_read(
    tmp_path: Path, path: str
) -> None:
    async with running(tmp_path, **SECURED) as (client, _):
        body = Unending(megabytes=60)

        response = await client.post(
            path, content=body, headers={"content-type": "application/json"}
        )

        assert_problem(response, 401)
        assert body.pulled <= 1


@pytest.mark.parametrize(
    ("path", "body"),
    [
        ("/v1/keys", {"role": "admin", "label": "x" * 3000}),
        ("/v1/orders/00000000-0000-4000-8000-000000000000/cancel", {"reason": "x" * 3000}),
        ("/v1/sources/wh-lyon/pause", {"reason": "x" * 3000}),
    ],
)
@pytest.mark.parametrize("streamed", [False, True], ids=["with content-length", "chunked"])
@pytest.mark.asyncio
async def test_a_body_over_the_limit_is_a_413_on_routes_whose_body_is_a_model(
    tmp_path: Path, path: str, body: dict[str, Any], streamed: bool
) -> None:
    async with running(tmp_path, max_body_bytes=2048, **SECURED) as (client, hub):
        position = hub.store.max_position()
        raw = json.dumps(body).encode()

        async def chunks() -> AsyncIterator[bytes]:
            for start in range(0, len(raw), 512):
                yield raw[start : start + 512]

        response = await client.post(
            path,
            content=chunks() if streamed else raw,
            headers={**ADMIN, "content-type": "application/json"},
        )

        assert_problem(response, 413)
        assert hub.store.max_position() == position


@pytest.mark.parametrize(
    ("path", "content_type"),
    [
        ("/v1/orders", "text/plain"),
        ("/v1/keys", "application/x-www-form-urlencoded"),
        ("/v1/stock/wh-lyon/RED", "text/csv"),
        ("/v1/policies/validate", "application/xml"),
    ],
)
@pytest.mark.asyncio
async def test_a_body_of_another_content_type_is_a_415_naming_the_accepted_ones(
    tmp_path: Path, path: str, content_type: str
) -> None:
    async with running(tmp_path) as (client, _):
        method = "PUT" if path.startswith("/v1/stock") else "POST"

        response = await client.request(
            method, path, content=b'{"on_hand": 1}', headers={"content-type": content_type}
        )

        problem = assert_problem(response, 415)
        assert fields(problem) == ["Content-Type"]
        assert response.headers["accept"]


@pytest.mark.asyncio
async def test_every_answer_says_nosniff_the_raw_payload_included(tmp_path: Path) -> None:
    async with world(tmp_path) as w:
        raw = await w.client.get(f"/v1/orders/{w.orders['shop-a']}/raw", headers=w.as_("shop-a"))
        health = await w.client.get("/healthz")

        assert raw.status_code == 200
        assert raw.headers["x-content-type-options"] == "nosniff"
        assert health.headers["x-content-type-options"] == "nosniff"


# --- rate: checked first, charged per item -----------------------------------------------------


@pytest.mark.asyncio
async def test_a_bulk_payload_is_charged_per_item_refused_ones_included_and_checked_first(
    tmp_path: Path,
) -> None:
    clock = ManualClock()
    async with world(tmp_path, limiter=RateLimiter(clock=clock)) as w:
        await register_channel(w.client, "shop-bulk", rate_limit_per_minute=60)
        key = bearer(await issue_key(w.client, "channel", "shop-bulk"))
        invalid = [{**submission_dict(external_id=f"Z-{n}"), "lines": []} for n in range(300)]
        for order in invalid:
            del order["channel"]

        first = await w.client.post("/v1/intake/canonical", json=invalid, headers=key)
        position = w.hub.store.max_position()
        second = await w.client.post("/v1/intake/canonical", json=invalid, headers=key)

        assert first.status_code == 200, first.text
        assert [r["outcome"] for r in first.json()["results"]] == ["rejected"] * 300
        # One a second: 300 refused items cost 300 tokens, so the next payload waits ~5 minutes.
        problem = assert_problem(second, 429)
        assert problem["type"] == "/problems/rate-limited"
        assert 250 <= int(second.headers["retry-after"]) <= 300
        assert w.hub.store.max_position() == position  # refused before its items were read


# --- the OpenAPI document ----------------------------------------------------------------------


def _refs(value: Any) -> set[str]:
    if isinstance(value, dict):
        found = {value["$ref"]} if isinstance(value.get("$ref"), str) else set()
        return found.union(*(_refs(v) for v in value.values()))
    if isinstance(value, list):
        return set().union(*(_refs(v) for v in value))
    return set()


@pytest.mark.asyncio
async def test_the_openapi_document_is_valid_and_documents_every_problem_answer(
    tmp_path: Path,
) -> None:
    async with running(tmp_path) as (client, _):
        document = (await client.get("/openapi.json")).json()

    validate(document)
    components = document["components"]["schemas"]
    assert {ref.removeprefix("#/components/schemas/") for ref in _refs(document)} <= set(components)
    for path, operations in document["paths"].items():
        if not path.startswith("/v1/"):
            continue
        for method, operation in operations.items():
            responses = operation["responses"]
            expected = {"401", "403", "422", "429"}
            if "requestBody" in operation:
                expected |= {"400", "413", "415"}
            if method != "get":
                expected |= {"404", "409"}
            assert expected <= set(responses), (method, path)
            for code in expected:
                content = responses[code]["content"]
                assert content == {
                    PROBLEM_JSON: {"schema": {"$ref": "#/components/schemas/Problem"}}
                }


@pytest.mark.asyncio
async def test_an_unknown_status_or_exception_kind_in_a_search_is_a_422_not_an_empty_page(
    tmp_path: Path,
) -> None:
    async with running(tmp_path) as (client, _):
        misspelt = await client.get("/v1/ops/orders", params={"status": ["routed", "shiped"]})
        known = await client.get("/v1/ops/orders", params={"status": ["routed", "shipped"]})

        assert "query.status.1" in fields(assert_problem(misspelt, 422))
        assert known.status_code == 200, known.text
        odd_kind = await client.get("/v1/ops/exceptions", params={"kind": "unroutabel"})
        kind = await client.get("/v1/ops/exceptions", params={"kind": "unroutable"})
        assert "query.kind.0" in fields(assert_problem(odd_kind, 422))
        assert kind.status_code == 200, kind.text
