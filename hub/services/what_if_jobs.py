"""What-if runs as jobs: each runs in its own thread; a caller waits a little for a small run and
polls for a long one. Bounded: a few runs at once, the latest finished ones kept (per process).
A job can be cancelled (``cancel``; ``stop`` cancels them all, e.g. at shutdown): its run ends
within a page of the log, and with it the process reading the log, if there is one.
"""

import logging
import threading
import uuid
from collections import OrderedDict
from dataclasses import dataclass, field
from enum import StrEnum
from typing import Any

from hub.services.what_if import WhatIfCancelled, WhatIfService, Window
from hub.store import OrderStore
from orchestration_policies import Policy, PolicyError
from orchestration_policies.what_if_report import WhatIfReport

log = logging.getLogger(__name__)

__all__ = ["Busy", "JobState", "WhatIfJob", "WhatIfJobs", "jobs_on"]


class JobState(StrEnum):
    RUNNING = "running"
    DONE = "done"
    FAILED = "failed"
    CANCELLED = "cancelled"


class Busy(Exception):
    """As many runs as allowed are going on; the caller asks again later."""


@dataclass
class WhatIfJob:
    job_id: str
    window: Window
    state: JobState = JobState.RUNNING
    decisions_done: int = 0
    report: WhatIfReport | None = None
    error: PolicyError | None = None  # the draft cannot be run over this window
    detail: str | None = None
    finished: threading.Event = field(default_factory=threading.Event)
    cancelled: threading.Event = field(default_factory=threading.Event)  # asked to stop

    def to_dict(self) -> dict[str, Any]:
        out: dict[str, Any] = {
            "job_id": self.job_id,
            "state": str(self.state),
            "decisions_done": self.decisions_done,
            "window": {
                "from": self.window.first.isoformat(),
                "to": self.window.last.isoformat(),
                "channel": self.window.channel,
            },
            "report": None if self.report is None else self.report.to_dict(),
            "detail": self.detail,
            "errors": [],
        }
        if self.error is not None:
            out["errors"] = [
                {"field": p.path or "(document)", "message": p.message, "code": "policy"}
                for p in self.error.problems
            ]
        return out


class WhatIfJobs:
    def __init__(self, service: WhatIfService, running: int = 2, kept: int = 20) -> None:
        self._service = service
        self._running = running
        self._kept = kept
        self._jobs: OrderedDict[str, WhatIfJob] = OrderedDict()
        self._lock = threading.Lock()

    def start(self, draft: Policy, window: Window, changes_kept: int) -> WhatIfJob:
        """Start a run; Busy when as many as allowed are running already."""
        with self._lock:
            if sum(j.state is JobState.RUNNING for j in self._jobs.values()) >= self._running:
                raise Busy(f"{self._running} what-if runs are going on; try again shortly")
            job = WhatIfJob(uuid.uuid4().hex, window)
            self._jobs[job.job_id] = job
            self._forget_old()
        thread = threading.Thread(
            target=self._run, args=(job, draft, changes_kept), name=f"what-if-{job.job_id[:8]}"
        )
        thread.daemon = True
        thread.start()
        return job

    def get(self, job_id: str) -> WhatIfJob | None:
        with self._lock:
            return self._jobs.get(job_id)

    def cancel(self, job_id: str) -> WhatIfJob | None:
        """Ask a running job to stop (it ends as CANCELLED); None: no such job."""
        job = self.get(job_id)
        if job is not None:
            job.cancelled.set()
        return job

    def stop(self, timeout: float = 10.0) -> bool:
        """Cancel every running job and wait for them to end; False: some did not in time."""
        with self._lock:
            running = [j for j in self._jobs.values() if j.state is JobState.RUNNING]
        for job in running:
            job.cancelled.set()
        return all(job.finished.wait(timeout) for job in running)

    def _run(self, job: WhatIfJob, draft: Policy, changes_kept: int) -> None:
        def progress(done: int) -> None:
            job.decisions_done = done
            if job.cancelled.is_set():
                raise WhatIfCancelled("the what-if run was cancelled")

        try:
            job.report = self._service.run(
                draft, job.window, progress, changes_kept, cancel=job.cancelled
            )
            job.state = JobState.DONE
        except WhatIfCancelled:
            job.detail = "the run was cancelled"
            job.state = JobState.CANCELLED
        except PolicyError as error:
            job.error, job.detail = error, "the draft cannot be run over this window"
            job.state = JobState.FAILED
        except Exception:
            log.exception("what-if run %s failed", job.job_id)
            job.detail = "the run failed; the hub's log says why"
            job.state = JobState.FAILED
        finally:
            job.finished.set()

    def _forget_old(self) -> None:
        finished = [k for k, j in self._jobs.items() if j.state is not JobState.RUNNING]
        for job_id in finished[: max(0, len(self._jobs) - self._kept)]:
            del self._jobs[job_id]


def jobs_on(state: Any, store: OrderStore) -> WhatIfJobs:
    """The process's what-if jobs, kept on the app's state (made on first use); the API and the
    console share them."""
    jobs: WhatIfJobs | None = getattr(state, "what_if_jobs", None)
    if jobs is None:
        jobs = state.what_if_jobs = WhatIfJobs(WhatIfService(store))
    return jobs
