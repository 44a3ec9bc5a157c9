"""`POST /v1/orders` is served ahead of the router (`hub.api.capture_path`): every answer must be
the one the FastAPI route gives. The same requests, in the same order, go to an app as served
and to one without the fast path (each on a fresh hub); status, headers that matter and bodies
must be equal (ids a hub makes up itself compared by presence)."""

import asyncio
import json
from contextlib import asynccontextmanager
from pathlib import Path
from typing import Any

import httpx
import pytest

from hub.api.app import create_app
from hub.api.capture_path import CaptureFastPath
from hub.api.ratelimit import RateLimiter
from tests.contracts.factories import NOW, fixed_clock, submission_dict
from tests.support.running_hub import embedded_hub, serving

ADMIN_KEY = "bootstrap-admin-5f0c2e-9a7d41b26c0e83f5"
ADMIN = {"X-API-Key": ADMIN_KEY}
JSON = {"content-type": "application/json"}
# Headers an answer of this route may carry; each must be equal on both paths.
KEPT_HEADERS = (
    "content-type",
    "location",
    "retry-after",
    "www-authenticate",
    "accept",
    "x-content-type-options",
)


def order(external_id: str, **changes: Any) -> bytes:
    fields = {"channel": "shop-a", "external_id": external_id, **changes}
    return json.dumps(submission_dict(**fields)).encode()


def without(data: dict[str, Any], key: str) -> bytes:
    return json.dumps({k: v for k, v in data.items() if k != key}).encode()


# (name, headers by who is asking, body); the keys are each hub's own, named here.
CASES: list[tuple[str, str | None, dict[str, str], bytes]] = [
    ("new order", "admin", JSON, order("F-1")),
    ("the same again: 200", "admin", JSON, order("F-1")),
    ("same id, other content: 409", "admin", JSON, order("F-1", currency="USD")),
    ("the channel's own key", "shop-a", JSON, order("F-2")),
    ("the channel's key over its rate: 429", "shop-a", JSON, order("F-3")),
    ("another channel's order: 403", "shop-b", JSON, order("F-4")),
    ("a role without orders:submit: 403", "auditor", JSON, order("F-5")),
    ("no key: 401", None, JSON, order("F-6")),
    ("a wrong key: 401", "wrong", JSON, order("F-7")),
    ("not JSON: 400", "admin", JSON, b'{"channel": "shop-a",'),
    ("not UTF-8: 400", "admin", JSON, b'{"channel": "\xff"}'),
    ("a JSON array: 422", "admin", JSON, b"[1, 2]"),
    ("wrong types: 422", "admin", JSON, order("F-8", lines="many", placed_at=7)),
    ("a missing field: 422", "admin", JSON, without(submission_dict(external_id="F-9"), "lines")),
    ("an unknown channel", "admin", JSON, order("F-10", channel="no-such-channel")),
    ("nested too deep: 400", "admin", JSON, b"[" * 40 + b"]" * 40),
    ("too large: 413", "admin", JSON, b'{"x": "' + b"a" * 300_000 + b'"}'),
    ("not JSON by its type: 415", "admin", {"content-type": "text/csv"}, order("F-11")),
    ("no body: 400", "admin", {}, b""),
]


def credentials(who: str | None, keys: dict[str, str]) -> dict[str, str]:
    if who is None:
        return {}
    if who == "wrong":
        return {"X-API-Key": ADMIN_KEY + "x"}
    return ADMIN if who == "admin" else {"Authorization": f"Bearer {keys[who]}"}


@asynccontextmanager
async def hub_app(data_dir: Path, fast: bool) -> Any:
    hub = embedded_hub(
        data_dir,
        fixed_clock(NOW),
        auth_required=True,
        admin_api_key=ADMIN_KEY,
        max_body_bytes=200_000,
    )
    try:
        app = create_app(hub)
        app.state.rate_limiter = RateLimiter(clock=lambda: 0.0)  # time stands still: one token
        if not fast:
            app.user_middleware = [m for m in app.user_middleware if m.cls is not CaptureFastPath]
        async with serving(app) as client:
            yield client
    finally:
        hub.close()


async def keys_of(client: httpx.AsyncClient) -> dict[str, str]:
    keys = {}
    for channel in ("shop-a", "shop-b"):
        definition = {
            "channel_id": channel,
            "name": f"Web shop {channel}",
            "kind": "web",
            "format": "canonical",
            "rate_limit_per_minute": 6,  # a bucket of one request
        }
        put = await client.put(f"/v1/channels/{channel}", json=definition, headers=ADMIN)
        assert put.status_code == 201, put.text
    for role, channel in (("channel", "shop-a"), ("channel", "shop-b"), ("auditor", None)):
        body = {"role": role, "channel_id": channel, "label": f"{channel or role} key"}
        issued = await client.post("/v1/keys", json=body, headers=ADMIN)
        assert issued.status_code == 201, issued.text
        keys[channel or role] = issued.json()["api_key"]
    return keys


async def decided(client: httpx.AsyncClient, response: httpx.Response) -> None:
    """After a 202, the order's first decision waited for: a duplicate answers the order's
    status at that moment, which routing (another process) would otherwise race."""
    if response.status_code != 202:
        return
    for _ in range(200):
        status = (await client.get(response.headers["location"], headers=ADMIN)).json()["status"]
        if status != "accepted":
            return
        await asyncio.sleep(0.05)
    raise AssertionError(f"{response.headers['location']} not decided within 10 s")


def seen(response: httpx.Response) -> tuple[int, dict[str, str], Any]:
    headers = {h: response.headers[h] for h in KEPT_HEADERS if h in response.headers}
    body: Any = response.json() if response.content else None
    if isinstance(body, dict) and "rejection_id" in body:  # made up by each hub
        body = {**body, "rejection_id": bool(body["rejection_id"])}
    return response.status_code, headers, body


@pytest.mark.asyncio
async def test_the_fast_path_answers_every_capture_as_the_fastapi_route_does(
    tmp_path: Path,
) -> None:
    answers: dict[bool, list[tuple[int, dict[str, str], Any]]] = {}
    for fast in (True, False):
        async with hub_app(tmp_path / str(fast), fast) as client:
            keys = await keys_of(client)
            answers[fast] = []
            for _, who, headers, body in CASES:
                response = await client.post(
                    "/v1/orders", content=body, headers={**credentials(who, keys), **headers}
                )
                answers[fast].append(seen(response))
                await decided(client, response)

    for (name, *_), fast, routed in zip(CASES, answers[True], answers[False], strict=True):
        assert fast == routed, name
    statuses = {name: answer[0] for (name, *_), answer in zip(CASES, answers[True], strict=True)}
    assert statuses["new order"] == 202 and statuses["the same again: 200"] == 200
    for name, status in statuses.items():  # the table says what each case is for
        if name.endswith(f": {status}") is False and ": " in name:
            raise AssertionError(f"{name} answered {status}")
    assert all(status < 500 for status in statuses.values())


@pytest.mark.asyncio
async def test_what_the_fast_path_does_not_take_goes_on_to_the_router(tmp_path: Path) -> None:
    async with hub_app(tmp_path, fast=True) as client:
        listed = await client.get("/v1/orders", headers=ADMIN)
        slash = await client.post("/v1/orders/", content=order("S-1"), headers={**ADMIN, **JSON})
        put = await client.put("/v1/orders", content=order("S-2"), headers={**ADMIN, **JSON})
        document = (await client.get("/openapi.json")).json()

    assert listed.status_code == 405 and "POST" in listed.headers["allow"]
    assert slash.status_code in (307, 404, 405)  # the router's answer, not a capture
    assert put.status_code == 405
    assert "post" in document["paths"]["/v1/orders"]  # the FastAPI route still documents it


@pytest.mark.asyncio
async def test_a_request_fastapis_telemetry_follows_goes_the_routers_way() -> None:
    reached: list[str] = []

    async def router(scope: Any, receive: Any, send: Any) -> None:
        reached.append(scope["path"])

    async def nothing() -> Any:
        raise AssertionError("the body is not read on the way to the router")

    async def no_send(message: Any) -> None:
        raise AssertionError("nothing is answered on the way to the router")

    scope = {"type": "http", "method": "POST", "path": "/v1/orders", "root_path": ""}
    await CaptureFastPath(router)({**scope, "fastapi.telemetry": object()}, nothing, no_send)
    assert reached == ["/v1/orders"]
