"""Distributed mode end to end: API, worker and relay processes on real Kafka and PostgreSQL."""

import asyncio
import json
import time
from pathlib import Path
from typing import Any

import httpx
import pytest

from aggregates import order_id_for
from connectors.codec import record_to_envelope
from schemas.event_types import EventType
from tests.support.kafka import read_topic
from tests.support.processes import hub_processes, wait_for_http

pytestmark = [pytest.mark.e2e, pytest.mark.kafka, pytest.mark.postgres]

# The orchestrator runs right after intake: an accepted order may already be held or routed
# by the time the read model is asked (these orders' payment is pending: the default policy
# holds them).
ACCEPTED_OR_LATER = {"accepted", "held", "routed", "backordered", "unroutable"}


def _submission(external_id: str, **changes: object) -> dict[str, object]:
    order: dict[str, object] = {
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
    }
    order.update(changes)
    return order


def _poll_json(url: str, ready: "callable", timeout: float = 60.0) -> dict[str, object]:  # type: ignore[valid-type]
    deadline = time.monotonic() + timeout
    last: object = None
    while time.monotonic() < deadline:
        response = httpx.get(url, timeout=5.0)
        last = (response.status_code, response.text)
        if response.status_code == 200 and ready(response.json()):
            return dict(response.json())
        time.sleep(0.1)
    raise AssertionError(f"{url} not ready within {timeout}s; last answer {last}")


def test_post_goes_through_kafka_intake_and_relay_to_accepted_status(
    distributed_env: dict[str, str], tmp_path: Path
) -> None:
    env = distributed_env
    base = f"http://127.0.0.1:{env['ORDERHUB_API_PORT']}"
    prefix = env["ORDERHUB_TOPIC_PREFIX"]
    with hub_processes(["serve", "worker", "relay"], env, tmp_path) as procs:
        wait_for_http(f"{base}/healthz", procs["serve"])

        response = httpx.post(f"{base}/v1/orders", json=_submission("WEB-1001"), timeout=30)
        assert response.status_code == 202, response.text
        order_id = str(order_id_for("web", "WEB-1001"))
        assert response.headers["location"] == f"/v1/orders/{order_id}"
        assert response.json()["outcome"] == "submitted"

        # The submission itself is on the submitted topic, keyed by the order id.
        submitted = asyncio.run(
            read_topic(
                env["ORDERHUB_KAFKA_BOOTSTRAP"],
                f"{prefix}orderhub.orders.submitted",
                until=lambda rs: any(r.key == order_id.encode() for r in rs),
            )
        )
        assert json.loads(submitted[0].value)["external_id"] == "WEB-1001"

        # Intake recorded Placed + Accepted; the relay put both on the events topic, in order.
        events = asyncio.run(
            read_topic(
                env["ORDERHUB_KAFKA_BOOTSTRAP"],
                f"{prefix}orderhub.orders.events",
                until=lambda rs: sum(r.key == order_id.encode() for r in rs) >= 2,
            )
        )
        mine = [record_to_envelope(r.key, r.value, r.headers) for r in events]
        mine = [e for e in mine if e.subject == order_id]
        assert [e.type for e in mine[:2]] == [EventType.ORDER_PLACED, EventType.ORDER_ACCEPTED]
        assert [e.sequence for e in mine[:2]] == [1, 2]
        assert mine[1].actor.id == "intake"
        assert len({r.partition for r in events if r.key == order_id.encode()}) == 1

        # The projection followed the events topic into PostgreSQL.
        status = _poll_json(
            f"{base}/v1/orders/{order_id}", lambda body: body["status"] in ACCEPTED_OR_LATER
        )
        assert status["total"] == "99.80"
        assert status["country"] == "FR"

        # Re-sending the same order answers 200 with the same id, and records nothing new.
        again = httpx.post(f"{base}/v1/orders", json=_submission("WEB-1001"), timeout=30)
        assert again.status_code == 200
        assert again.json()["order_id"] == order_id

        conflict = httpx.post(
            f"{base}/v1/orders", json=_submission("WEB-1001", currency="USD"), timeout=30
        )
        assert conflict.status_code == 409
        assert conflict.json()["order_id"] == order_id


def test_poison_and_invalid_submissions_are_parked_and_the_worker_moves_on(
    distributed_env: dict[str, str], tmp_path: Path
) -> None:
    from aiokafka import AIOKafkaProducer

    env = distributed_env
    prefix = env["ORDERHUB_TOPIC_PREFIX"]
    bootstrap = env["ORDERHUB_KAFKA_BOOTSTRAP"]
    base = f"http://127.0.0.1:{env['ORDERHUB_API_PORT']}"

    async def produce() -> None:
        producer = AIOKafkaProducer(bootstrap_servers=bootstrap, acks="all")
        await producer.start()
        try:
            topic = f"{prefix}orderhub.orders.submitted"
            await producer.send_and_wait(topic, b"\xff\xfe not json", key=b"poison")
            bad = _submission(
                "WEB-2002",
                lines=[{"line_id": "1", "sku": "RED-CHAIR", "quantity": 0, "unit_price": "1.00"}],
            )
            await producer.send_and_wait(topic, json.dumps(bad).encode(), key=b"invalid")
            good = _submission("WEB-2003")
            await producer.send_and_wait(topic, json.dumps(good).encode(), key=b"good")
        finally:
            await producer.stop()

    with hub_processes(["serve", "worker", "relay"], env, tmp_path) as procs:
        wait_for_http(f"{base}/healthz", procs["serve"])
        asyncio.run(produce())

        dlq = asyncio.run(
            read_topic(bootstrap, f"{prefix}orderhub.dlq", until=lambda rs: len(rs) >= 1)
        )
        assert dlq[0].value == b"\xff\xfe not json"
        assert dlq[0].header("dlq-original-topic") == f"{prefix}orderhub.orders.submitted"
        assert "unparseable" in (dlq[0].header("dlq-error") or "")

        def recorded(records: list[Any]) -> list[Any]:
            return [record_to_envelope(r.key, r.value, r.headers) for r in records]

        # Two records: the invalid submission, and the poison message listed from the DLQ.
        rejected = recorded(
            asyncio.run(
                read_topic(
                    bootstrap, f"{prefix}orderhub.orders.rejected", until=lambda rs: len(rs) >= 2
                )
            )
        )
        (kept,) = [env for env in rejected if env.data["reason"] == "invalid_submission"]
        (parked,) = [env for env in rejected if env.data["reason"] == "dead_lettered"]
        assert parked.data["details"]["topic"] == f"{prefix}orderhub.orders.submitted"
        assert kept.type == EventType.REJECTED_SUBMISSION_RECORDED
        assert kept.data["external_id"] == "WEB-2002"
        assert [p["field"] for p in kept.data["problems"]] == ["lines.0.quantity"]
        assert json.loads(kept.data["raw_payload"])["external_id"] == "WEB-2002"

        deadline = time.monotonic() + 30
        listed: list[dict[str, object]] = []
        while not listed and time.monotonic() < deadline:
            url = f"{base}/v1/submissions/rejected"
            listed = httpx.get(url, params={"channel": "web"}).json()
            time.sleep(0.1)
        assert [r["external_id"] for r in listed] == ["WEB-2002"]

        good_id = str(order_id_for("web", "WEB-2003"))
        _poll_json(f"{base}/v1/orders/{good_id}", lambda b: b["status"] in ACCEPTED_OR_LATER)
