"""Console sessions are kept by the server: the cookie holds a random session id (never the key),
signing out ends the session for anyone holding that cookie, sessions end when idle or old, and
revoking or rotating the key ends them. Cookie flags and the Origin check behind a proxy."""

import re
from pathlib import Path
from typing import Any

import httpx
import pytest

from hub.api.console.web import COOKIE
from hub.bootstrap import Hub
from tests.e2e.test_channel_access import ADMIN, BOOTSTRAP_ADMIN_KEY, issue_key
from tests.support.running_hub import Clock, running

SECURED = {"auth_required": True, "admin_api_key": BOOTSTRAP_ADMIN_KEY}
PAGE = "/console/stock"


async def sign_in(client: httpx.AsyncClient, key: str) -> str:
    """Sign in through the form; returns the session id the browser got."""
    answer = await client.post("/console/login", data={"api_key": key, "next": PAGE})
    assert answer.status_code == 303, answer.text
    token = client.cookies.get(COOKIE)
    assert token
    return token


async def signed_in(client: httpx.AsyncClient) -> bool:
    """Whether the browser's cookie still opens a page (a sign-in page otherwise)."""
    answer = await client.get(PAGE)
    if answer.status_code == 200:
        return True
    assert answer.status_code == 303 and answer.headers["location"].startswith("/console/login")
    return False


def cookie_attributes(response: httpx.Response) -> dict[str, str]:
    attributes = [p.strip().partition("=") for p in response.headers["set-cookie"].split(";")]
    return {name.lower(): value for name, _, value in attributes[1:]}


@pytest.mark.asyncio
async def test_the_cookie_holds_a_random_session_id_never_the_key(tmp_path: Path) -> None:
    async with running(tmp_path, **SECURED) as (client, hub):
        ops = await issue_key(client, "ops")

        login = await client.post("/console/login", data={"api_key": ops["api_key"]})

        header = login.headers["set-cookie"]
        token = client.cookies[COOKIE]
        assert ops["api_key"] not in header and ops["key_id"] not in header
        assert len(token) >= 40 and re.fullmatch(r"[A-Za-z0-9_-]+", token)
        flags = cookie_attributes(login)
        assert flags["path"] == "/console" and flags["samesite"].lower() == "strict"
        assert "httponly" in flags and "secure" not in flags  # plain http, no setting
        assert await signed_in(client)
        # Only a hash of the session id is kept by the server.
        files = b"".join(p.read_bytes() for p in tmp_path.rglob("*") if p.is_file())
        assert token.encode() not in files
        assert hub.sessions.count() == 1
        # Signing in again gives a new id and ends the session it replaces.
        assert await sign_in(client, ops["api_key"]) != token
        assert hub.sessions.count() == 1
        # Two browsers are two sessions.
        client.cookies.clear()
        await sign_in(client, ops["api_key"])
        assert hub.sessions.count() == 2


@pytest.mark.parametrize(
    ("base_url", "settings", "headers"),
    [
        ("https://orderhub.test", {}, {}),
        ("http://orderhub.test", {"console_secure_cookie": True}, {}),
        ("http://orderhub.test", {"trusted_proxy": True}, {"X-Forwarded-Proto": "https"}),
    ],
    ids=["https", "setting", "trusted proxy says https"],
)
@pytest.mark.asyncio
async def test_the_cookie_is_secure_over_https_behind_a_trusted_proxy_or_when_configured(
    tmp_path: Path, base_url: str, settings: dict[str, Any], headers: dict[str, str]
) -> None:
    async with running(tmp_path, base_url=base_url, **SECURED, **settings) as (client, _):
        login = await client.post(
            "/console/login", data={"api_key": BOOTSTRAP_ADMIN_KEY}, headers=headers
        )

        assert login.status_code == 303
        assert "secure" in cookie_attributes(login)


@pytest.mark.asyncio
async def test_an_untrusted_forwarded_proto_does_not_change_the_cookie(tmp_path: Path) -> None:
    async with running(tmp_path, **SECURED) as (client, _):
        login = await client.post(
            "/console/login",
            data={"api_key": BOOTSTRAP_ADMIN_KEY},
            headers={"X-Forwarded-Proto": "https"},
        )

        assert "secure" not in cookie_attributes(login)


@pytest.mark.asyncio
async def test_signing_out_ends_the_session_on_the_server_so_a_copied_cookie_is_worthless(
    tmp_path: Path,
) -> None:
    async with running(tmp_path, **SECURED) as (client, hub):
        token = await sign_in(client, BOOTSTRAP_ADMIN_KEY)

        out = await client.post("/console/logout")

        assert out.status_code == 303
        assert hub.sessions.count() == 0
        # Someone who copied the cookie before the sign-out replays it.
        client.cookies.set(COOKIE, token, domain="orderhub.test", path="/console")
        replayed = await client.get(PAGE)
        assert replayed.status_code == 303
        assert "session+has+ended" in replayed.headers["location"]
        assert f'{COOKIE}=""' in replayed.headers["set-cookie"]


@pytest.mark.asyncio
async def test_a_session_ends_after_the_idle_time_and_use_keeps_it_alive(tmp_path: Path) -> None:
    clock = Clock()
    async with running(tmp_path, clock=clock, console_session_idle_minutes=30, **SECURED) as (
        client,
        _,
    ):
        await sign_in(client, BOOTSTRAP_ADMIN_KEY)
        for _ in range(4):  # two hours of use, a page every 20 minutes
            clock.advance(minutes=20)
            assert await signed_in(client)

        clock.advance(minutes=30)

        assert not await signed_in(client)


@pytest.mark.asyncio
async def test_a_session_ends_at_its_lifetime_however_much_it_is_used(tmp_path: Path) -> None:
    clock = Clock()
    async with running(
        tmp_path,
        clock=clock,
        console_session_idle_minutes=30,
        console_session_max_hours=2,
        **SECURED,
    ) as (client, _):
        await sign_in(client, BOOTSTRAP_ADMIN_KEY)
        for _ in range(5):
            clock.advance(minutes=20)
            assert await signed_in(client)  # 1 h 40 min in

        clock.advance(minutes=20)

        assert not await signed_in(client)


async def _signed_in_as(client: httpx.AsyncClient, hub: Hub, role: str) -> dict[str, Any]:
    key = await issue_key(client, role)
    await sign_in(client, key["api_key"])
    assert await signed_in(client)
    return key


@pytest.mark.asyncio
async def test_revoking_the_key_ends_its_sessions(tmp_path: Path) -> None:
    async with running(tmp_path, **SECURED) as (client, hub):
        key = await _signed_in_as(client, hub, "ops")

        revoked = await client.delete(f"/v1/keys/{key['key_id']}", headers=ADMIN)

        assert revoked.status_code == 204
        assert hub.sessions.count() == 0
        assert not await signed_in(client)


@pytest.mark.asyncio
async def test_rotating_the_key_ends_the_sessions_opened_with_the_old_secret_after_its_grace(
    tmp_path: Path,
) -> None:
    clock = Clock()
    async with running(tmp_path, clock=clock, **SECURED) as (client, hub):
        key = await _signed_in_as(client, hub, "ops")
        rotate = f"/v1/keys/{key['key_id']}/rotate"

        first = await client.post(rotate, json={"grace_seconds": 600}, headers=ADMIN)
        assert await signed_in(client)
        clock.advance(minutes=10)
        assert not await signed_in(client)

        # A session opened with the new secret lives on; a rotation with no grace ends it now.
        await sign_in(client, first.json()["api_key"])
        clock.advance(minutes=20)
        assert await signed_in(client)
        await client.post(rotate, headers=ADMIN)
        assert not await signed_in(client)


@pytest.mark.asyncio
async def test_revoking_the_bootstrap_key_ends_the_sessions_it_opened(tmp_path: Path) -> None:
    async with running(tmp_path, **SECURED) as (client, _):
        await sign_in(client, BOOTSTRAP_ADMIN_KEY)
        admin = await issue_key(client, "admin")

        revoked = await client.delete(
            "/v1/keys/bootstrap", headers={"Authorization": f"Bearer {admin['api_key']}"}
        )

        assert revoked.status_code == 204
        assert not await signed_in(client)


@pytest.mark.asyncio
async def test_an_expired_key_cannot_sign_in_and_its_session_ends_when_it_expires(
    tmp_path: Path,
) -> None:
    clock = Clock()
    async with running(tmp_path, clock=clock, **SECURED) as (client, _):
        issued = await client.post(
            "/v1/keys",
            json={"role": "ops", "expires_at": "2026-11-20T09:10:00Z"},
            headers=ADMIN,
        )
        key = issued.json()["api_key"]
        await sign_in(client, key)
        clock.advance(minutes=10)

        assert not await signed_in(client)
        again = await client.post("/console/login", data={"api_key": key})
        assert again.status_code == 401 and "expired" in again.text


# --- the Origin check --------------------------------------------------------------------------


@pytest.mark.parametrize(
    ("trusted_proxy", "status"), [(False, 403), (True, 303)], ids=["no proxy", "trusted proxy"]
)
@pytest.mark.asyncio
async def test_x_forwarded_host_names_the_site_only_behind_a_trusted_proxy(
    tmp_path: Path, trusted_proxy: bool, status: int
) -> None:
    async with running(tmp_path, trusted_proxy=trusted_proxy, **SECURED) as (client, hub):
        await sign_in(client, BOOTSTRAP_ADMIN_KEY)

        # A form posted from hub.example.com, which the proxy says the browser asked for.
        answer = await client.post(
            "/console/logout",
            headers={
                "Origin": "https://hub.example.com",
                "X-Forwarded-Host": "hub.example.com",
            },
        )

        assert answer.status_code == status
        assert hub.sessions.count() == (1 if status == 403 else 0)


@pytest.mark.asyncio
async def test_a_form_from_this_host_is_accepted_and_another_origin_refused(
    tmp_path: Path,
) -> None:
    async with running(tmp_path, **SECURED) as (client, hub):
        await sign_in(client, BOOTSTRAP_ADMIN_KEY)

        evil = await client.post("/console/logout", headers={"Origin": "https://evil.test"})
        assert evil.status_code == 403 and hub.sessions.count() == 1
        ours = await client.post("/console/logout", headers={"Origin": "http://orderhub.test"})
        assert ours.status_code == 303 and hub.sessions.count() == 0
