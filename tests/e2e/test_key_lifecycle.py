"""API keys over their life, embedded and in-process: they may expire, they are rotated to a
new secret (the old one stops, or works for a stated grace), unknown ones answer 404, the
operator's bootstrap admin key is long, expirable and revocable, and failed authentications
are throttled per client address and per key id."""

import hashlib
from datetime import datetime, timedelta
from pathlib import Path
from typing import Any

import httpx
import pytest
from eventsourcing.persistence import StoredEvent
from typer.testing import CliRunner

from aggregates.channel import ApiKey
from hub.api.auth_throttle import AuthThrottle
from hub.cli import app as cli
from hub.settings import Settings
from tests.contracts.factories import NOW
from tests.e2e.test_channel_access import (
    ADMIN,
    BOOTSTRAP_ADMIN_KEY,
    PROBLEM_JSON,
    assert_unauthorized,
    bearer,
    issue_key,
    json_headers,
    order_body,
    register_channel,
)
from tests.support.running_hub import Clock, running


class MonotonicClock:
    def __init__(self) -> None:
        self.now = 1000.0

    def __call__(self) -> float:
        return self.now


def iso(at: datetime) -> str:
    return at.isoformat().replace("+00:00", "Z")


async def issue(client: httpx.AsyncClient, **body: Any) -> httpx.Response:
    return await client.post("/v1/keys", json={"role": "ops", **body}, headers=ADMIN)


async def whoami(client: httpx.AsyncClient, key: str) -> httpx.Response:
    """A read every staff key may make."""
    return await client.get("/v1/ops/stock", headers={"Authorization": f"Bearer {key}"})


def field_errors(response: httpx.Response) -> set[str]:
    return {e["field"] for e in response.json()["errors"]}


# --- expiry ------------------------------------------------------------------------------------


@pytest.mark.asyncio
async def test_a_key_with_expires_at_works_until_then_and_is_a_401_saying_it_expired_after(
    tmp_path: Path,
) -> None:
    clock = Clock()
    async with running(
        tmp_path, clock=clock, auth_required=True, admin_api_key=BOOTSTRAP_ADMIN_KEY
    ) as (client, _):
        issued = await issue(
            client, expires_at="2026-11-20T12:00:00+02:00"
        )  # now (09:00 UTC) + 1 h

        assert issued.status_code == 201, issued.text
        assert issued.json()["expires_at"] == "2026-11-20T10:00:00Z"
        key = issued.json()["api_key"]
        assert (await whoami(client, key)).status_code == 200
        clock.advance(minutes=59, seconds=59)
        assert (await whoami(client, key)).status_code == 200

        clock.advance(seconds=1)
        expired = await whoami(client, key)

        assert_unauthorized(expired)
        assert "expired at 2026-11-20T10:00:00Z" in expired.json()["detail"]
        # A wrong secret for the same key is not told the key expired: a guess learns nothing.
        guess = await whoami(client, key[:-3] + "zzz")
        assert_unauthorized(guess)
        assert "expired" not in guess.json()["detail"]


@pytest.mark.parametrize(
    ("expires_at", "why"),
    [
        ("2026-11-20T10:00:00", "no time zone"),
        ("2026-11-20T08:59:59Z", "in the past"),
        ("2026-11-20T09:00:00Z", "now"),
        ("next tuesday", "not a time"),
    ],
)
@pytest.mark.asyncio
async def test_an_expiry_without_a_zone_or_not_in_the_future_is_a_422_naming_expires_at(
    tmp_path: Path, expires_at: str, why: str
) -> None:
    async with running(tmp_path, auth_required=True, admin_api_key=BOOTSTRAP_ADMIN_KEY) as (
        client,
        hub,
    ):
        position = hub.store.max_position()

        refused = await issue(client, expires_at=expires_at)

        assert refused.status_code == 422, (why, refused.text)
        assert refused.headers["content-type"] == PROBLEM_JSON
        assert any(f.endswith("expires_at") for f in field_errors(refused)), refused.text
        assert hub.store.max_position() == position


@pytest.mark.asyncio
async def test_a_key_issued_by_an_earlier_release_without_expires_at_still_loads_and_works(
    tmp_path: Path,
) -> None:
    """Stored events of an earlier release must load: its Issued event has no expires_at."""
    async with running(tmp_path, auth_required=True, admin_api_key=BOOTSTRAP_ADMIN_KEY) as (
        client,
        hub,
    ):
        secret = "an-old-secret-issued-before-expiry-existed"
        key = ApiKey(
            key_id="0123456789ab",
            secret_sha256=hashlib.sha256(secret.encode()).hexdigest(),
            role="auditor",
            channel_id=None,
            label="old",
            actor="user:admin",
            at=NOW,
        )
        stored = hub.store.mapper.to_stored_event(key.collect_events()[0])
        state = hub.store.mapper.transcoder.decode(stored.state)
        del state["expires_at"]
        hub.store.recorder.insert_events(
            [
                StoredEvent(
                    originator_id=stored.originator_id,
                    originator_version=stored.originator_version,
                    topic=stored.topic,
                    state=hub.store.mapper.transcoder.encode(state),
                )
            ]
        )

        assert (await whoami(client, f"ohk_0123456789ab_{secret}")).status_code == 200
        rotated = await client.post("/v1/keys/0123456789ab/rotate", headers=ADMIN)
        assert rotated.status_code == 200, rotated.text
        assert rotated.json()["expires_at"] is None
        assert (await whoami(client, rotated.json()["api_key"])).status_code == 200


# --- rotation ----------------------------------------------------------------------------------


@pytest.mark.asyncio
async def test_rotating_gives_a_new_secret_for_the_same_key_and_the_old_one_stops_at_once(
    tmp_path: Path,
) -> None:
    async with running(tmp_path, auth_required=True, admin_api_key=BOOTSTRAP_ADMIN_KEY) as (
        client,
        hub,
    ):
        await register_channel(client, "shop-a")
        old = await issue_key(client, "channel", "shop-a")

        rotated = await client.post(f"/v1/keys/{old['key_id']}/rotate", headers=ADMIN)

        assert rotated.status_code == 200, rotated.text
        new = rotated.json()
        assert (new["key_id"], new["role"], new["channel_id"]) == (
            old["key_id"],
            "channel",
            "shop-a",
        )
        assert new["api_key"] != old["api_key"]
        assert new["previous_valid_until"] is None
        assert_unauthorized(await client.get("/v1/submissions/rejected", headers=bearer(old)))
        placed = await client.post(
            "/v1/orders", content=order_body("shop-a", "A-1"), headers=json_headers(bearer(new))
        )
        assert placed.status_code == 202, placed.text
        # Still scoped to its channel: it may not submit for another.
        other = await client.post(
            "/v1/orders", content=order_body("shop-b", "B-1"), headers=json_headers(bearer(new))
        )
        assert other.status_code == 403, other.text
        # Only hashes at rest, for the new secret too.
        secret = new["api_key"].split("_", 2)[2]
        everything = "\n".join(e.model_dump_json() for _, e in hub.store.read_envelopes(None, 999))
        assert secret not in everything
        assert hashlib.sha256(secret.encode()).hexdigest() in everything


@pytest.mark.asyncio
async def test_with_a_grace_period_the_old_secret_works_until_it_ends_then_only_the_new_one(
    tmp_path: Path,
) -> None:
    clock = Clock()
    async with running(
        tmp_path, clock=clock, auth_required=True, admin_api_key=BOOTSTRAP_ADMIN_KEY
    ) as (client, _):
        old = (await issue(client)).json()

        rotated = await client.post(
            f"/v1/keys/{old['key_id']}/rotate", json={"grace_seconds": 3600}, headers=ADMIN
        )

        new = rotated.json()
        assert rotated.status_code == 200 and new["previous_valid_until"] == "2026-11-20T10:00:00Z"
        assert (await whoami(client, old["api_key"])).status_code == 200
        assert (await whoami(client, new["api_key"])).status_code == 200
        clock.advance(hours=1)
        assert_unauthorized(await whoami(client, old["api_key"]))
        assert (await whoami(client, new["api_key"])).status_code == 200


@pytest.mark.parametrize("grace", [-1, 7 * 24 * 3600 + 1, "soon"])
@pytest.mark.asyncio
async def test_a_grace_period_outside_zero_to_a_week_is_a_422(
    tmp_path: Path, grace: object
) -> None:
    async with running(tmp_path, auth_required=True, admin_api_key=BOOTSTRAP_ADMIN_KEY) as (
        client,
        _,
    ):
        key = (await issue(client)).json()

        refused = await client.post(
            f"/v1/keys/{key['key_id']}/rotate", json={"grace_seconds": grace}, headers=ADMIN
        )

        assert refused.status_code == 422
        assert (await whoami(client, key["api_key"])).status_code == 200


@pytest.mark.asyncio
async def test_rotating_an_unknown_key_is_a_404_a_revoked_one_a_409_and_needs_an_admin(
    tmp_path: Path,
) -> None:
    async with running(tmp_path, auth_required=True, admin_api_key=BOOTSTRAP_ADMIN_KEY) as (
        client,
        _,
    ):
        ops = await issue_key(client, "ops")
        revoked = await issue_key(client, "auditor")
        await client.delete(f"/v1/keys/{revoked['key_id']}", headers=ADMIN)

        unknown = await client.post("/v1/keys/0123456789ab/rotate", headers=ADMIN)
        gone = await client.post(f"/v1/keys/{revoked['key_id']}/rotate", headers=ADMIN)
        by_ops = await client.post(f"/v1/keys/{ops['key_id']}/rotate", headers=bearer(ops))

        assert (unknown.status_code, gone.status_code, by_ops.status_code) == (404, 409, 403)
        assert (await whoami(client, ops["api_key"])).status_code == 200


@pytest.mark.asyncio
async def test_deleting_an_unknown_key_is_a_404_and_a_revoked_one_a_409(tmp_path: Path) -> None:
    async with running(tmp_path, auth_required=True, admin_api_key=BOOTSTRAP_ADMIN_KEY) as (
        client,
        _,
    ):
        key = await issue_key(client, "ops")
        assert (await client.delete(f"/v1/keys/{key['key_id']}", headers=ADMIN)).status_code == 204

        for unknown in ("0123456789ab", "not-a-key-id"):
            answer = await client.delete(f"/v1/keys/{unknown}", headers=ADMIN)
            assert (answer.status_code, answer.headers["content-type"]) == (404, PROBLEM_JSON)
        again = await client.delete(f"/v1/keys/{key['key_id']}", headers=ADMIN)
        assert again.status_code == 409


# --- the bootstrap admin key -------------------------------------------------------------------


def test_a_bootstrap_admin_key_shorter_than_32_characters_is_refused() -> None:
    with pytest.raises(ValueError, match="at least 32 characters"):
        Settings(admin_api_key="x" * 31)
    assert Settings(admin_api_key="x" * 32).admin_api_key == "x" * 32
    assert Settings(admin_api_key="").admin_api_key is None  # an empty variable: none


def test_orderhub_refuses_to_start_with_a_short_admin_key_and_says_why(tmp_path: Path) -> None:
    result = CliRunner().invoke(
        cli,
        ["serve"],
        env={"ORDERHUB_ADMIN_API_KEY": "too-short", "ORDERHUB_DATA_DIR": str(tmp_path)},
    )

    assert result.exit_code == 2
    assert "ORDERHUB_ADMIN_API_KEY" in result.output
    assert "at least 32 characters" in result.output
    assert not (tmp_path / "events.sqlite3").exists()  # refused before opening anything


@pytest.mark.asyncio
async def test_the_bootstrap_key_revoked_stays_revoked_across_restarts_until_a_new_value_is_set(
    tmp_path: Path,
) -> None:
    settings = {"auth_required": True, "admin_api_key": BOOTSTRAP_ADMIN_KEY}
    async with running(tmp_path, **settings) as (client, hub):
        admin = await issue_key(client, "admin")

        revoked = await client.delete("/v1/keys/bootstrap", headers=ADMIN)

        assert revoked.status_code == 204
        refused = await client.get("/v1/channels", headers=ADMIN)
        assert_unauthorized(refused)
        assert "revoked" in refused.json()["detail"]
        # The keys it issued work on their own.
        assert (await client.get("/v1/channels", headers=bearer(admin))).status_code == 200
        again = await client.delete("/v1/keys/bootstrap", headers=bearer(admin))
        assert again.status_code == 409
        everything = "\n".join(e.model_dump_json() for _, e in hub.store.read_envelopes(None, 999))
        assert BOOTSTRAP_ADMIN_KEY not in everything

    async with running(tmp_path, **settings) as (client, _):
        assert_unauthorized(await client.get("/v1/channels", headers=ADMIN))

    replaced = "a-new-bootstrap-value-chosen-by-the-operator"
    async with running(tmp_path, auth_required=True, admin_api_key=replaced) as (client, _):
        assert (await client.get("/v1/channels", headers={"X-API-Key": replaced})).is_success
        assert_unauthorized(await client.get("/v1/channels", headers=ADMIN))


@pytest.mark.asyncio
async def test_revoking_the_bootstrap_key_when_none_is_configured_is_a_404(
    tmp_path: Path,
) -> None:
    async with running(tmp_path) as (client, _):
        assert (await client.delete("/v1/keys/bootstrap")).status_code == 404


@pytest.mark.asyncio
async def test_the_bootstrap_key_stops_at_its_configured_expiry(tmp_path: Path) -> None:
    clock = Clock()
    async with running(
        tmp_path,
        clock=clock,
        auth_required=True,
        admin_api_key=BOOTSTRAP_ADMIN_KEY,
        admin_api_key_expires_at=NOW + timedelta(hours=2),
    ) as (client, _):
        assert (await client.get("/v1/channels", headers=ADMIN)).status_code == 200
        clock.advance(hours=2)

        expired = await client.get("/v1/channels", headers=ADMIN)

        assert_unauthorized(expired)
        assert "expired" in expired.json()["detail"]


# --- throttled failures ------------------------------------------------------------------------


@pytest.mark.asyncio
async def test_after_n_failures_from_one_address_every_attempt_is_a_429_until_the_window_passes(
    tmp_path: Path,
) -> None:
    ticks = MonotonicClock()
    throttle = AuthThrottle(per_client=3, per_key=100, window_seconds=60, clock=ticks)
    async with running(
        tmp_path, throttle=throttle, auth_required=True, admin_api_key=BOOTSTRAP_ADMIN_KEY
    ) as (client, _):
        good = await issue_key(client, "ops")
        for n in range(3):
            ticks.now += 10
            assert_unauthorized(await whoami(client, f"guess-{n}"))

        held = await whoami(client, "guess-3")
        # Held before the key is checked, so a right guess would not tell either.
        held_good = await whoami(client, good["api_key"])

        for answer in (held, held_good):
            assert answer.status_code == 429
            assert answer.headers["content-type"] == PROBLEM_JSON
        # The oldest failure (at 1010) leaves the window at 1070; it is now 1030.
        assert int(held.headers["retry-after"]) == 40
        ticks.now += 40
        assert (await whoami(client, good["api_key"])).status_code == 200


@pytest.mark.asyncio
async def test_after_n_wrong_secrets_for_one_key_id_that_key_id_is_held_but_not_others(
    tmp_path: Path,
) -> None:
    ticks = MonotonicClock()
    throttle = AuthThrottle(per_client=100, per_key=3, window_seconds=60, clock=ticks)
    async with running(
        tmp_path, throttle=throttle, auth_required=True, admin_api_key=BOOTSTRAP_ADMIN_KEY
    ) as (client, _):
        target, other = await issue_key(client, "ops"), await issue_key(client, "ops")
        for n in range(3):
            assert_unauthorized(await whoami(client, f"ohk_{target['key_id']}_wrong{n}"))

        assert (await whoami(client, target["api_key"])).status_code == 429
        assert (await whoami(client, other["api_key"])).status_code == 200
        ticks.now += 60
        assert (await whoami(client, target["api_key"])).status_code == 200


@pytest.mark.asyncio
async def test_console_sign_ins_count_as_failures_and_are_held_with_a_retry_after(
    tmp_path: Path,
) -> None:
    throttle = AuthThrottle(per_client=2, per_key=100, window_seconds=60, clock=MonotonicClock())
    async with running(
        tmp_path, throttle=throttle, auth_required=True, admin_api_key=BOOTSTRAP_ADMIN_KEY
    ) as (client, _):
        for _ in range(2):
            wrong = await client.post("/console/login", data={"api_key": "letmein"})
            assert wrong.status_code == 401

        held = await client.post("/console/login", data={"api_key": BOOTSTRAP_ADMIN_KEY})

        assert held.status_code == 429
        assert int(held.headers["retry-after"]) == 60
        assert "Too many failed sign-ins" in held.text
        assert "set-cookie" not in held.headers
        # The API from the same address is held too: one count per client.
        assert (await client.get("/v1/channels", headers=ADMIN)).status_code == 429
