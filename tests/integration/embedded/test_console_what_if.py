"""The console's what-if page, in process over the demo hub: it runs a draft over the recorded
decisions and shows the comparison (tables and a chart); bad input reads as a message; only
admins and auditors may use it."""

import re
from typing import Any

import httpx
import pytest

from hub.bootstrap import Hub
from hub.services.what_if_jobs import WhatIfJobs
from orchestration_policies import default_policy
from schemas.channels import Role
from tests.integration.embedded.test_console_pages import env, issue, secured, seeded_dir
from tests.support.endless_what_if import UntilCancelled

__all__ = ["env", "secured", "seeded_dir"]  # fixtures, shared with the other console pages
pytestmark = pytest.mark.asyncio
COST_FIRST = """
id: cost-first
version: 1
name: Cheapest first
ranking:
  weights: {distance_km: 0, shipping_cost: 1.0, lead_time_days: 0}
"""
NOVEMBER = {"from": "2026-11-01", "to": "2026-11-30"}


async def _run(client: httpx.AsyncClient, hub: Hub, policy: str) -> httpx.Response:
    started = await client.post("/console/what-if", data={"policy": policy, **NOVEMBER})
    assert started.status_code == 303, started.text
    location = started.headers["location"]
    job_id = location.split("job=")[1]
    app_jobs = client._transport.app.state.what_if_jobs  # type: ignore[attr-defined]
    assert app_jobs.get(job_id).finished.wait(60)
    return await client.get(location)


async def test_the_page_offers_the_form(env: tuple[httpx.AsyncClient, Hub]) -> None:
    client, _ = env
    page = await client.get("/console/what-if")
    assert page.status_code == 200
    assert '<textarea id="f-policy" name="policy"' in page.text
    assert 'href="/console/what-if" aria-current="page"' in page.text


async def test_a_draft_is_run_over_the_recorded_decisions_and_shown_beside_live(
    env: tuple[httpx.AsyncClient, Hub],
) -> None:
    client, hub = env
    page = await _run(client, hub, COST_FIRST)
    assert page.status_code == 200
    html = page.text
    assert 'id="what-if-total"' in html
    assert '<svg class="chart"' in html and "Decisions by outcome" in html
    redecided = int(re.search(r"(\d+) decision\(s\) re-decided", html).group(1))  # type: ignore[union-attr]
    assert redecided > 0
    # The live policy again, as a draft: nothing changes.
    same = await _run(client, hub, default_policy().model_dump_json())
    assert "; 0 changed." in same.text


async def test_bad_input_reads_as_a_message(env: tuple[httpx.AsyncClient, Hub]) -> None:
    client, _ = env
    bad = COST_FIRST.replace("shipping_cost: 1.0", "shipping_cost: -1")
    answer = await client.post("/console/what-if", data={"policy": bad, **NOVEMBER})
    assert answer.status_code == 422
    assert "Draft policy, ranking.weights.shipping_cost" in answer.text
    backwards = await client.post(
        "/console/what-if", data={"policy": COST_FIRST, "from": "2026-11-30", "to": "2026-11-01"}
    )
    assert backwards.status_code == 422 and "is before from" in backwards.text
    gone = await client.get("/console/what-if", params={"job": "nope"})
    assert "not kept any more" in gone.text


async def test_only_admins_and_auditors_may_use_it(
    secured: tuple[httpx.AsyncClient, Hub],
) -> None:
    client, hub = secured
    ops = issue(hub, Role.OPS, "ops")
    refused = await client.get("/console/what-if", headers={"X-API-Key": ops})
    assert refused.status_code == 403
    queue = await client.get("/console/exceptions", headers={"X-API-Key": ops})
    assert "/console/what-if" not in queue.text  # not offered where it cannot be used
    auditor = issue(hub, Role.AUDITOR, "auditor")
    allowed = await client.get("/console/what-if", headers={"X-API-Key": auditor})
    assert allowed.status_code == 200


async def test_a_running_draft_can_be_cancelled_from_the_page(
    env: tuple[httpx.AsyncClient, Hub],
) -> None:
    client, _ = env
    app: Any = client._transport.app  # type: ignore[attr-defined]
    endless = UntilCancelled()
    app.state.what_if_jobs = WhatIfJobs(endless)  # type: ignore[arg-type]
    app.state.what_if_wait_seconds = 0
    started = await client.post("/console/what-if", data={"policy": COST_FIRST, **NOVEMBER})
    assert started.status_code == 303, started.text
    job_id = started.headers["location"].split("job=")[1]
    assert endless.started.wait(10)
    running = await client.get(started.headers["location"])
    assert "Re-deciding" in running.text
    assert f'action="/console/what-if/{job_id}/cancel"' in running.text

    app.state.what_if_wait_seconds = 10
    cancelled = await client.post(f"/console/what-if/{job_id}/cancel")
    assert cancelled.status_code == 303
    page = await client.get(cancelled.headers["location"])
    assert "The run was cancelled" in page.text
    assert "/cancel" not in page.text  # nothing left to cancel
    assert app.state.what_if_jobs.get(job_id).state.value == "cancelled"
    # Another site's form is refused, and an unknown run reads as gone, not as an error.
    foreign = await client.post(
        f"/console/what-if/{job_id}/cancel", headers={"Origin": "https://elsewhere.example"}
    )
    assert foreign.status_code == 403
    gone = await client.post("/console/what-if/nope/cancel")
    assert "not kept any more" in (await client.get(gone.headers["location"])).text
