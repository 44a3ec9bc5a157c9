"""What-if over recorded history through the hub (embedded, over HTTP): orders routed live by
distance, a draft that prefers the cheaper far source, the report worked out by hand."""

import json
from collections.abc import AsyncIterator
from decimal import Decimal
from pathlib import Path
from typing import Any

import httpx
import pytest
import pytest_asyncio

from hub.bootstrap import Hub
from hub.services.what_if import WhatIfService, Window
from hub.services.what_if_jobs import WhatIfJobs
from orchestration_policies import CostModel, haversine_km, load_policy
from tests.e2e.test_embedded_orchestration import (
    LYON_CUSTOMER,
    SOURCES,
    place,
    publish,
    put_stock,
)
from tests.support.endless_what_if import UntilCancelled
from tests.support.running_hub import running

# Live: by distance only. Lyon's DC is 2 km from the customer, Lille's store about 560 km.
BY_DISTANCE = """
id: france-web
version: 1
name: Closest first
ranking:
  weights: {distance_km: 1.0, shipping_cost: 0, lead_time_days: 0}
"""
BY_COST = """
id: france-web
version: 2
name: Cheapest first (draft)
ranking:
  weights: {distance_km: 0, shipping_cost: 1.0, lead_time_days: 0}
"""
COSTS = {  # Lille ships cheaply whatever the distance; Lyon charges by the km
    "wh-lyon": {"base": "4.50", "per_unit": "0.40", "per_km": "0.01", "currency": "EUR"},
    "store-lille": {"base": "1.00", "per_unit": "0.40", "per_km": "0", "currency": "EUR"},
}
MONTH = {"from": "2026-11-01", "to": "2026-11-30"}


async def _put_source(client: httpx.AsyncClient, source_id: str) -> None:
    definition = {
        "source_id": source_id,
        **SOURCES[source_id],
        "country": "FR",
        "ships_to": ["FR"],
        "delivery_methods": ["standard"],
        "daily_capacity": 500,
        "lead_time_days": 1,
        "cost": COSTS[source_id],
    }
    response = await client.put(f"/v1/sources/{source_id}", json=definition)
    assert response.status_code in (200, 201), response.text


@pytest_asyncio.fixture
async def history(tmp_path: Path) -> AsyncIterator[tuple[httpx.AsyncClient, Hub, list[str]]]:
    """Three orders of one chair, routed live by distance: all from Lyon (Lille has 2)."""
    async with running(tmp_path) as (client, hub):
        for source_id in SOURCES:
            await _put_source(client, source_id)
        await put_stock(client, "wh-lyon", 10)
        await put_stock(client, "store-lille", 2)
        assert (await publish(client, BY_DISTANCE)).status_code == 201
        orders = [await place(client, f"WEB-W{i}", quantity=1) for i in range(3)]
        yield client, hub, orders


def _cost(source_id: str) -> Decimal:
    source: dict[str, Any] = SOURCES[source_id]
    customer: dict[str, Any] = LYON_CUSTOMER
    km = haversine_km(customer["lat"], customer["lon"], source["lat"], source["lon"])
    cost = COSTS[source_id]
    model = CostModel(
        Decimal(cost["base"]), Decimal(cost["per_unit"]), Decimal(cost["per_km"]), "EUR"
    )
    return model.shipping_cost(1, km)


@pytest.mark.asyncio
async def test_a_draft_preferring_the_cheaper_far_source_is_reported_beside_live(
    history: tuple[httpx.AsyncClient, Hub, list[str]],
) -> None:
    client, _, orders = history
    answer = await client.post("/v1/policies/what-if", json={"policy": BY_COST, **MONTH})
    assert answer.status_code == 200, answer.text
    job = answer.json()
    assert job["state"] == "done"
    report = job["report"]
    assert (report["decisions"], report["redecided"], report["skipped"]) == (3, 3, 0)
    total = report["total"]
    live, draft = total["live"], total["draft"]
    assert total["orders"] == 3 and total["changed"] == 2
    assert (live["routed"], draft["routed"]) == (3, 3)
    # The draft takes Lille's two chairs, then (its own promises having used them) Lyon's.
    lyon, lille = _cost("wh-lyon"), _cost("store-lille")
    assert live["cost"] == {"EUR": str(3 * lyon)}
    assert draft["cost"] == {"EUR": str(2 * lille + lyon)}
    assert draft["mean_distance_km"] > 300 > live["mean_distance_km"]
    changed = report["changes"]
    assert [c["order_id"] for c in changed] == orders[:2]
    assert all(c["live"]["sources"] == ["wh-lyon"] for c in changed)
    assert all(c["draft"]["sources"] == ["store-lille"] for c in changed)
    assert "from store-lille" in changed[0]["draft"]["explanation"]
    assert list(report["by_channel"]) == ["web-shop"]


@pytest.mark.asyncio
async def test_a_long_run_is_a_job_to_poll(
    history: tuple[httpx.AsyncClient, Hub, list[str]],
) -> None:
    client, _, _ = history
    client_app: Any = client._transport.app  # type: ignore[attr-defined]
    client_app.state.what_if_wait_seconds = 0
    answer = await client.post("/v1/policies/what-if", json={"policy": BY_COST, **MONTH})
    assert answer.status_code in (200, 202), answer.text
    job_id = answer.json()["job_id"]
    if answer.status_code == 202:
        assert answer.headers["location"] == f"/v1/policies/what-if/{job_id}"
    client_app.state.what_if_jobs.get(job_id).finished.wait(30)
    polled = await client.get(f"/v1/policies/what-if/{job_id}")
    assert polled.status_code == 200
    assert polled.json()["state"] == "done"
    assert polled.json()["report"]["total"]["changed"] == 2
    assert (await client.get("/v1/policies/what-if/nope")).status_code == 404


@pytest.mark.asyncio
async def test_a_running_job_can_be_cancelled_and_a_finished_one_is_left_as_it_is(
    history: tuple[httpx.AsyncClient, Hub, list[str]],
) -> None:
    client, _, _ = history
    client_app: Any = client._transport.app  # type: ignore[attr-defined]
    client_app.state.what_if_wait_seconds = 0
    endless = UntilCancelled()
    client_app.state.what_if_jobs = WhatIfJobs(endless)  # type: ignore[arg-type]
    answer = await client.post("/v1/policies/what-if", json={"policy": BY_COST, **MONTH})
    assert answer.status_code == 202, answer.text
    job_id = answer.json()["job_id"]
    assert endless.started.wait(10)
    assert (await client.get(f"/v1/policies/what-if/{job_id}")).json()["state"] == "running"

    client_app.state.what_if_wait_seconds = 10
    cancelled = await client.delete(f"/v1/policies/what-if/{job_id}")
    assert cancelled.status_code == 200, cancelled.text
    assert cancelled.json()["state"] == "cancelled"
    again = await client.delete(f"/v1/policies/what-if/{job_id}")
    assert (again.status_code, again.json()["state"]) == (200, "cancelled")
    assert (await client.delete("/v1/policies/what-if/nope")).status_code == 404


@pytest.mark.asyncio
async def test_bad_drafts_and_windows_are_refused_field_by_field(
    history: tuple[httpx.AsyncClient, Hub, list[str]],
) -> None:
    client, _, _ = history
    bad = BY_COST.replace("shipping_cost: 1.0", "shipping_cost: -1")
    answer = await client.post("/v1/policies/what-if", json={"policy": bad, **MONTH})
    assert answer.status_code == 422
    assert answer.headers["content-type"].startswith("application/problem+json")
    assert any("shipping_cost" in e["field"] for e in answer.json()["errors"])

    backwards = {"policy": BY_COST, "from": "2026-11-30", "to": "2026-11-01"}
    answer = await client.post("/v1/policies/what-if", json=backwards)
    assert answer.status_code == 422 and answer.json()["errors"][0]["field"] == "to"

    unknown = BY_COST + (
        "holds:\n  - name: gold\n    condition: "
        'order.attributes.tier == "gold"\n    reason: checked by hand\n'
    )
    answer = await client.post("/v1/policies/what-if", json={"policy": unknown, **MONTH})
    assert answer.status_code == 422, answer.text
    (error,) = answer.json()["errors"]
    assert error["field"] == "holds[0].condition"
    assert "order.attributes.tier is not known at the time" in error["message"]


@pytest.mark.asyncio
async def test_only_admins_and_auditors_may_run_what_if(
    history: tuple[httpx.AsyncClient, Hub, list[str]],
) -> None:
    from schemas.channels import IssueKey, Role

    client, hub, _ = history
    for role, allowed in ((Role.AUDITOR, True), (Role.OPS, False)):
        key = hub.access.issue_key(IssueKey(role=role, label="t"), "system:test").api_key
        answer = await client.post(
            "/v1/policies/what-if",
            json={"policy": BY_COST, **MONTH},
            headers={"X-API-Key": key},
        )
        assert (answer.status_code == 200) is allowed, (role, answer.text)
        assert answer.status_code in (200, 403)
        if allowed:
            job_id = answer.json()["job_id"]
    ops = hub.access.issue_key(IssueKey(role=Role.OPS, label="o"), "system:test").api_key
    refused = await client.delete(f"/v1/policies/what-if/{job_id}", headers={"X-API-Key": ops})
    assert refused.status_code == 403, refused.text


def test_the_service_reads_the_window_only(tmp_path: Path) -> None:
    """Decisions outside the window are not re-decided (an empty window reports nothing)."""
    from hub.bootstrap import bootstrap
    from hub.settings import Settings

    hub = bootstrap(Settings(data_dir=tmp_path, kafka_bootstrap=None, database_url=None))
    try:
        from datetime import date

        report = WhatIfService(hub.store).run(
            load_policy(BY_COST), Window(date(2026, 10, 1), date(2026, 10, 31))
        )
        assert report.decisions == 0 and report.total.to_dict()["orders"] == 0
    finally:
        hub.close()


@pytest.mark.asyncio
async def test_the_cli_prints_the_draft_beside_live(
    history: tuple[httpx.AsyncClient, Hub, list[str]], tmp_path: Path
) -> None:
    from typer.testing import CliRunner

    from hub.cli import app as cli

    draft = tmp_path / "draft.yaml"
    draft.write_text(BY_COST)
    env: dict[str, str | None] = {
        "ORDERHUB_DATA_DIR": str(tmp_path),
        "ORDERHUB_KAFKA_BOOTSTRAP": None,  # embedded, whatever the machine has set
        "ORDERHUB_DATABASE_URL": None,
        "COLUMNS": "200",
    }
    args = ["what-if", "--policy", str(draft), "--from", "2026-11-01", "--to", "2026-11-30"]
    result = CliRunner().invoke(cli, [*args, "--json"], env=env)
    assert result.exit_code == 0, result.output
    report = json.loads(result.stdout)
    assert report["total"]["changed"] == 2
    assert report["total"]["draft"]["cost"] == {
        "EUR": str(2 * _cost("store-lille") + _cost("wh-lyon"))
    }

    table = CliRunner().invoke(cli, args, env=env)
    assert table.exit_code == 0, table.output
    assert "Shipping cost" in table.stdout and "2 changed" in table.stdout

    refused = CliRunner().invoke(
        cli,
        ["what-if", "--policy", str(draft), "--from", "2026-11-30", "--to", "2026-11-01"],
        env=env,
    )
    assert refused.exit_code == 2
