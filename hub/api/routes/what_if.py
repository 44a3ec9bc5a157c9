"""What-if over recorded history (admins, auditors): a draft policy re-decides the decisions of a
window; a small run answers at once, a long one is a job to poll. Nothing is written."""

import asyncio
from typing import Annotated, Any

from fastapi import APIRouter, Depends, Path, Request
from fastapi.responses import JSONResponse

from hub.api.deps import HubDep, require
from hub.api.problems import ProblemError, not_found
from hub.services.access import Principal
from hub.services.what_if import Window, draft_policy, window_problems
from hub.services.what_if_jobs import Busy, JobState, WhatIfJob, WhatIfJobs, jobs_on
from orchestration_policies import PolicyError, Problem
from schemas.problems import FieldProblem
from schemas.problems import Problem as ProblemBody
from schemas.what_if import WhatIfJobPublic, WhatIfRun

router = APIRouter(prefix="/v1/policies/what-if", tags=["policies"])
Auditor = Annotated[Principal, Depends(require("decisions:rerun"))]
# How long a request waits for its run before answering 202 with the job to poll.
WAIT_SECONDS = 3.0


def jobs_of(request: Request, hub: HubDep) -> WhatIfJobs:
    return jobs_on(request.app.state, hub.store)


Jobs = Annotated[WhatIfJobs, Depends(jobs_of)]
FORBIDDEN: dict[int | str, dict[str, Any]] = {
    403: {"description": "The role may not run what-if (admin and auditor may)"}
}
NO_SUCH_JOB: dict[int | str, dict[str, Any]] = {
    404: {"description": "No such job (finished jobs are kept for a while, per process)"}
}


@router.post(
    "",
    response_model=WhatIfJobPublic,
    responses={
        202: {"model": WhatIfJobPublic, "description": "A long run: poll the job (Location)"},
        **FORBIDDEN,
        422: {
            "description": "The draft policy is not valid (field by field), reads an order "
            "attribute no decision of the window carried, or the window is not valid"
        },
        429: {"description": "As many runs as allowed are going on; try again shortly"},
    },
)
async def run_what_if(body: WhatIfRun, request: Request, jobs: Jobs, _: Auditor) -> JSONResponse:
    """Re-decide the window's recorded decisions with the draft policy, in their order, carrying
    the draft's own reservations forward; the report puts the draft beside the live policy."""
    wrong = window_problems(body.from_, body.to)
    if wrong:
        raise _invalid("The window is not valid", wrong)
    try:
        draft = await asyncio.to_thread(draft_policy, body.policy)
    except PolicyError as error:
        raise _invalid("The draft policy is not valid", error.problems) from None
    try:
        job = jobs.start(draft, Window(body.from_, body.to, body.channel), body.changes)
    except Busy as busy:
        raise ProblemError(
            ProblemBody(type="/problems/busy", title=str(busy), status=429),
            headers={"Retry-After": "10"},
        ) from None
    wait = getattr(request.app.state, "what_if_wait_seconds", WAIT_SECONDS)
    await asyncio.to_thread(job.finished.wait, wait)
    if job.state is JobState.RUNNING:
        return JSONResponse(
            _public(job),
            status_code=202,
            headers={"Location": f"/v1/policies/what-if/{job.job_id}"},
        )
    if job.error is not None:
        raise _invalid("The draft cannot be run over this window", job.error.problems)
    return JSONResponse(_public(job))


@router.get(
    "/{job_id}",
    response_model=WhatIfJobPublic,
    responses={
        **FORBIDDEN,
        **NO_SUCH_JOB,
    },
)
async def what_if_job(
    job_id: Annotated[str, Path(min_length=1, max_length=64)], jobs: Jobs, _: Auditor
) -> dict[str, Any]:
    """A what-if run: running (with the decisions done so far), done (with the report) or failed
    (with the reasons)."""
    job = jobs.get(job_id)
    if job is None:
        raise not_found(f"what-if job {job_id!r}")
    return _public(job)


@router.delete(
    "/{job_id}",
    response_model=WhatIfJobPublic,
    responses={
        202: {"model": WhatIfJobPublic, "description": "Asked to stop; still stopping: poll it"},
        **FORBIDDEN,
        **NO_SUCH_JOB,
    },
)
async def cancel_what_if_job(
    job_id: Annotated[str, Path(min_length=1, max_length=64)],
    request: Request,
    jobs: Jobs,
    _: Auditor,
) -> JSONResponse:
    """Cancel a running what-if run (it ends as `cancelled`, its reader with it); a finished one
    is answered as it is."""
    job = jobs.cancel(job_id)
    if job is None:
        raise not_found(f"what-if job {job_id!r}")
    wait = getattr(request.app.state, "what_if_wait_seconds", WAIT_SECONDS)
    await asyncio.to_thread(job.finished.wait, wait)
    return JSONResponse(_public(job), status_code=202 if job.state is JobState.RUNNING else 200)


def _public(job: WhatIfJob) -> dict[str, Any]:
    return WhatIfJobPublic.model_validate(job.to_dict()).model_dump(mode="json")


def _invalid(title: str, problems: tuple[Problem, ...] | list[Problem]) -> ProblemError:
    return ProblemError(
        ProblemBody(
            type="/problems/invalid-what-if",
            title=title,
            status=422,
            errors=[
                FieldProblem(field=p.path or "(document)", message=p.message, code="what_if")
                for p in problems
            ],
        )
    )
