"""Operations in distributed mode, through real processes (API, worker, relay) on Kafka and
PostgreSQL: the exception queue, ops actions recorded as the user, the audit trail, stock
levels, and a poison message listed as a parked exception."""

import json
import time
from collections.abc import Callable
from pathlib import Path
from typing import Any

import httpx
import pytest
from aiokafka import AIOKafkaProducer

from aggregates import order_id_for
from schemas.event_types import EventType
from tests.e2e.test_distributed_orchestration import _order, _source
from tests.support.processes import hub_env, hub_processes, wait_for_http

pytestmark = [pytest.mark.e2e, pytest.mark.kafka, pytest.mark.postgres]


def _eventually(read: Callable[[], Any], ok: Callable[[Any], bool], what: str) -> Any:
    deadline = time.monotonic() + 60
    last = None
    while time.monotonic() < deadline:
        last = read()
        if ok(last):
            return last
        time.sleep(0.2)
    raise AssertionError(f"{what} never happened; last: {last}")


async def _produce(bootstrap: str, topic: str, value: bytes) -> None:
    producer = AIOKafkaProducer(bootstrap_servers=bootstrap, acks="all")
    await producer.start()
    try:
        await producer.send_and_wait(topic, value)
    finally:
        await producer.stop()


def test_a_held_order_is_worked_from_the_queue_and_a_poison_message_is_listed(
    kafka_bootstrap: str, database_url: str, kafka_topic_prefix: str, tmp_path: Path
) -> None:
    env = hub_env(kafka_bootstrap, database_url, kafka_topic_prefix, tmp_path / "data")
    base = f"http://127.0.0.1:{env['ORDERHUB_API_PORT']}"
    with hub_processes(["serve", "worker", "relay"], env, tmp_path) as procs:
        wait_for_http(f"{base}/healthz", procs["serve"])
        for source_id, lat, lon in (("wh-lyon", 45.75, 4.85), ("wh-lille", 50.63, 3.06)):
            httpx.put(f"{base}/v1/sources/{source_id}", json=_source(source_id, lat, lon))
            httpx.put(f"{base}/v1/stock/{source_id}/OAK-TABLE", json={"on_hand": 4})

        unpaid = {**_order("WEB-8001"), "payment_state": "pending"}
        assert httpx.post(f"{base}/v1/orders", json=unpaid, timeout=30).status_code == 202
        order_id = str(order_id_for("web", "WEB-8001"))

        def holds() -> list[dict[str, Any]]:
            answer = httpx.get(f"{base}/v1/ops/exceptions", params={"kind": "on_hold"}).json()
            return [e for e in answer["exceptions"] if e["order_id"] == order_id]

        (held,) = _eventually(holds, lambda rows: len(rows) == 1, "the hold in the queue")
        assert held["channel"] == "web" and held["customer_id"] == "CUST-9"
        assert "payment" in held["reason"]

        assigned = httpx.post(
            f"{base}/v1/ops/exceptions/{held['exception_id']}/assign",
            json={"assignee": "alice"},
            headers={"X-Actor": "user:bob"},
        )
        assert assigned.status_code == 200, assigned.text
        _eventually(holds, lambda rows: rows and rows[0]["assignee"] == "alice", "assignment")

        # Sent to wh-lille by hand although wh-lyon is closer: the user's choice wins.
        rerouted = httpx.post(
            f"{base}/v1/orders/{order_id}/reroute",
            json={"source_id": "wh-lille", "reason": "customer collects in Lille"},
            headers={"X-Actor": "user:bob"},
        )
        assert rerouted.status_code == 202, rerouted.text
        _eventually(holds, lambda rows: rows == [], "the hold resolved by the re-route")
        _eventually(
            lambda: httpx.get(f"{base}/v1/orders/{order_id}").json()["status"],
            lambda status: status == "routed",
            "routing after the re-route",
        )
        decision = httpx.get(f"{base}/v1/orders/{order_id}/decision").json()
        assert list(decision["decision"]["shipments"]) == ["wh-lille"]

        trail = _eventually(
            lambda: httpx.get(f"{base}/v1/orders/{order_id}/audit").json()["events"],
            lambda events: any(e["type"] == EventType.ORDER_ROUTED for e in events),
            "the routing in the audit trail",
        )
        # The lines' data is read from the event store: the re-route's decision is in it.
        routed = [e["data"] for e in trail if e["type"] == EventType.ORDER_ROUTED]
        assert any("wh-lille" in json.dumps(data) for data in routed)
        reroute = next(e for e in trail if e["type"] == EventType.ORDER_REROUTE_REQUESTED)
        assert reroute["actor"] == "user:bob"
        assert "wh-lille" in reroute["summary"]
        assert any(e["type"] == EventType.EXCEPTION_CASE_ASSIGNED for e in trail)

        stock = _eventually(
            lambda: httpx.get(f"{base}/v1/ops/stock", params={"source": "wh-lille"}).json(),
            lambda page: page["stock"] and page["stock"][0]["reserved"] == 1,
            "the reservation in the stock view",
        )
        assert stock["stock"][0]["available"] == 3

        import asyncio

        asyncio.run(
            _produce(kafka_bootstrap, f"{kafka_topic_prefix}orderhub.orders.submitted", b"{oops")
        )
        parked = _eventually(
            lambda: httpx.get(f"{base}/v1/ops/exceptions", params={"kind": "parked"}).json(),
            lambda answer: len(answer["exceptions"]) == 1,
            "the poison message listed as parked",
        )
        assert "orderhub.orders.submitted" in parked["exceptions"][0]["channel"]
        assert parked["counts"]["parked"] == 1
