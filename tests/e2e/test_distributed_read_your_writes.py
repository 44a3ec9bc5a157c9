"""Distributed, on real Kafka and PostgreSQL: an acknowledged order is readable once the intake
has recorded it, with neither the relay nor the projections role running (the order status
view never hears of it): `GET /v1/orders/{id}` answers from the order's stored events, as the
view would (hub.services.order_reads)."""

import time
from pathlib import Path

import httpx
import pytest

from aggregates import order_id_for
from tests.contracts.factories import DEFAULT_TOTAL, submission_dict
from tests.support.processes import HubProcess, hub_env, wait_for_http

pytestmark = [pytest.mark.e2e, pytest.mark.kafka, pytest.mark.postgres]


def _first_found(url: str, timeout: float = 60.0) -> httpx.Response:
    """The first answer to GET that is not a 404 (the intake has not recorded it yet)."""
    deadline = time.monotonic() + timeout
    while True:
        response = httpx.get(url, timeout=5.0)
        if response.status_code != 404 or time.monotonic() > deadline:
            return response
        time.sleep(0.1)


def test_an_order_is_readable_from_the_store_with_no_relay_nor_projections(
    kafka_bootstrap: str, database_url: str, kafka_topic_prefix: str, tmp_path: Path
) -> None:
    env = hub_env(kafka_bootstrap, database_url, kafka_topic_prefix, tmp_path / "data")
    base = f"http://127.0.0.1:{env['ORDERHUB_API_PORT']}"
    started: list[HubProcess] = []
    try:
        api = HubProcess("serve", env, tmp_path, name="serve")
        started.append(api)
        started.append(HubProcess("worker", env, tmp_path, args=("--role", "intake"), name="in"))
        wait_for_http(f"{base}/healthz", api)

        submitted = submission_dict(external_id="WEB-RYW-1")
        answer = httpx.post(f"{base}/v1/orders", json=submitted, timeout=30)
        assert answer.status_code == 202, answer.text
        order_id = str(order_id_for(submitted["channel"], "WEB-RYW-1"))

        found = _first_found(f"{base}/v1/orders/{order_id}")

        assert found.status_code == 200, found.text
        order = found.json()
        assert (order["order_id"], order["external_id"]) == (order_id, "WEB-RYW-1")
        assert order["status"] == "accepted", "what the intake's events say"
        assert order["total"] == DEFAULT_TOTAL and order["line_count"] == 2
        unknown = httpx.get(f"{base}/v1/orders/{order_id_for('web-shop', 'NONE')}", timeout=5)
        assert unknown.status_code == 404
    finally:
        for proc in started:
            proc.stop()
