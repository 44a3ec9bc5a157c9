"""Worker roles on real Kafka and PostgreSQL: read models do not wait for routing (each role
consumes in its own group), each worker reports its consumer's health, and the orchestration
worker's supply view starts from the checkpoint its last clean stop wrote."""

import time
from pathlib import Path

import httpx
import pytest

from aggregates import order_id_for
from tests.support.processes import HubProcess, free_port, hub_env, wait_for_http

pytestmark = [pytest.mark.e2e, pytest.mark.kafka, pytest.mark.postgres]


def _submission(external_id: str) -> dict[str, object]:
    return {
        "channel": "web",
        "external_id": external_id,
        "placed_at": "2026-11-20T09:30:00+01:00",
        "customer": {"id": "CUST-7", "demand_class": "standard"},
        "ship_to": {
            "name": "Ana Lopez",
            "line1": "12 rue de la République",
            "city": "Lyon",
            "postal_code": "69002",
            "country": "FR",
        },
        "lines": [{"line_id": "1", "sku": "RED-CHAIR", "quantity": 2, "unit_price": "49.90"}],
        "currency": "EUR",
        "payment_state": "pending",
    }


def _status(base: str, order_id: str, wanted: set[str], timeout: float = 90.0) -> str:
    deadline = time.monotonic() + timeout
    last: object = None
    while time.monotonic() < deadline:
        response = httpx.get(f"{base}/v1/orders/{order_id}", timeout=5.0)
        last = (response.status_code, response.text[:200])
        if response.status_code == 200 and response.json()["status"] in wanted:
            return str(response.json()["status"])
        time.sleep(0.2)
    raise AssertionError(f"order {order_id} not in {wanted} within {timeout}s; last {last}")


def _wait_for_log(proc: HubProcess, text: str, timeout: float = 60.0) -> None:
    deadline = time.monotonic() + timeout
    while text not in proc.log_tail(400):
        assert time.monotonic() < deadline, f"{text!r} not logged: {proc.log_tail()}"
        time.sleep(0.2)


def test_an_order_is_visible_while_orchestration_is_down_and_routed_once_it_is_back(
    kafka_bootstrap: str, database_url: str, kafka_topic_prefix: str, tmp_path: Path
) -> None:
    health_port = free_port()
    env = hub_env(
        kafka_bootstrap,
        database_url,
        kafka_topic_prefix,
        tmp_path / "data",
        ORDERHUB_WORKER_ID="roles-test",
        ORDERHUB_LOG_LEVEL="info",
    )
    base = f"http://127.0.0.1:{env['ORDERHUB_API_PORT']}"
    started: list[HubProcess] = []

    def start(command: str, *args: str, name: str, **extra: str) -> HubProcess:
        proc = HubProcess(command, {**env, **extra}, tmp_path, args=args, name=name)
        started.append(proc)
        return proc

    try:
        api = start("serve", name="serve")
        start("relay", name="relay")
        start("worker", "--role", "intake", name="intake")
        projections = start(
            "worker",
            "--role",
            "projections",
            name="projections",
            ORDERHUB_WORKER_HEALTH_PORT=str(health_port),
        )
        wait_for_http(f"{base}/healthz", api)

        response = httpx.post(f"{base}/v1/orders", json=_submission("WEB-ROLES-1"), timeout=30)
        assert response.status_code == 202, response.text
        order_id = str(order_id_for("web", "WEB-ROLES-1"))

        # No orchestration worker runs: the order is shown as accepted all the same.
        assert _status(base, order_id, {"accepted"}) == "accepted"

        wait_for_http(f"http://127.0.0.1:{health_port}/healthz", projections)
        worker_health = httpx.get(f"http://127.0.0.1:{health_port}/healthz").json()
        assert worker_health["role"] == "projections"
        assert worker_health["status"] == "ok"

        # The API sees the order events waiting for the orchestration role's group of them
        # (nobody consumes them): lag, but not yet a stall (no commit expected for
        # ORDERHUB_STALL_SECONDS).
        orchestration = f"{env['ORDERHUB_CONSUMER_GROUP']}-orchestration-order-events"
        deadline = time.monotonic() + 60
        waiting: dict[str, object] = {}
        while time.monotonic() < deadline:
            consumers = httpx.get(f"{base}/healthz").json()["consumers"]
            waiting = next(c for c in consumers if c["group"] == orchestration)
            if isinstance(waiting["lag"], int) and waiting["lag"] > 0:
                break
            time.sleep(0.5)
        assert isinstance(waiting["lag"], int) and waiting["lag"] > 0, waiting
        assert waiting["state"] == "lagging"

        # Orchestration comes up: the same order moves on (held: its payment is pending).
        routing = start("worker", "--role", "orchestration", name="orchestration")
        assert _status(base, order_id, {"held"}) == "held"
        assert "supply view started from a full rebuild" in routing.log_tail(400)

        # Told to stop, each worker and the relay (idle, waiting for events or notices) is gone
        # within 10 s, having stopped cleanly rather than being killed.
        def stopped_cleanly(proc: HubProcess) -> None:
            began = time.monotonic()
            proc.stop()
            took = time.monotonic() - began
            assert took < 10 and proc.process.returncode is not None, (proc.name, took)
            assert proc.process.returncode >= 0, (proc.name, proc.process.returncode)

        stopped_cleanly(routing)
        # Its clean stop left a checkpoint of its supply view; the next start begins there.
        again = start("worker", "--role", "orchestration", name="orchestration-again")
        _wait_for_log(again, "supply view started from the checkpoint at")
        # Stopped once running (one stopped while starting leaves cleanly too:
        # tests/e2e/test_worker_stopped_while_starting.py).
        _wait_for_log(again, "[^Worker]: Ready")
        for proc in (again, started[1], started[2]):
            stopped_cleanly(proc)
    finally:
        for proc in reversed(started):
            proc.stop()
