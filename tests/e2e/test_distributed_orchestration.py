"""Distributed orchestration end to end: sources and stock in, order in, `Routed` and
`FulfillmentRequested` out on their Kafka topics, with the explanation."""

import asyncio
from pathlib import Path

import httpx
import pytest

from aggregates import order_id_for
from connectors.codec import record_to_envelope
from schemas.event_types import EventType
from tests.support.kafka import read_topic
from tests.support.processes import hub_env, hub_processes, wait_for_http, wait_status

pytestmark = [pytest.mark.e2e, pytest.mark.kafka, pytest.mark.postgres]


def _source(source_id: str, lat: float, lon: float) -> dict[str, object]:
    return {
        "source_id": source_id,
        "name": source_id,
        "kind": "warehouse",
        "lat": lat,
        "lon": lon,
        "country": "FR",
        "ships_to": ["FR", "BE"],
        "delivery_methods": ["standard", "express"],
        "daily_capacity": 500,
        "cost": {"base": "4.50", "per_unit": "0.40", "per_km": "0.01", "currency": "EUR"},
        "lead_time_days": 1,
    }


def _order(external_id: str) -> dict[str, object]:
    return {
        "channel": "web",
        "external_id": external_id,
        "placed_at": "2026-11-20T09:30:00Z",
        "customer": {"id": "CUST-9"},
        "ship_to": {
            "name": "Léa Martin",
            "line1": "8 quai Saint-Antoine",
            "city": "Lyon",
            "postal_code": "69002",
            "country": "FR",
            "lat": 45.7640,
            "lon": 4.8357,
        },
        "lines": [{"line_id": "1", "sku": "OAK-TABLE", "quantity": 1, "unit_price": "329.00"}],
        "currency": "EUR",
        "payment_state": "authorized",
    }


def test_accepted_order_is_routed_and_its_fulfillment_request_goes_to_the_source_topic(
    kafka_bootstrap: str, database_url: str, kafka_topic_prefix: str, tmp_path: Path
) -> None:
    env = hub_env(kafka_bootstrap, database_url, kafka_topic_prefix, tmp_path / "data")
    base = f"http://127.0.0.1:{env['ORDERHUB_API_PORT']}"
    with hub_processes(["serve", "worker", "relay"], env, tmp_path) as procs:
        wait_for_http(f"{base}/healthz", procs["serve"])
        for source_id, lat, lon in (("wh-lyon", 45.75, 4.85), ("wh-lille", 50.63, 3.06)):
            assert httpx.put(
                f"{base}/v1/sources/{source_id}", json=_source(source_id, lat, lon)
            ).status_code in (200, 201)
            assert (
                httpx.put(f"{base}/v1/stock/{source_id}/OAK-TABLE", json={"on_hand": 4}).status_code
                == 200
            )

        response = httpx.post(f"{base}/v1/orders", json=_order("WEB-7001"), timeout=30)
        assert response.status_code == 202, response.text
        order_id = str(order_id_for("web", "WEB-7001"))
        wait_status(base, order_id, "routed")

        requests = asyncio.run(
            read_topic(
                kafka_bootstrap,
                f"{kafka_topic_prefix}orderhub.fulfillment.requests",
                until=lambda rs: len(rs) >= 1,
            )
        )
        request = record_to_envelope(requests[0].key, requests[0].value, requests[0].headers)
        assert requests[0].key == b"wh-lyon", "keyed by source, the closest one won"
        assert request.type == EventType.ORDER_FULFILLMENT_REQUESTED
        assert request.subject == order_id
        assert request.data["lines"] == [{"line_id": "1", "sku": "OAK-TABLE", "quantity": 1}]
        assert request.data["ship_to"]["city"] == "Lyon"

        events = asyncio.run(
            read_topic(
                kafka_bootstrap,
                f"{kafka_topic_prefix}orderhub.orders.events",
                until=lambda rs: any(
                    dict(r.headers).get("ce_type") == b"orderhub.order.routed" for r in rs
                ),
            )
        )
        routed = next(
            record_to_envelope(r.key, r.value, r.headers)
            for r in events
            if dict(r.headers).get("ce_type") == b"orderhub.order.routed"
        )
        assert routed.data["policy_id"] == "default"
        # The event carries the decision record; its text is derived when read, not stored.
        assert routed.data["decision"]["shipments"] == {"wh-lyon": [["1", "OAK-TABLE", 1]]}
        assert routed.data["explanation"] == ""
        assert len(routed.data["inputs_digest"]) == 64

        decision = httpx.get(f"{base}/v1/orders/{order_id}/decision").json()
        assert decision["decision"]["shipments"] == {"wh-lyon": [["1", "OAK-TABLE", 1]]}
        assert "from wh-lyon: 1 x OAK-TABLE" in decision["explanation"]

        stock = httpx.get(f"{base}/v1/stock/wh-lyon/OAK-TABLE").json()
        assert (stock["on_hand"], stock["reserved"], stock["available"]) == (4, 1, 3)
