"""Who may see and do what, embedded: channel keys see their own orders only (another channel's
order is a 404, exactly like an unknown one), staff roles read everything, writes need their
scope, keys are checked and revocable, and each channel is held to its rate and body size."""

import hashlib
import json
from collections.abc import AsyncIterator, Callable
from contextlib import asynccontextmanager
from dataclasses import dataclass
from pathlib import Path
from typing import Any
from uuid import uuid4

import httpx
import pytest

from aggregates import order_id_for
from hub.api.ratelimit import RateLimiter
from hub.bootstrap import Hub
from schemas.event_types import EventFamily, EventType
from tests.contracts.factories import submission_dict
from tests.support.running_hub import decided, running

PROBLEM_JSON = "application/problem+json"
# What the operator sets as ORDERHUB_ADMIN_API_KEY to issue the first keys.
BOOTSTRAP_ADMIN_KEY = "bootstrap-admin-7c1e9d-4b52a8f03e6d91c7"
ACCEPTED_OR_LATER = {"accepted", "held", "routed", "backordered", "unroutable"}
CHANNELS = ("shop-a", "shop-b")
STAFF = ("ops", "auditor", "admin")
READERS = (*CHANNELS, *STAFF)
DEFAULT_POLICY = (
    Path(__file__).resolve().parents[2] / "orchestration_policies" / "default_policy.yaml"
)
SOURCE_LYON = {
    "source_id": "wh-lyon",
    "name": "Lyon DC",
    "kind": "warehouse",
    "lat": 45.75,
    "lon": 4.85,
    "country": "FR",
    "ships_to": ["FR", "BE"],
    "delivery_methods": ["standard", "express"],
    "daily_capacity": 500,
    "lead_time_days": 1,
    "cost": {"base": "4.50", "per_unit": "0.40", "per_km": "0.01", "currency": "EUR"},
}


def sees(reader: str, channel: str) -> bool:
    """The README's rule: a channel key reads its own channel; ops, auditor and admin all."""
    return reader in STAFF or reader == channel


def channel_definition(channel_id: str, **changes: Any) -> dict[str, Any]:
    return {
        "channel_id": channel_id,
        "name": f"Web shop {channel_id}",
        "kind": "web",
        "format": "canonical",
        **changes,
    }


def order_body(channel: str, external_id: str, **changes: Any) -> str:
    # Indented, so that the raw payload is recognisably the one sent and not a re-serialisation.
    return json.dumps(
        submission_dict(channel=channel, external_id=external_id, **changes), indent=2
    )


def a_zero_quantity_line() -> list[dict[str, Any]]:
    return [{"line_id": "1", "sku": "RED-CHAIR", "quantity": 0, "unit_price": "19.90"}]


def json_headers(headers: dict[str, str]) -> dict[str, str]:
    return {**headers, "content-type": "application/json"}


ADMIN = {"X-API-Key": BOOTSTRAP_ADMIN_KEY}


async def register_channel(client: httpx.AsyncClient, channel_id: str, **changes: Any) -> None:
    response = await client.put(
        f"/v1/channels/{channel_id}", json=channel_definition(channel_id, **changes), headers=ADMIN
    )
    assert response.status_code == 201, response.text


async def issue_key(
    client: httpx.AsyncClient, role: str, channel_id: str | None = None
) -> dict[str, Any]:
    body = {"role": role, "channel_id": channel_id, "label": f"{channel_id or role} key"}
    response = await client.post("/v1/keys", json=body, headers=ADMIN)
    assert response.status_code == 201, response.text
    return dict(response.json())


def bearer(key: dict[str, Any]) -> dict[str, str]:
    return {"Authorization": f"Bearer {key['api_key']}"}


@dataclass
class World:
    """Two canonical channels, an order and a refused submission from each, and five keys."""

    client: httpx.AsyncClient
    hub: Hub
    keys: dict[str, dict[str, Any]]
    orders: dict[str, str]  # channel → its order id
    raw: dict[str, bytes]  # channel → the order's payload as sent
    rejections: dict[str, str]  # channel → its rejection id

    def as_(self, who: str) -> dict[str, str]:
        return bearer(self.keys[who])


@asynccontextmanager
async def world(data_dir: Path, **settings: Any) -> AsyncIterator[World]:
    settings = {"auth_required": True, "admin_api_key": BOOTSTRAP_ADMIN_KEY, **settings}
    async with running(data_dir, **settings) as (client, hub):
        keys: dict[str, dict[str, Any]] = {}
        for channel in CHANNELS:
            await register_channel(client, channel)
            keys[channel] = await issue_key(client, "channel", channel)
        for role in STAFF:
            keys[role] = await issue_key(client, role)
        assert (await client.put("/v1/sources/wh-lyon", json=SOURCE_LYON, headers=ADMIN)).is_success
        orders, raw, rejections = {}, {}, {}
        for channel, external_id in (("shop-a", "A-1001"), ("shop-b", "B-2001")):
            raw[channel] = order_body(channel, external_id).encode()
            placed = await client.post(
                "/v1/orders", content=raw[channel], headers=json_headers(bearer(keys[channel]))
            )
            assert placed.status_code == 202, placed.text
            orders[channel] = placed.json()["order_id"]
            await decided(client, orders[channel], headers=ADMIN)  # routing runs after it
            refused = await client.post(
                "/v1/orders",
                content=order_body(channel, f"{external_id}-X", lines=a_zero_quantity_line()),
                headers=json_headers(bearer(keys[channel])),
            )
            assert refused.status_code == 422, refused.text
            rejections[channel] = refused.json()["rejection_id"]
        yield World(client, hub, keys, orders, raw, rejections)


def without_ids(problem: dict[str, Any], *ids: str) -> str:
    text = json.dumps(problem, sort_keys=True)
    for ident in ids:
        text = text.replace(ident, "<id>")
    return text


# --- reading orders ----------------------------------------------------------------------------

ORDER_READS = {
    "order": "",
    "decision": "/decision",
    "decisions": "/decisions",
    "raw": "/raw",
}


@pytest.mark.parametrize("suffix", list(ORDER_READS.values()), ids=list(ORDER_READS))
@pytest.mark.asyncio
async def test_a_channel_key_reads_only_its_own_orders_and_staff_read_every_order(
    tmp_path: Path, suffix: str
) -> None:
    async with world(tmp_path) as w:
        observed = {
            (reader, channel): (
                await w.client.get(f"/v1/orders/{w.orders[channel]}{suffix}", headers=w.as_(reader))
            ).status_code
            for reader in READERS
            for channel in CHANNELS
        }

        expected = {
            (reader, channel): 200 if sees(reader, channel) else 404
            for reader in READERS
            for channel in CHANNELS
        }
        assert observed == expected


@pytest.mark.parametrize("suffix", list(ORDER_READS.values()), ids=list(ORDER_READS))
@pytest.mark.asyncio
async def test_another_channels_order_answers_exactly_like_an_order_that_does_not_exist(
    tmp_path: Path, suffix: str
) -> None:
    async with world(tmp_path) as w:
        unknown = str(uuid4())
        hidden = await w.client.get(
            f"/v1/orders/{w.orders['shop-b']}{suffix}", headers=w.as_("shop-a")
        )
        missing = await w.client.get(f"/v1/orders/{unknown}{suffix}", headers=w.as_("shop-a"))

        assert (hidden.status_code, hidden.headers["content-type"]) == (404, PROBLEM_JSON)
        assert without_ids(hidden.json(), w.orders["shop-b"]) == without_ids(
            missing.json(), unknown
        )


@pytest.mark.asyncio
async def test_readers_who_may_see_an_order_get_its_status_decision_and_exact_payload(
    tmp_path: Path,
) -> None:
    async with world(tmp_path) as w:
        for reader in READERS:
            for channel in (c for c in CHANNELS if sees(reader, c)):
                url = f"/v1/orders/{w.orders[channel]}"
                order = (await w.client.get(url, headers=w.as_(reader))).json()
                decision = (await w.client.get(f"{url}/decision", headers=w.as_(reader))).json()
                raw = await w.client.get(f"{url}/raw", headers=w.as_(reader))

                assert (order["order_id"], order["channel"]) == (w.orders[channel], channel)
                assert order["status"] in ACCEPTED_OR_LATER
                assert decision["order_id"] == w.orders[channel] and decision["explanation"]
                assert raw.content == w.raw[channel]


REJECTION_QUERIES = {"no filter": None, "?channel=shop-a": "shop-a", "?channel=shop-b": "shop-b"}


@pytest.mark.asyncio
async def test_a_channel_lists_only_its_own_rejections_even_when_it_asks_for_another_channel(
    tmp_path: Path,
) -> None:
    async with world(tmp_path) as w:
        observed: dict[tuple[str, str], set[str]] = {}
        for reader in READERS:
            for label, channel in REJECTION_QUERIES.items():
                params = {"channel": channel} if channel else {}
                response = await w.client.get(
                    "/v1/submissions/rejected", params=params, headers=w.as_(reader)
                )
                assert response.status_code == 200, response.text
                observed[reader, label] = {row["id"] for row in response.json()}

        def expected(reader: str, channel: str | None) -> set[str]:
            if reader in CHANNELS:
                return {w.rejections[reader]}  # whatever it asks for
            return {w.rejections[c] for c in CHANNELS if channel in (None, c)}

        assert observed == {
            (reader, label): expected(reader, channel)
            for reader in READERS
            for label, channel in REJECTION_QUERIES.items()
        }


# --- writing -----------------------------------------------------------------------------------


@dataclass(frozen=True)
class Write:
    method: str
    path: str
    scope: str
    body: Callable[[World], Any]
    allowed: tuple[str, ...]  # roles with the scope, per the README


def _default_policy(_: World) -> bytes:
    return DEFAULT_POLICY.read_bytes()


STAFF_ACTS = ("ops", "admin")
ADMIN_ONLY = ("admin",)
WRITES = {
    "release a hold": Write(
        "POST", "/v1/orders/{shop-a}/release-hold", "orders:act",
        lambda w: {"note": "payment confirmed by phone"}, STAFF_ACTS,
    ),
    "put stock": Write(
        "PUT", "/v1/stock/wh-lyon/RED-CHAIR", "stock:write", lambda w: {"on_hand": 25}, STAFF_ACTS
    ),
    "adjust stock": Write(
        "POST", "/v1/stock/adjustments", "stock:write",
        lambda w: {"source_id": "wh-lyon", "sku": "RED-CHAIR", "delta": 3, "reason": "receipt"},
        STAFF_ACTS,
    ),
    "register a source": Write(
        "PUT", "/v1/sources/store-paris", "sources:write",
        lambda w: {**SOURCE_LYON, "source_id": "store-paris", "name": "Paris store"}, STAFF_ACTS,
    ),
    "publish a policy": Write(
        "POST", "/v1/policies", "policies:write", _default_policy, ADMIN_ONLY
    ),
    "register a channel": Write(
        "PUT", "/v1/channels/shop-c", "channels:write",
        lambda w: channel_definition("shop-c"), ADMIN_ONLY,
    ),
    "issue a key": Write(
        "POST", "/v1/keys", "channels:write",
        lambda w: {"role": "channel", "channel_id": "shop-a"}, ADMIN_ONLY,
    ),
    "revoke a key": Write(
        "DELETE", "/v1/keys/{key:shop-b}", "channels:write", lambda w: None, ADMIN_ONLY
    ),
}  # fmt: skip


async def send(w: World, write: Write, who: str) -> httpx.Response:
    path = write.path.replace("{shop-a}", w.orders["shop-a"])
    path = path.replace("{key:shop-b}", w.keys["shop-b"]["key_id"])
    body = write.body(w)
    if isinstance(body, bytes):
        headers = {**w.as_(who), "content-type": "application/yaml"}
        return await w.client.request(write.method, path, content=body, headers=headers)
    return await w.client.request(write.method, path, json=body, headers=w.as_(who))


@pytest.mark.parametrize("write", list(WRITES.values()), ids=list(WRITES))
@pytest.mark.asyncio
async def test_a_write_without_its_scope_is_a_403_naming_the_scope_and_records_nothing(
    tmp_path: Path, write: Write
) -> None:
    async with world(tmp_path) as w:
        position = w.hub.store.max_position()
        denied = [who for who in READERS if who not in write.allowed]
        assert "shop-a" in denied and "auditor" in denied

        for who in denied:
            response = await send(w, write, who)

            assert (response.status_code, who) == (403, who)
            assert response.headers["content-type"] == PROBLEM_JSON
            assert write.scope in response.json()["detail"]
        assert w.hub.store.max_position() == position

        # The request itself is sound: the least privileged role with the scope gets it done.
        done = await send(w, write, write.allowed[0])
        assert done.is_success, done.text
        assert w.hub.store.max_position() > position


@pytest.mark.asyncio
async def test_a_channel_key_cannot_post_an_order_for_another_channel(tmp_path: Path) -> None:
    async with world(tmp_path) as w:
        position = w.hub.store.max_position()

        response = await w.client.post(
            "/v1/orders",
            content=order_body("shop-b", "B-9999"),
            headers=json_headers(w.as_("shop-a")),
        )

        assert (response.status_code, response.headers["content-type"]) == (403, PROBLEM_JSON)
        assert [e["field"] for e in response.json()["errors"]] == ["channel"]
        assert w.hub.store.max_position() == position


@pytest.mark.asyncio
async def test_a_channel_key_cannot_use_native_intake_for_another_channel(tmp_path: Path) -> None:
    async with world(tmp_path) as w:
        position = w.hub.store.max_position()
        body = submission_dict(external_id="B-9998")
        del body["channel"]  # canonical intake takes the channel from the request

        response = await w.client.post(
            "/v1/intake/canonical",
            params={"channel": "shop-b"},
            json=body,
            headers=w.as_("shop-a"),
        )

        assert (response.status_code, response.headers["content-type"]) == (403, PROBLEM_JSON)
        assert [e["field"] for e in response.json()["errors"]] == ["channel"]
        assert w.hub.store.max_position() == position


@pytest.mark.asyncio
async def test_a_native_payload_naming_another_channel_is_refused_and_kept_for_the_sender(
    tmp_path: Path,
) -> None:
    async with world(tmp_path) as w:
        payload = order_body("shop-b", "B-9997")

        response = await w.client.post(
            "/v1/intake/canonical", content=payload, headers=json_headers(w.as_("shop-a"))
        )

        # The canonical format: channel may be left out, but must not name another channel.
        assert (response.status_code, response.headers["content-type"]) == (422, PROBLEM_JSON)
        assert "channel" in [e["field"] for e in response.json()["errors"]]
        listed = {
            channel: (
                await w.client.get(
                    "/v1/submissions/rejected", params={"channel": channel}, headers=w.as_("admin")
                )
            ).json()
            for channel in CHANNELS
        }
        assert [row["id"] for row in listed["shop-b"]] == [w.rejections["shop-b"]]
        kept_for_sender = {row["id"]: row["raw_payload"] for row in listed["shop-a"]}
        assert len(kept_for_sender) == 2 and w.rejections["shop-a"] in kept_for_sender
        assert payload in kept_for_sender.values()
        envelopes = [env for _, env in w.hub.store.read_envelopes(None, 10_000)]
        placed = [e for e in envelopes if e.type == EventType.ORDER_PLACED]
        assert {e.data["external_id"] for e in placed} == {"A-1001", "B-2001"}


# --- authentication ----------------------------------------------------------------------------


def assert_unauthorized(response: httpx.Response) -> None:
    assert response.status_code == 401, response.text
    assert response.headers["content-type"] == PROBLEM_JSON
    assert response.headers["www-authenticate"].lower().startswith("bearer")


@pytest.mark.asyncio
async def test_with_auth_required_a_request_without_a_key_is_a_401_asking_for_a_bearer_key(
    tmp_path: Path,
) -> None:
    async with world(tmp_path) as w:
        position = w.hub.store.max_position()

        assert_unauthorized(await w.client.get(f"/v1/orders/{w.orders['shop-a']}"))
        assert_unauthorized(await w.client.get("/v1/submissions/rejected"))
        assert_unauthorized(
            await w.client.post(
                "/v1/orders", content=order_body("shop-a", "A-1002"), headers=json_headers({})
            )
        )
        assert w.hub.store.max_position() == position


def _altered(key: str) -> str:
    return key[:-1] + ("B" if key.endswith("A") else "A")


BAD_KEYS: dict[str, Callable[[World], dict[str, str]]] = {
    "not a key at all": lambda w: {"Authorization": "Bearer letmein"},
    "prefix only": lambda w: {"X-API-Key": "ohk_"},
    "no secret part": lambda w: {"X-API-Key": f"ohk_{w.keys['shop-a']['key_id']}"},
    "unknown key id": lambda w: {"Authorization": "Bearer ohk_0123456789ab_notasecret"},
    "known key id, wrong secret": lambda w: {
        "X-API-Key": f"ohk_{w.keys['shop-a']['key_id']}_{'x' * 43}"
    },
    "a valid key with its last character changed": lambda w: {
        "Authorization": f"Bearer {_altered(w.keys['ops']['api_key'])}"
    },
    "the bootstrap admin key with a typo": lambda w: {"X-API-Key": BOOTSTRAP_ADMIN_KEY + "x"},
}


@pytest.mark.parametrize("headers", list(BAD_KEYS.values()), ids=list(BAD_KEYS))
@pytest.mark.parametrize("auth_required", [True, False], ids=["auth required", "auth off"])
@pytest.mark.asyncio
async def test_a_malformed_or_unknown_key_is_a_401_even_when_auth_is_off(
    tmp_path: Path, headers: Callable[[World], dict[str, str]], auth_required: bool
) -> None:
    async with world(tmp_path, auth_required=auth_required) as w:
        assert_unauthorized(await w.client.get("/v1/channels", headers=headers(w)))
        assert_unauthorized(
            await w.client.get(f"/v1/orders/{w.orders['shop-a']}", headers=headers(w))
        )


@pytest.mark.asyncio
async def test_a_key_with_non_ascii_characters_is_a_401_not_a_500(tmp_path: Path) -> None:
    async with world(tmp_path) as w:
        # Starlette decodes header bytes as latin-1: "clé" arrives as a non-ASCII str.
        response = await w.client.get("/v1/channels", headers=[(b"X-API-Key", b"cl\xe9")])

        assert_unauthorized(response)


@pytest.mark.asyncio
async def test_a_key_works_in_either_header_until_it_is_revoked_then_it_is_a_401(
    tmp_path: Path,
) -> None:
    async with world(tmp_path) as w:
        key = w.keys["shop-a"]
        url = f"/v1/orders/{w.orders['shop-a']}"
        assert (await w.client.get(url, headers=bearer(key))).status_code == 200
        assert (await w.client.get(url, headers={"X-API-Key": key["api_key"]})).status_code == 200

        revoked = await w.client.delete(f"/v1/keys/{key['key_id']}", headers=w.as_("admin"))

        assert revoked.status_code == 204
        assert_unauthorized(await w.client.get(url, headers=bearer(key)))
        assert_unauthorized(await w.client.get(url, headers={"X-API-Key": key["api_key"]}))
        assert_unauthorized(
            await w.client.post(
                "/v1/orders",
                content=order_body("shop-a", "A-1003"),
                headers=json_headers(bearer(key)),
            )
        )
        # Only that key: the other channel's key still works.
        other = f"/v1/orders/{w.orders['shop-b']}"
        assert (await w.client.get(other, headers=w.as_("shop-b"))).status_code == 200


@pytest.mark.asyncio
async def test_the_bootstrap_admin_key_issues_the_first_keys_which_then_work_on_their_own(
    tmp_path: Path,
) -> None:
    async with running(tmp_path, auth_required=True, admin_api_key=BOOTSTRAP_ADMIN_KEY) as (
        client,
        _,
    ):
        assert_unauthorized(await client.get("/v1/channels"))

        await register_channel(client, "shop-a")
        admin = await issue_key(client, "admin")
        channel = await issue_key(client, "channel", "shop-a")

        assert (admin["role"], channel["role"], channel["channel_id"]) == (
            "admin",
            "channel",
            "shop-a",
        )
        listed = await client.get("/v1/channels", headers=bearer(admin))
        assert [c["channel_id"] for c in listed.json()] == ["shop-a"]
        placed = await client.post(
            "/v1/orders", content=order_body("shop-a", "A-1"), headers=json_headers(bearer(channel))
        )
        assert placed.status_code == 202, placed.text


@pytest.mark.asyncio
async def test_without_a_configured_admin_key_no_secret_acts_as_admin(tmp_path: Path) -> None:
    async with running(tmp_path, auth_required=True) as (client, _):
        response = await client.get("/v1/channels", headers={"X-API-Key": BOOTSTRAP_ADMIN_KEY})

        assert_unauthorized(response)


@pytest.mark.asyncio
async def test_with_auth_off_a_request_without_a_key_acts_as_a_trial_admin(tmp_path: Path) -> None:
    async with running(tmp_path) as (client, _):
        registered = await client.put("/v1/channels/shop-a", json=channel_definition("shop-a"))
        issued = await client.post("/v1/keys", json={"role": "auditor"})

        assert (registered.status_code, issued.status_code) == (201, 201)


# --- limits ------------------------------------------------------------------------------------


class ManualClock:
    """A monotonic clock the test moves by hand."""

    def __init__(self) -> None:
        self.now = 1000.0

    def __call__(self) -> float:
        return self.now

    def advance(self, seconds: float) -> None:
        self.now += seconds


@pytest.mark.asyncio
async def test_a_channel_over_its_rate_gets_429_with_retry_after_and_may_submit_after_that_wait(
    tmp_path: Path,
) -> None:
    clock = ManualClock()
    async with world(tmp_path, limiter=RateLimiter(clock=clock)) as w:
        await register_channel(w.client, "shop-slow", rate_limit_per_minute=6)
        slow = await issue_key(w.client, "channel", "shop-slow")
        answers = []
        for n in range(5):
            answers.append(
                await w.client.post(
                    "/v1/orders",
                    content=order_body("shop-slow", f"S-{n}"),
                    headers=json_headers(bearer(slow)),
                )
            )
        statuses = [a.status_code for a in answers]
        burst = statuses.index(429)
        limited = answers[burst]

        # Six a minute: the bucket holds ten seconds' worth, at least one request.
        assert statuses == [202] * burst + [429] * (5 - burst)
        assert burst == 1
        assert limited.headers["content-type"] == PROBLEM_JSON
        retry_after = int(limited.headers["retry-after"])
        assert 1 <= retry_after <= 10
        for n in range(burst, 5):  # refused ones were not recorded
            unseen = await w.client.get(
                f"/v1/orders/{order_id_for('shop-slow', f'S-{n}')}", headers=w.as_("admin")
            )
            assert unseen.status_code == 404
        # Per channel: another channel is not slowed down by this one.
        other = await w.client.post(
            "/v1/orders",
            content=order_body("shop-a", "A-2001"),
            headers=json_headers(w.as_("shop-a")),
        )
        assert other.status_code == 202

        clock.advance(retry_after)
        again = await w.client.post(
            "/v1/orders", content=order_body("shop-slow", "S-9"), headers=json_headers(bearer(slow))
        )
        assert again.status_code == 202, again.text


@pytest.mark.asyncio
async def test_a_payload_larger_than_the_bucket_is_taken_and_the_next_one_waits(
    tmp_path: Path,
) -> None:
    clock = ManualClock()
    async with world(tmp_path, limiter=RateLimiter(clock=clock)) as w:
        await register_channel(w.client, "shop-slow", rate_limit_per_minute=6)
        slow = await issue_key(w.client, "channel", "shop-slow")
        two_orders = [submission_dict(external_id=f"S-{n}") for n in (1, 2)]
        for order in two_orders:
            del order["channel"]

        # A payload larger than the bucket is taken from a full bucket and leaves it in debt...
        first = await w.client.post("/v1/intake/canonical", json=two_orders, headers=bearer(slow))
        assert first.status_code == 202, first.text
        # ...so the next one waits, for a Retry-After that can be met.
        more = [submission_dict(external_id=f"S-{n}") for n in (3, 4)]
        for order in more:
            del order["channel"]
        limited = await w.client.post("/v1/intake/canonical", json=more, headers=bearer(slow))
        assert limited.status_code == 429
        clock.advance(int(limited.headers["retry-after"]))
        again = await w.client.post("/v1/intake/canonical", json=more, headers=bearer(slow))
        assert again.status_code == 202, again.text


async def _chunks(body: bytes) -> AsyncIterator[bytes]:
    for start in range(0, len(body), 512):
        yield body[start : start + 512]


@pytest.mark.parametrize("streamed", [False, True], ids=["with content-length", "chunked"])
@pytest.mark.parametrize("path", ["/v1/orders", "/v1/intake/canonical"])
@pytest.mark.asyncio
async def test_a_body_over_max_body_bytes_is_a_413_and_records_nothing(
    tmp_path: Path, path: str, streamed: bool
) -> None:
    async with world(tmp_path, max_body_bytes=2048) as w:
        position = w.hub.store.max_position()
        body = order_body("shop-a", "A-BIG", note="x" * 4000).encode()

        response = await w.client.post(
            path,
            content=_chunks(body) if streamed else body,
            headers=json_headers(w.as_("shop-a")),
        )

        assert (response.status_code, response.headers["content-type"]) == (413, PROBLEM_JSON)
        assert w.hub.store.max_position() == position


# --- credentials at rest -----------------------------------------------------------------------


@pytest.mark.asyncio
async def test_an_api_key_is_kept_only_as_its_sha256_never_its_secret(tmp_path: Path) -> None:
    async with world(tmp_path) as w:
        issued = w.keys
        envelopes = [env for _, env in w.hub.store.read_envelopes(None, 10_000)]
        key_events = [e for e in envelopes if e.type.startswith(EventFamily.API_KEY)]
        everything = "\n".join(e.model_dump_json() for e in envelopes)
        files = b"".join(p.read_bytes() for p in tmp_path.rglob("*") if p.is_file())

        by_key_id = {e.data["key_id"]: e for e in key_events if e.type == EventType.API_KEY_ISSUED}
        assert set(by_key_id) == {key["key_id"] for key in issued.values()}
        for key in issued.values():
            prefix, key_id, secret = key["api_key"].split("_", 2)
            assert (prefix, key_id) == ("ohk", key["key_id"])
            assert len(secret) >= 32
            data = by_key_id[key_id].data
            assert data["secret_sha256"] == hashlib.sha256(secret.encode()).hexdigest()
            assert secret not in everything
            assert secret.encode() not in files
