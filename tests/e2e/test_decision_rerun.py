"""Re-running recorded decisions (embedded, over HTTP): every decision of a flow with holds,
backorders, splits, rejections and a person's re-route re-runs to the identical decision; a
changed policy shows a readable difference; decisions without recorded inputs say so."""

import hashlib
import json
from collections.abc import AsyncIterator
from importlib import resources
from pathlib import Path
from typing import Any
from uuid import UUID

import httpx
import pytest
import pytest_asyncio
from typer.testing import CliRunner

from aggregates.decision_inputs import PLAIN, RecordedInputs
from hub.bootstrap import Hub
from hub.cli import app as cli
from hub.services.rerun import RerunService
from orchestration_policies import default_policy
from tests.contracts.factories import NOW, submission_dict
from tests.e2e.test_channel_access import world
from tests.e2e.test_embedded_orchestration import (
    SKU,
    SOURCES,
    adjust_stock,
    events,
    place,
    publish,
    put_source,
    put_stock,
)
from tests.support.running_hub import running


@pytest_asyncio.fixture
async def hub_client(tmp_path: Path) -> AsyncIterator[tuple[httpx.AsyncClient, Hub]]:
    async with running(tmp_path) as (client, hub):
        for source_id in SOURCES:
            await put_source(client, source_id)
        yield client, hub


@pytest_asyncio.fixture
async def hub_routing_here(tmp_path: Path) -> AsyncIterator[tuple[httpx.AsyncClient, Hub]]:
    """`hub_client` for a test that changes routing's parts in this process: routing stays
    in it (ORDERHUB_ROUTING_PROCESS=off)."""
    async with running(tmp_path, routing_process="off") as (client, hub):
        for source_id in SOURCES:
            await put_source(client, source_id)
        yield client, hub


async def _reject(client: httpx.AsyncClient, hub: Hub, order_id: str, source_id: str) -> None:
    request = [
        e
        for e in events(hub, order_id, "orderhub.order.fulfillment_requested")
        if e.data["source_id"] == source_id
    ][-1]
    answer = await client.post(
        "/v1/fulfillment/updates",
        json={
            "order_id": order_id,
            "shipment_id": request.data["shipment_id"],
            "source_id": source_id,
            "kind": "rejected",
            "at": NOW.isoformat(),
            "reason": "damaged",
        },
    )
    assert answer.status_code in (200, 202), answer.text


async def _flows(client: httpx.AsyncClient, hub: Hub) -> list[str]:
    """Orders whose decisions cover every trigger and outcome; their ids."""
    await put_stock(client, "wh-lyon", 3)
    held = await place(client, "WEB-R1", quantity=5, payment_state="pending")
    await client.post(f"/v1/orders/{held}/release-hold", json={"note": "paid"})  # backordered
    await adjust_stock(client, "wh-lyon", +3)  # the backorder wakes up and ships
    await put_stock(client, "store-lille", 10)
    await _reject(client, hub, held, "wh-lyon")  # re-routed after the rejection
    # Two lines of 4: no source keeps 8 for anyone (a tenth is kept for VIP orders).
    lines = [{"line_id": n, "sku": SKU, "quantity": 4, "unit_price": "19.90"} for n in "12"]
    payload = submission_dict(
        channel="web-shop", external_id="WEB-R2", lines=lines, payment_state="authorized"
    )
    placed = await client.post("/v1/orders", json=payload)
    assert placed.status_code == 202, placed.text
    split = str(placed.json()["order_id"])
    moved = await place(client, "WEB-R3", quantity=1)
    rerouted = await client.post(
        f"/v1/orders/{moved}/reroute", json={"source_id": "wh-lyon", "reason": "closer"}
    )
    assert rerouted.status_code == 202, rerouted.text
    return [held, split, moved]


async def _rerun(client: httpx.AsyncClient, order_id: str, n: int) -> httpx.Response:
    return await client.post(f"/v1/orders/{order_id}/decisions/{n}/rerun")


@pytest.mark.asyncio
async def test_every_decision_the_flows_made_reruns_to_the_identical_decision(
    hub_client: tuple[httpx.AsyncClient, Hub],
) -> None:
    client, hub = hub_client
    await _flows(client, hub)

    # Every decision in the store, whichever order made it.
    decided = {
        env.subject
        for _, env in hub.store.read_envelopes(None, 100_000)
        if env.type in ("orderhub.order.routed", "orderhub.order.held")
    }
    seen: list[tuple[str, str]] = []
    for order_id in sorted(decided):
        listed = (await client.get(f"/v1/orders/{order_id}/decisions")).json()["decisions"]
        for d in listed:
            assert d["inputs_recorded"] is True
            answer = await _rerun(client, order_id, d["n"])
            assert answer.status_code == 200, answer.text
            body = answer.json()
            assert body["identical"] is True, body["differences"]
            assert body["differences"] == []
            assert body["recorded_digest"] == body["rerun_digest"] == d["decision_digest"]
            assert body["inputs_digest"] == d["inputs_digest"]
            assert (body["trigger"], body["outcome"]) == (d["trigger"], d["outcome"])
            seen.append((d["trigger"], d["outcome"]))
    triggers = {t for t, _ in seen}
    outcomes = {o for _, o in seen}
    assert triggers >= {
        "order_accepted",
        "hold_released",
        "backorder_wakeup",
        "shipment_rejected",
        "rerouted_by_person",
    }
    assert outcomes >= {"held", "backordered", "routed", "split"}


@pytest.mark.asyncio
async def test_a_rerun_writes_nothing_and_a_changed_policy_differs_field_by_field(
    hub_client: tuple[httpx.AsyncClient, Hub],
) -> None:
    client, hub = hub_client
    await put_stock(client, "wh-lyon", 10)
    await put_stock(client, "store-lille", 10)
    order_id = await place(client, "WEB-R4", quantity=2)
    before = hub.store.max_position()

    assert (await _rerun(client, order_id, 1)).json()["identical"] is True
    assert hub.store.max_position() == before

    service = RerunService(hub.store, hub.policies)
    channel_and_decisions = service.decisions(UUID(order_id))
    assert channel_and_decisions is not None
    (decision,) = channel_and_decisions[1]
    chosen = next(iter(decision.decision.shipments))
    draft = default_policy().model_copy(update={"excluded_sources": (chosen,)})
    result = service.rerun(decision, UUID(order_id), policy=draft)

    assert not result.identical and result.recorded_digest != result.rerun_digest
    fields = {d.field for d in result.differences}
    other = ({"wh-lyon", "store-lille"} - {chosen}).pop()
    assert {f"shipments.{chosen}", f"shipments.{other}"} <= fields
    assert f"explanation.candidates[{chosen}].status" in fields
    said = [str(d) for d in result.differences if d.field == f"shipments.{chosen}"]
    assert said == [f"shipments.{chosen}: recorded [['1', 'RED-CHAIR', 2]], re-run (absent)"]


class _OldRelease:
    """The recorder of a release that kept only the digest of the inputs, not the inputs."""

    def record(self, inputs: Any, pending: dict[Any, Any]) -> str:
        return hashlib.sha256(repr(inputs).encode()).hexdigest()

    def saved(self, pending: dict[Any, Any]) -> None: ...

    def settle(self, pending: dict[Any, Any]) -> None: ...


@pytest.mark.asyncio
async def test_a_decision_without_recorded_inputs_says_so_and_a_tampered_record_is_refused(
    hub_routing_here: tuple[httpx.AsyncClient, Hub],
) -> None:
    client, hub = hub_routing_here
    await put_stock(client, "wh-lyon", 10)
    hub.orchestration.recorder = _OldRelease()  # type: ignore[assignment]
    order_id = await place(client, "WEB-R5", quantity=1)

    (listed,) = (await client.get(f"/v1/orders/{order_id}/decisions")).json()["decisions"]
    answer = await _rerun(client, order_id, 1)
    beyond = await _rerun(client, order_id, 2)
    assert listed["inputs_recorded"] is False
    assert answer.status_code == 409
    assert answer.headers["content-type"] == "application/problem+json"
    assert answer.json()["reason"] == "inputs_not_recorded"
    assert "inputs not recorded" in answer.json()["detail"]
    assert beyond.status_code == 404

    # A record under that digest whose content is not what the digest names.
    hub.store.save(RecordedInputs(listed["inputs_digest"], '{"format":1}', encoding=PLAIN))
    tampered = await _rerun(client, order_id, 1)
    assert tampered.status_code == 409
    assert tampered.json()["reason"] == "inputs_unreadable"
    assert "does not match its digest" in tampered.json()["detail"]


@pytest.mark.asyncio
async def test_auditors_and_admins_may_rerun_channels_and_ops_may_not(tmp_path: Path) -> None:
    async with world(tmp_path) as w:
        order_id = w.orders["shop-a"]
        answers = {
            who: await w.client.post(f"/v1/orders/{order_id}/decisions/1/rerun", headers=w.as_(who))
            for who in ("auditor", "admin", "ops", "shop-a")
        }
        assert answers["auditor"].status_code == 200, answers["auditor"].text
        assert answers["auditor"].json()["identical"] is True
        assert answers["admin"].status_code == 200
        for who in ("ops", "shop-a"):
            assert answers[who].status_code == 403
            assert "decisions:rerun" in answers[who].json()["detail"]
        # The route reads its caller itself (`caller_of`): no key, or a wrong one, is a 401.
        bare = await w.client.post(f"/v1/orders/{order_id}/decisions/1/rerun")
        wrong = await w.client.post(
            f"/v1/orders/{order_id}/decisions/1/rerun", headers={"X-API-Key": "not-a-key"}
        )
        assert (bare.status_code, wrong.status_code) == (401, 401)
        assert bare.headers["www-authenticate"] == "Bearer"
        document = (await w.client.get("/openapi.json")).json()
        rerun = document["paths"]["/v1/orders/{order_id}/decisions/{n}/rerun"]["post"]
        status = document["paths"]["/v1/orders/{order_id}"]["get"]["parameters"]
        assert [p for p in rerun["parameters"] if p["in"] == "header"] == [
            p for p in status if p["in"] == "header"
        ]
        assert [p["name"] for p in rerun["parameters"] if p["in"] == "path"] == ["order_id", "n"]


@pytest.mark.asyncio
async def test_the_cli_reruns_a_decision_of_the_configured_store(tmp_path: Path) -> None:
    async with running(tmp_path) as (client, _):
        for source_id in SOURCES:
            await put_source(client, source_id)
        await put_stock(client, "wh-lyon", 10)
        order_id = await place(client, "WEB-R6", quantity=2)
        unknown = "00000000-0000-0000-0000-000000000001"
    env = {"ORDERHUB_DATA_DIR": str(tmp_path)}

    latest = CliRunner().invoke(cli, ["decision", "rerun", order_id], env=env)
    first = CliRunner().invoke(cli, ["decision", "rerun", order_id, "1", "--json"], env=env)
    beyond = CliRunner().invoke(cli, ["decision", "rerun", order_id, "2"], env=env)
    nobody = CliRunner().invoke(cli, ["decision", "rerun", unknown], env=env)

    assert latest.exit_code == 0, latest.output
    assert "identical: true" in latest.output
    assert first.exit_code == 0, first.output
    answer = json.loads(first.stdout)
    assert answer["identical"] is True and answer["recorded_digest"] == answer["rerun_digest"]
    assert (beyond.exit_code, nobody.exit_code) == (2, 2)


def _published_policy(excluded: str) -> str:
    """The bundled default as a published policy of its own, excluding one source."""
    text = resources.files("orchestration_policies").joinpath("default_policy.yaml").read_text()
    text = text.replace("id: default", "id: web-lyon", 1).replace("priority: -1000", "priority: 10")
    return text.replace("excluded_sources: []", f"excluded_sources: [{excluded}]", 1)


@pytest.mark.asyncio
async def test_a_rerun_uses_the_policy_version_that_decided_not_the_active_one(
    hub_client: tuple[httpx.AsyncClient, Hub],
) -> None:
    client, _ = hub_client
    await put_stock(client, "wh-lyon", 10)
    await put_stock(client, "store-lille", 10)
    assert (await publish(client, _published_policy("store-lille"))).status_code == 201
    order_id = await place(client, "WEB-R7", quantity=1)
    assert (await publish(client, _published_policy("wh-lyon"))).status_code == 201  # version 2

    (decision,) = (await client.get(f"/v1/orders/{order_id}/decisions")).json()["decisions"]
    answer = (await _rerun(client, order_id, 1)).json()

    assert decision["policy"] == {"id": "web-lyon", "version": 1}
    assert list(decision["decision"]["shipments"]) == ["wh-lyon"]
    assert answer["identical"] is True, answer["differences"]
    assert answer["policy"] == {"id": "web-lyon", "version": 1}
