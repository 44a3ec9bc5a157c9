"""`orderhub serve` embedded, as a user runs it, with routing in a second process: a killed
router is started again and nothing is lost; a stopped (hung) router is found by its silence,
killed and replaced, and nothing is lost; SIGTERM to the process group stops both cleanly (the
router by its parent, after the API's shutdown); a router whose API process died ends itself."""

import os
import signal
import time
from pathlib import Path
from typing import Any

import httpx
import pytest

from tests.contracts.factories import submission_dict
from tests.contracts.order_search_contract import LYON
from tests.support.processes import HubProcess, free_port, wait_for_http

SOURCE = {
    "source_id": "wh-lyon",
    "name": "Lyon DC",
    "kind": "warehouse",
    "lat": 45.75,
    "lon": 4.85,
    "country": "FR",
    "ships_to": ["FR"],
    "delivery_methods": ["standard", "express"],
    "daily_capacity": 10_000,
    "lead_time_days": 1,
    "cost": {"base": "4.50", "per_unit": "0.40", "per_km": "0.01", "currency": "EUR"},
}


def _gone(pid: int) -> bool:
    """Ended (a zombie waiting for whoever adopted it counts: it runs no more)."""
    try:
        with open(f"/proc/{pid}/stat") as stat:
            return stat.read().rsplit(")", 1)[1].split()[0] == "Z"
    except FileNotFoundError:
        return True


def _until(condition: Any, within: float, what: str) -> Any:
    deadline = time.monotonic() + within
    while not (found := condition()):
        assert time.monotonic() < deadline, f"{what}: not within {within} s"
        time.sleep(0.1)
    return found


def _router(api: httpx.Client) -> dict[str, Any] | None:
    routing: dict[str, Any] | None = api.get("/healthz").json().get("routing_process")
    return routing if routing and routing["routing"] else None


def _capture(api: httpx.Client, prefix: str, count: int) -> list[str]:
    ids = []
    for i in range(count):
        body = submission_dict(external_id=f"{prefix}{i}", ship_to=LYON, payment_state="authorized")
        answer = api.post("/v1/orders", json=body)
        assert answer.status_code == 202, answer.text
        ids.append(answer.json()["order_id"])
    return ids


def routing_with_stock(api: httpx.Client) -> int:
    """Once the routing process is up: a source with stock of both SKUs; the router's pid."""
    pid: int = _until(lambda: _router(api), 30, "routing process up")["pid"]
    assert api.put("/v1/sources/wh-lyon", json=SOURCE).status_code in (200, 201)
    for sku in ("RED-CHAIR", "BLUE-LAMP"):
        assert api.put(f"/v1/stock/wh-lyon/{sku}", json={"on_hand": 1000}).status_code == 200
    return pid


def _all_routed(api: httpx.Client, ids: list[str]) -> bool:
    return all(api.get(f"/v1/orders/{i}").json()["status"] == "routed" for i in ids)


@pytest.fixture
def serve(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> Any:
    monkeypatch.delenv("ORDERHUB_KAFKA_BOOTSTRAP", raising=False)
    monkeypatch.delenv("ORDERHUB_DATABASE_URL", raising=False)
    port = free_port()
    env = {
        "ORDERHUB_DATA_DIR": str(tmp_path / "data"),
        "ORDERHUB_API_PORT": str(port),
        "ORDERHUB_ROUTING_PROCESS": "on",
    }
    started: list[HubProcess] = []

    def start(**extra: str) -> tuple[HubProcess, httpx.Client]:
        proc = HubProcess("serve", env | extra, tmp_path, name=f"serve-{len(started)}")
        started.append(proc)
        wait_for_http(f"http://127.0.0.1:{port}/healthz", proc)
        return proc, httpx.Client(base_url=f"http://127.0.0.1:{port}", timeout=30)

    yield start
    for proc in started:
        proc.stop()


def test_a_killed_router_is_started_again_and_sigterm_stops_both(serve: Any) -> None:
    proc, api = serve()  # admission on: a lone client's captures are never shed
    first = routing_with_stock(api)

    before = _capture(api, "WEB-B", 20)
    _until(lambda: _all_routed(api, before), 30, "orders routed")
    os.kill(first, signal.SIGKILL)
    after = _capture(api, "WEB-A", 10)  # answered while routing is down
    _until(lambda: _all_routed(api, after), 60, "orders routed after the restart")
    again = _until(lambda: _router(api), 30, "routing process back")
    assert again["restarts"] == 1 and again["pid"] != first
    lamps = api.get("/v1/stock/wh-lyon/BLUE-LAMP").json()
    assert lamps["reserved"] == 30, "each order reserved once"

    os.killpg(proc.process.pid, signal.SIGTERM)  # the whole group, as a service manager does
    # uvicorn ends by raising the signal it caught again, once shut down.
    assert proc.process.wait(timeout=25) in (0, -signal.SIGTERM), proc.log_tail()
    assert _gone(again["pid"])
    log = proc.log_path.read_text(errors="replace")
    assert f"routing process {again['pid']} stopped (exit code 0)" in log, proc.log_tail()
    assert "Application shutdown complete" in log
    assert log.count("starting another") == 1, "only the killed one was started again"
    assert "database is locked" not in log and "Traceback" not in log, proc.log_tail(80)


def test_a_stopped_router_is_taken_for_hung_and_replaced(serve: Any) -> None:
    stall = 3.0
    proc, api = serve(ORDERHUB_ROUTING_STALL_SECONDS=str(stall))
    first = routing_with_stock(api)
    before = _capture(api, "WEB-B", 20)
    _until(lambda: _all_routed(api, before), 30, "orders routed")

    os.kill(first, signal.SIGSTOP)  # alive, but working no more
    try:
        # Killed within the deadline (and the parent's look every stall / 4 s), then replaced.
        _until(lambda: _gone(first), stall + 2, "the hung routing process killed")
        again = _until(lambda: (r := _router(api)) and r["pid"] != first and r, 30, "replaced")
    finally:
        if not _gone(first):
            os.kill(first, signal.SIGKILL)
    after = _capture(api, "WEB-A", 10)
    _until(lambda: _all_routed(api, before + after), 60, "orders routed after the restart")

    assert (again["restarts"], again["hangs"]) == (1, 1)
    lamps = api.get("/v1/stock/wh-lyon/BLUE-LAMP").json()
    assert lamps["reserved"] == 30, "each order reserved once"
    log = proc.log_path.read_text(errors="replace")
    assert log.count("taking it for hung") == 1, proc.log_tail()
    assert log.count("starting another") == 1, proc.log_tail()
    assert "Traceback" not in log, proc.log_tail(80)


def test_a_router_whose_api_process_died_ends_itself(serve: Any) -> None:
    proc, api = serve()
    router = _until(lambda: _router(api), 30, "routing process up")["pid"]

    os.kill(proc.process.pid, signal.SIGKILL)

    _until(lambda: _gone(router), 15, "the orphaned routing process ended")
