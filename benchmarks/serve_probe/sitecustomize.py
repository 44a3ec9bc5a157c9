"""Where a capture's REST time goes inside `orderhub serve`, measured, for a benchmark's run.

Run:  PYTHONPATH=benchmarks/serve_probe ORDERHUB_SERVE_PROBE=/tmp/probe \
          python -m benchmarks.api_capture --rate 250 --seconds 15 --runs 1
      (or `benchmarks.flow`: every hub process inherits the environment; only `serve` probes)

Python imports this module at the start of every process when its folder is on PYTHONPATH; in
a `serve` process with ORDERHUB_SERVE_PROBE set it writes one JSON line every 2 s to
`<ORDERHUB_SERVE_PROBE>.<pid>.jsonl`: the event loop's lag (a thread asks the loop to run a
callback every 5 ms and times how late it runs: how long the loop was held by a step), the
cyclic collector's passes by generation (count, wall ms, CPU ms of the collecting thread,
longest), and p50 / p99 / max ms of the capture request (`CaptureFastPath`), its duplicate
check (`ExistingChecks.check`: the gather wait, the store read in the checks' thread, the
hand-back) and its produce (`SubmissionGateway.submit`: to the broker's acknowledgement).
Diagnosis only: its thread wakes the loop 200 times a second.
"""

import asyncio
import asyncio.events
import gc
import json
import os
import sys
import threading
import time
from collections.abc import Callable
from typing import Any

_OUT = os.environ.get("ORDERHUB_SERVE_PROBE")
_lags: list[float] = []
_passes: list[tuple[int, float, float]] = []
_stages: dict[str, list[float]] = {}
_began: dict[str, float] = {}


def _ms(values: list[float], share: float) -> float | None:
    if not values:
        return None
    return round(1000 * values[min(len(values) - 1, int(share * len(values)))], 2)


def _on_collection(phase: str, info: dict[str, Any]) -> None:
    if phase == "start":
        _began["wall"], _began["cpu"] = time.perf_counter(), time.thread_time()
    else:
        wall = time.perf_counter() - _began["wall"]
        _passes.append((info["generation"], wall, time.thread_time() - _began["cpu"]))


def _timed(original: Callable[..., Any], label: str) -> Callable[..., Any]:
    async def timed(self: Any, *args: Any) -> Any:
        started = time.perf_counter()
        try:
            return await original(self, *args)
        finally:
            _stages.setdefault(label, []).append(time.perf_counter() - started)

    return timed


def _wrap_stages() -> None:
    from hub.api.capture_path import CaptureFastPath
    from hub.services.existing_checks import ExistingChecks
    from hub.streaming.submissions import SubmissionGateway

    for owner, name, label in (
        (CaptureFastPath, "__call__", "request"),
        (ExistingChecks, "check", "check"),
        (SubmissionGateway, "submit", "produce"),
    ):
        setattr(owner, name, _timed(getattr(owner, name), label))


def _window() -> dict[str, Any]:
    lags = sorted(_lags)
    _lags.clear()
    passes = list(_passes)
    _passes.clear()
    row: dict[str, Any] = {
        "t": time.strftime("%H:%M:%S"),
        "lag": [len(lags), _ms(lags, 0.5), _ms(lags, 0.99), _ms(lags, 1.0)],
    }
    for label in ("request", "check", "produce"):
        taken = sorted(_stages.pop(label, []))
        row[label] = [len(taken), _ms(taken, 0.5), _ms(taken, 0.99), _ms(taken, 1.0)]
    for generation in (0, 1, 2):
        made = [p for p in passes if p[0] == generation]
        walls = [p[1] for p in made]
        row[f"gc{generation}"] = [
            len(made),
            round(1000 * sum(walls), 2),
            round(1000 * sum(p[2] for p in made), 2),
            round(1000 * max(walls, default=0.0), 2),
        ]
    return row


def _ran(asked: float) -> None:
    _lags.append(time.perf_counter() - asked)


def _watch(loop: asyncio.AbstractEventLoop, out: str) -> None:
    _wrap_stages()
    last = time.monotonic()
    while True:
        time.sleep(0.005)
        try:
            loop.call_soon_threadsafe(_ran, time.perf_counter())
        except RuntimeError:  # the loop closed
            return
        if time.monotonic() - last > 2:
            last = time.monotonic()
            with open(f"{out}.{os.getpid()}.jsonl", "a") as file:
                file.write(json.dumps(_window()) + "\n")


def _install(out: str) -> None:
    gc.callbacks.append(_on_collection)
    original = asyncio.events._set_running_loop
    watched: list[asyncio.AbstractEventLoop] = []

    def set_running_loop(loop: asyncio.AbstractEventLoop | None) -> None:
        original(loop)
        if loop is not None and not watched:
            watched.append(loop)
            threading.Thread(target=_watch, args=(loop, out), daemon=True).start()

    # uvloop and asyncio both announce their running loop through this function.
    asyncio.events._set_running_loop = set_running_loop
    asyncio._set_running_loop = set_running_loop


if _OUT and "serve" in sys.argv:
    _install(_OUT)
