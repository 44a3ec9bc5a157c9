"""What a channel key's capture reads: its key and its channel's rate limit, each from the store
once and then kept a few seconds (every capture read both, each in a pool thread); a
redefinition or a revocation through the API applies to the next capture all the same."""

from pathlib import Path
from typing import Any

import pytest

from hub.api import deps, ratelimit
from hub.api.ratelimit import LIMIT_CACHE_SECONDS, RateLimiter
from tests.e2e.test_channel_access import (
    ADMIN,
    ManualClock,
    bearer,
    channel_definition,
    issue_key,
    json_headers,
    order_body,
    register_channel,
    world,
)


def counted_calls(monkeypatch: pytest.MonkeyPatch, owner: Any, name: str) -> list[str]:
    """The argument of every call of `owner.name` from now on (the call still made)."""
    calls: list[str] = []
    call = getattr(owner, name)

    def counted(argument: str) -> Any:
        calls.append(argument)
        return call(argument)

    monkeypatch.setattr(owner, name, counted)
    return calls


@pytest.mark.asyncio
async def test_a_limit_is_read_once_and_a_redefinition_applies_to_the_next_capture(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    clock = ManualClock()
    async with world(tmp_path, limiter=RateLimiter(clock=clock)) as w:
        await register_channel(w.client, "shop-slow", rate_limit_per_minute=6)
        slow = await issue_key(w.client, "channel", "shop-slow")
        reads = counted_calls(monkeypatch, w.hub.access, "channel")

        async def post(external_id: str) -> int:
            body = order_body("shop-slow", external_id)
            answer = await w.client.post(
                "/v1/orders", content=body, headers=json_headers(bearer(slow))
            )
            return answer.status_code

        # Six a minute: a bucket of one request; the limit read once for both.
        assert [await post("S-1"), await post("S-2")] == [202, 429]
        assert reads == ["shop-slow"]

        faster = channel_definition("shop-slow", rate_limit_per_minute=600)
        redefined = await w.client.put("/v1/channels/shop-slow", json=faster, headers=ADMIN)
        assert redefined.status_code == 200, redefined.text
        # One second refills ten requests at 600 a minute, a tenth of one at 6 a minute.
        clock.advance(1)
        assert await post("S-3") == 202
        assert reads == ["shop-slow", "shop-slow"]


def test_a_known_limit_is_forgotten_after_its_time_or_when_told(
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    now = [500.0]
    monkeypatch.setattr(ratelimit.time, "monotonic", lambda: now[0])
    limiter = RateLimiter(clock=lambda: 0.0)
    assert limiter.known_limit("web") is None
    limiter.remember_limit("web", 60)
    now[0] += LIMIT_CACHE_SECONDS - 0.01
    assert limiter.known_limit("web") == 60
    now[0] += 0.01
    assert limiter.known_limit("web") is None
    limiter.remember_limit("web", 60)
    limiter.forget_limit("web")
    assert limiter.known_limit("web") is None


@pytest.mark.asyncio
async def test_a_key_read_of_late_is_checked_without_a_pool_thread_and_a_revocation_applies(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    async with world(tmp_path) as w:
        key = await issue_key(w.client, "channel", "shop-a")
        hops: list[str] = []
        hop = deps.run_in_threadpool

        async def counted(func: Any, *args: Any) -> Any:
            if args[-1] == key["api_key"]:  # the channel key's (not the admin's)
                hops.append(func.__name__)
            return await hop(func, *args)

        monkeypatch.setattr(deps, "run_in_threadpool", counted)

        async def post(external_id: str, headers: dict[str, str]) -> int:
            body = order_body("shop-a", external_id)
            answer = await w.client.post("/v1/orders", content=body, headers=json_headers(headers))
            return answer.status_code

        assert [await post(f"K-{n}", bearer(key)) for n in range(3)] == [202, 202, 202]
        assert hops == ["authenticate"]  # the first read the key; the others did not leave

        wrong = {"Authorization": f"Bearer {key['api_key'][:-4]}abcd"}
        assert await post("K-8", wrong) == 401  # a wrong secret for a key read of late
        assert hops == ["authenticate"]

        revoked = await w.client.delete(f"/v1/keys/{key['key_id']}", headers=ADMIN)
        assert revoked.status_code == 204
        assert await post("K-9", bearer(key)) == 401
        assert hops == ["authenticate", "authenticate"]


@pytest.mark.asyncio
async def test_a_channel_keys_capture_checks_its_key_once_and_a_wrong_channel_is_still_refused(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    # The front door authenticates a capture before reading its body; the route takes that
    # caller (`deps.AUTHENTICATED`) instead of checking the key a second time.
    async with world(tmp_path) as w:
        await register_channel(w.client, "shop-once")
        key = await issue_key(w.client, "channel", "shop-once")
        checks = counted_calls(monkeypatch, w.hub.access, "check")
        own = await w.client.post(
            "/v1/orders",
            content=order_body("shop-once", "K-1"),
            headers=json_headers(bearer(key)),
        )
        other = await w.client.post(
            "/v1/orders",
            content=order_body("shop-a", "K-2"),
            headers=json_headers(bearer(key)),
        )

        assert own.status_code == 202, own.text
        assert other.status_code == 403, other.text  # its own channel only, as before
        assert checks == [key["api_key"]] * 2  # one check per request
