"""What-if: try a draft policy over recorded history and see it beside the live one (auditors,
admins). The run is the API's job (shared per process); the page shows it when it is done."""

import asyncio
from datetime import date, timedelta
from typing import Annotated, Any
from urllib.parse import quote

from fastapi import APIRouter, Depends, Path, Request
from fastapi.responses import HTMLResponse, Response

from hub.api.console import charts
from hub.api.console.auth import need
from hub.api.console.pages import day_param
from hub.api.console.web import ConsoleRoute, hub_of, param, read_form, render, see_other
from hub.services.access import Principal
from hub.services.what_if import Window, draft_policy, window_problems
from hub.services.what_if_jobs import Busy, JobState, jobs_on
from orchestration_policies import PolicyError
from orchestration_policies.what_if_report import MEASURES, OUTCOMES

router = APIRouter(route_class=ConsoleRoute)
Auditor = Annotated[Principal, Depends(need("decisions:rerun"))]
WAIT_SECONDS = 3.0


@router.get("/what-if")
async def what_if_page(request: Request, _: Auditor) -> HTMLResponse:
    hub = hub_of(request)
    notes: list[str] = []
    job_id = param(request, "job")
    job = jobs_on(request.app.state, hub.store).get(job_id) if job_id else None
    if job_id and job is None:
        notes.append("That run is not kept any more (or never was); start it again.")
    last = day_param(request, "to", "To", notes) or hub.clock().date()
    first = day_param(request, "from", "From", notes) or last - timedelta(days=29)
    form = {"from": first.isoformat(), "to": last.isoformat(), "channel": "", "policy": ""}
    return _page(request, form, notes, job.to_dict() if job is not None else None)


@router.post("/what-if")
async def start_what_if(request: Request, _: Auditor) -> Response:
    hub = hub_of(request)
    sent = await read_form(request)
    form = {name: sent.get(name, "") for name in ("from", "to", "channel", "policy")}
    notes: list[str] = []
    first = _day(form["from"], "From", notes)
    last = _day(form["to"], "To", notes)
    if first is not None and last is not None:
        notes += [str(p) for p in window_problems(first, last)]
    text = form["policy"]
    draft = None
    if not text.strip():
        notes.append("Paste the draft policy (YAML) first.")
    else:
        try:
            draft = await asyncio.to_thread(draft_policy, text)
        except PolicyError as error:
            notes += [f"Draft policy, {p}" for p in error.problems]
    if notes or draft is None or first is None or last is None:
        return _page(request, form, notes, None, code=422)
    channel = form["channel"].strip() or None
    try:
        job = jobs_on(request.app.state, hub.store).start(
            draft, Window(first, last, channel), changes_kept=20
        )
    except Busy as busy:
        return _page(request, form, [str(busy)], None, code=429)
    await asyncio.to_thread(job.finished.wait, _wait(request))
    return see_other(f"/console/what-if?job={job.job_id}")


@router.post("/what-if/{job_id}/cancel")
async def cancel_what_if(
    job_id: Annotated[str, Path(min_length=1, max_length=64)], request: Request, _: Auditor
) -> Response:
    """Stop a run that takes too long (its reader with it); a finished run stays as it is."""
    await read_form(request)  # a form from this site only
    hub = hub_of(request)
    job = jobs_on(request.app.state, hub.store).cancel(job_id)
    if job is not None:
        await asyncio.to_thread(job.finished.wait, _wait(request))
    return see_other(f"/console/what-if?job={quote(job_id, safe='')}")


def _wait(request: Request) -> float:
    """How long a form waits for a run to end before it shows the page (tests shorten it)."""
    return float(getattr(request.app.state, "what_if_wait_seconds", WAIT_SECONDS))


def _day(value: str, label: str, notes: list[str]) -> date | None:
    try:
        return date.fromisoformat(value.strip())
    except ValueError:
        notes.append(f"{label}: {value!r} is not a date (YYYY-MM-DD).")
        return None


def _page(
    request: Request,
    form: dict[str, str],
    notes: list[str],
    job: dict[str, Any] | None,
    code: int = 200,
) -> HTMLResponse:
    report = job["report"] if job is not None else None
    chart = None
    if report is not None and report["redecided"]:
        total = report["total"]
        chart = charts.paired_bars(
            [(name, total["live"][name], total["draft"][name]) for name in OUTCOMES],
            "Decisions by outcome: live (first bar) and draft",
        )
    return render(
        request,
        "what_if.html",
        code=code,
        title="What-if",
        notes=notes,
        form=form,
        job=job,
        report=report,
        chart=chart,
        rows=MEASURES,
        refresh=job is not None and job["state"] == JobState.RUNNING.value,
    )
