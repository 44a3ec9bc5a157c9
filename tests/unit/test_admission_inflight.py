"""The API's captures in flight as admission control's first stage (hub.api.admission_inflight):
embedded, capture itself was the bottleneck, and routing's backlog never showed it."""

import asyncio
import math
from collections.abc import Sequence

import pytest
from fastapi import FastAPI
from fastapi.responses import JSONResponse
from fastapi.testclient import TestClient

from hub.api.admission import Admission, Queue
from hub.api.admission_inflight import CaptureCount, CountCaptures
from hub.api.problems import ProblemError


def test_waiting_captures_over_the_rate_they_are_taken() -> None:
    now = {"t": 0.0}
    count = CaptureCount(lambda: now["t"])
    tokens = [count.begin() for _ in range(200)]  # 200 arrive at t=0
    assert count.stage().waiting == 200
    for step in range(1, 11):  # 0.2 s apart: 10 taken, 10 refused (not counted as work)
        now["t"] = step * 0.2
        for token in tokens[:10]:
            count.end(token, captured=True)
        for token in tokens[10:20]:
            count.end(token, captured=False)
        del tokens[:20]
        lag = count.stage()
    assert lag.waiting == 0 and lag.drain_seconds == 0.0
    tokens = [count.begin() for _ in range(100)]
    now["t"] = 2.2
    lag = count.stage()
    assert lag.waiting == 100
    assert lag.drain_seconds == pytest.approx(2.0)  # taken at 50/s, refusals left out
    now["t"] = 3.0
    assert count.stage().age == pytest.approx(1.0)  # the oldest began at t=2.0


def test_captures_that_stopped_moving_cannot_drain() -> None:
    now = {"t": 0.0}
    count = CaptureCount(lambda: now["t"])
    count.begin()
    count.stage()
    now["t"] = 6.0
    assert math.isinf(count.stage().drain_seconds)


def test_a_capture_backlog_sheds_though_routing_is_idle() -> None:
    now = {"t": 0.0}
    count = CaptureCount(lambda: now["t"])

    async def idle_routing() -> Sequence[Queue]:
        return [Queue({"p0": 10}, {"p0": 10})]

    gate = Admission(idle_routing, 5.0, 0.2, 30, clock=lambda: now["t"], captures=count)
    open_ = [count.begin() for _ in range(300)]
    asyncio.run(gate.sample_once())
    for step in range(1, 6):  # taken at 50/s, 300 waiting: 6 s expected
        now["t"] = step * 0.2
        for token in open_[:10]:
            count.end(token, captured=True)
        del open_[:10]
        open_ += [count.begin() for _ in range(10)]
        asyncio.run(gate.sample_once())
    assert gate.verdict.shed
    assert gate.verdict.expected_seconds == pytest.approx(6.0)
    assert gate.verdict.lag_seconds < 5.0  # shed on the expected wait, not the age
    with pytest.raises(ProblemError) as refused:
        gate.check("orders")
    assert refused.value.headers["Retry-After"] == "4"  # 6 s back under 2.5 s


def app_counting(count: CaptureCount) -> FastAPI:
    app = FastAPI()
    app.add_middleware(CountCaptures)
    app.state.admission = Admission(None, 5.0, 0.2, 30, captures=count)
    seen: dict[str, int] = {}

    @app.post("/v1/orders")
    async def capture(status: int = 202) -> JSONResponse:
        seen["waiting"] = count.stage().waiting  # counted while it runs
        if status == 500:
            raise RuntimeError("capture failed")
        return JSONResponse({}, status_code=status)

    @app.get("/v1/orders")
    async def read() -> JSONResponse:
        seen["waiting"] = count.stage().waiting
        return JSONResponse({})

    app.state.seen = seen
    return app


def test_the_middleware_counts_capture_requests_until_they_are_answered() -> None:
    count = CaptureCount()
    app = app_counting(count)
    client = TestClient(app, raise_server_exceptions=False)
    assert client.post("/v1/orders").status_code == 202
    assert app.state.seen["waiting"] == 1
    assert client.get("/v1/orders").status_code == 200
    assert app.state.seen["waiting"] == 0  # a read is not a capture
    assert client.post("/v1/orders?status=429").status_code == 429
    assert client.post("/v1/orders?status=500").status_code == 500
    lag = count.stage()
    assert lag.waiting == 0  # every one ended, the failed one too
    assert count._answered == 1  # only the 202 was a capture taken
