"""Fulfillment end to end on Kafka and PostgreSQL, with real processes: the API, the worker,
the relay, and one warehouse simulator per source answering on the updates topic.

wh-lyon rejects every request; wh-lille ships everything, slowly (a delay between its steps).
One set of processes serves every test of this module: starting them is what is slow.
"""

import asyncio
import time
from collections.abc import Callable, Iterator
from dataclasses import dataclass
from pathlib import Path
from typing import Any, TypeVar

import httpx
import pytest

from aggregates import order_id_for
from connectors.codec import record_to_envelope
from schemas.envelope import EventEnvelope
from tests.harness.services import create_database, drop_database, unique_topic_prefix
from tests.support.kafka import read_topic
from tests.support.processes import HubProcess, hub_env, hub_processes, wait_for_http

pytestmark = [pytest.mark.e2e, pytest.mark.kafka, pytest.mark.postgres]

T = TypeVar("T")
PRICE = "329.00"
# Lyon customers are routed to wh-lyon first, Lille customers to wh-lille.
CUSTOMERS = {
    "lyon": {"city": "Lyon", "postal_code": "69002", "lat": 45.7640, "lon": 4.8357},
    "lille": {"city": "Lille", "postal_code": "59000", "lat": 50.6292, "lon": 3.0573},
}
SOURCES = {"wh-lyon": (45.75, 4.85), "wh-lille": (50.63, 3.06)}
SIMULATORS = {
    "wh-lyon": ["--reject-rate", "1.0", "--seed", "7"],
    "wh-lille": ["--delay", "0.4", "--seed", "7"],
}
# Each test has its own SKU, so its stock figures are its own.
ON_HAND = 5


def start_simulator(
    source_id: str, args: list[str], env: dict[str, str], log_dir: Path
) -> HubProcess:
    """`orderhub simulate-warehouse --source ID ...` as a subprocess with its own log."""
    return HubProcess(
        "simulate-warehouse", env, log_dir, ["--source", source_id, *args], f"simulator-{source_id}"
    )


@dataclass
class RunningHub:
    base: str
    bootstrap: str
    prefix: str
    processes: list[HubProcess]

    def topic(self, name: str) -> str:
        return f"{self.prefix}orderhub.{name}"

    def logs(self) -> str:
        return "\n".join(
            f"--- {p.name} (exit {p.process.poll()}) ---\n{p.log_tail()}" for p in self.processes
        )

    def get(self, path: str) -> httpx.Response:
        return httpx.get(f"{self.base}{path}", timeout=10)

    def post(self, path: str, body: dict[str, Any]) -> httpx.Response:
        return httpx.post(f"{self.base}{path}", json=body, timeout=30)

    def put(self, path: str, body: dict[str, Any]) -> httpx.Response:
        return httpx.put(f"{self.base}{path}", json=body, timeout=30)


@pytest.fixture(scope="module")
def hub(
    kafka_bootstrap: str, postgres_server_url: str, tmp_path_factory: pytest.TempPathFactory
) -> Iterator[RunningHub]:
    log_dir = tmp_path_factory.mktemp("fulfillment-kafka")
    database_url = create_database(postgres_server_url)
    prefix = unique_topic_prefix()
    env = hub_env(kafka_bootstrap, database_url, prefix, log_dir / "data")
    base = f"http://127.0.0.1:{env['ORDERHUB_API_PORT']}"
    simulators: list[HubProcess] = []
    try:
        with hub_processes(["serve", "worker", "relay"], env, log_dir) as procs:
            wait_for_http(f"{base}/healthz", procs["serve"])  # topics exist from here on
            for source_id, (lat, lon) in SOURCES.items():
                registered = httpx.put(
                    f"{base}/v1/sources/{source_id}", json=source(source_id, lat, lon)
                )
                assert registered.status_code in (200, 201), registered.text
            simulators = [
                start_simulator(source_id, args, env, log_dir)
                for source_id, args in SIMULATORS.items()
            ]
            try:
                yield RunningHub(base, kafka_bootstrap, prefix, [*procs.values(), *simulators])
            finally:
                for simulator in simulators:
                    simulator.stop()
    finally:
        drop_database(postgres_server_url, database_url)


# --- data and small steps -----------------------------------------------------------------


def source(source_id: str, lat: float, lon: float) -> dict[str, Any]:
    return {
        "source_id": source_id,
        "name": source_id,
        "kind": "warehouse",
        "lat": lat,
        "lon": lon,
        "country": "FR",
        "ships_to": ["FR"],
        "delivery_methods": ["standard"],
        "daily_capacity": 500,
        "cost": {"base": "4.50", "per_unit": "0.40", "per_km": "0.01", "currency": "EUR"},
        "lead_time_days": 1,
    }


def order(external_id: str, sku: str, customer: str) -> dict[str, Any]:
    return {
        "channel": "web",
        "external_id": external_id,
        "placed_at": "2026-11-20T09:30:00Z",
        "customer": {"id": f"CUST-{external_id}"},
        "ship_to": {
            "name": "Léa Martin",
            "line1": "8 quai Saint-Antoine",
            "country": "FR",
            **CUSTOMERS[customer],
        },
        "lines": [{"line_id": "1", "sku": sku, "quantity": 1, "unit_price": PRICE}],
        "currency": "EUR",
        "payment_state": "authorized",
    }


def stock_up(hub: RunningHub, sku: str) -> None:
    for source_id in SOURCES:
        counted = hub.put(f"/v1/stock/{source_id}/{sku}", {"on_hand": ON_HAND})
        assert counted.status_code == 200, counted.text


def place(hub: RunningHub, external_id: str, sku: str, customer: str) -> str:
    response = hub.post("/v1/orders", order(external_id, sku, customer))
    assert response.status_code == 202, response.text
    return str(order_id_for("web", external_id))


def stock(hub: RunningHub, source_id: str, sku: str) -> tuple[int, int]:
    level = hub.get(f"/v1/stock/{source_id}/{sku}").json()
    return level["on_hand"], level["reserved"]


def wait_for(hub: RunningHub, what: str, probe: Callable[[], T | None], timeout: float = 90) -> T:
    """Poll `probe` until it returns something other than None, or fail with the logs."""
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        found = probe()
        if found is not None:
            return found
        time.sleep(0.2)
    raise AssertionError(f"{what}: not within {timeout}s\n{hub.logs()}")


def status_in(hub: RunningHub, order_id: str, statuses: set[str]) -> Callable[[], str | None]:
    def probe() -> str | None:
        response = hub.get(f"/v1/orders/{order_id}")
        if response.status_code == 200 and response.json()["status"] in statuses:
            return str(response.json()["status"])
        return None

    return probe


def events_on(
    hub: RunningHub, topic: str, order_id: str, until: Callable[[list[EventEnvelope]], bool]
) -> list[EventEnvelope]:
    """The order's events on a topic, read from the beginning until `until` holds."""

    def mine(records: list[Any]) -> list[EventEnvelope]:
        envelopes = (record_to_envelope(r.key, r.value, r.headers) for r in records)
        return [e for e in envelopes if e.subject == order_id]

    records = asyncio.run(
        read_topic(hub.bootstrap, hub.topic(topic), until=lambda rs: until(mine(rs)), timeout=60)
    )
    return mine(records)


def of_type(envelopes: list[EventEnvelope], name: str) -> list[EventEnvelope]:
    """The events of one type, in the order's own order (a topic keyed by source is not)."""
    found = [e for e in envelopes if e.type == f"orderhub.order.{name}"]
    return sorted(found, key=lambda e: e.sequence)


# --- the flows ----------------------------------------------------------------------------


def test_an_order_the_first_source_rejects_is_shipped_by_the_other_and_completed(
    hub: RunningHub,
) -> None:
    stock_up(hub, "OAK-TABLE")

    order_id = place(hub, "WEB-8001", "OAK-TABLE", customer="lyon")

    wait_for(hub, f"order {order_id} completed", status_in(hub, order_id, {"completed"}))
    requests = events_on(
        hub,
        "fulfillment.requests",
        order_id,
        until=lambda es: len(of_type(es, "fulfillment_requested")) >= 2,
    )
    first, second = of_type(requests, "fulfillment_requested")
    assert (first.data["source_id"], second.data["source_id"]) == ("wh-lyon", "wh-lille")
    decision = hub.get(f"/v1/orders/{order_id}/decision").json()
    assert decision["decision"]["shipments"] == {"wh-lille": [["1", "OAK-TABLE", 1]]}
    history = events_on(
        hub, "orders.events", order_id, until=lambda es: bool(of_type(es, "invoice_issued"))
    )
    (rejected,) = of_type(history, "shipment_rejected")
    assert (rejected.data["source_id"], str(rejected.actor)) == ("wh-lyon", "source:wh-lyon")
    assert len(of_type(history, "routed")) == 2
    shipped = [e for e in of_type(history, "shipment_progressed") if e.data["state"] == "shipped"]
    assert [e.data["shipment_id"] for e in shipped] == [second.data["shipment_id"]]
    assert stock(hub, "wh-lyon", "OAK-TABLE") == (ON_HAND, 0), "Lyon's reservation was released"
    assert stock(hub, "wh-lille", "OAK-TABLE") == (ON_HAND - 1, 0), "one table left Lille"


def test_a_completed_order_has_its_invoice_on_the_billing_topic(hub: RunningHub) -> None:
    stock_up(hub, "OAK-CHAIR")

    order_id = place(hub, "WEB-8002", "OAK-CHAIR", customer="lille")

    wait_for(hub, f"order {order_id} completed", status_in(hub, order_id, {"completed"}))
    billed = events_on(
        hub, "billing.events", order_id, until=lambda es: bool(of_type(es, "invoice_issued"))
    )
    (invoice,) = of_type(billed, "invoice_issued")
    assert str(invoice.actor) == "system:billing"
    assert invoice.data["lines"] == [
        {"line_id": "1", "sku": "OAK-CHAIR", "quantity": 1, "unit_price": PRICE, "net": PRICE}
    ]
    # 329.00 + 20 % French VAT
    assert (
        invoice.data["currency"],
        invoice.data["tax_rate"],
        invoice.data["net_total"],
        invoice.data["tax_total"],
        invoice.data["gross_total"],
    ) == ("EUR", "0.20", "329.00", "65.80", "394.80")
    assert stock(hub, "wh-lille", "OAK-CHAIR") == (ON_HAND - 1, 0)


def test_an_order_cancelled_right_after_it_was_routed_ends_cancelled_or_shipped_never_between(
    hub: RunningHub,
) -> None:
    stock_up(hub, "OAK-SHELF")
    order_id = place(hub, "WEB-8003", "OAK-SHELF", customer="lille")
    # wh-lille waits 0.4 s between its steps: the cancellation reaches the hub before `shipped`.
    wait_for(
        hub, f"order {order_id} routed", status_in(hub, order_id, {"routed", "in_fulfillment"})
    )

    cancel = hub.post(f"/v1/orders/{order_id}/cancel", {"reason": "customer changed her mind"})

    assert cancel.status_code in (202, 409), cancel.text
    if cancel.status_code == 202:
        assert len(cancel.json()["withdrawn_shipments"]) == 1
    final = wait_for(
        hub,
        f"order {order_id} settled",
        status_in(hub, order_id, {"cancelled", "completed"}),
    )
    history = events_on(
        hub,
        "orders.events",
        order_id,
        until=lambda es: bool(of_type(es, "shipment_cancelled") or of_type(es, "invoice_issued")),
    )
    on_hand, reserved = stock(hub, "wh-lille", "OAK-SHELF")
    assert reserved == 0, f"{final}: the reservation was neither released nor used"
    assert stock(hub, "wh-lyon", "OAK-SHELF") == (ON_HAND, 0)
    if final == "cancelled":
        assert cancel.status_code == 202
        assert on_hand == ON_HAND, "nothing left the shelf"
        assert len(of_type(history, "shipment_cancelled")) == 1
        assert of_type(history, "invoice_issued") == []
    else:
        # The source had shipped (or shipped before it read the cancellation) and refused it.
        assert on_hand == ON_HAND - 1, "the shelf left once"
        assert len(of_type(history, "invoice_issued")) == 1
        assert of_type(history, "shipment_cancelled") == []


def test_a_cancellation_that_reaches_the_hub_before_the_shipment_is_confirmed(
    hub: RunningHub,
) -> None:
    stock_up(hub, "OAK-STOOL")
    order_id = place(hub, "WEB-8004", "OAK-STOOL", customer="lille")
    wait_for(
        hub, f"order {order_id} routed", status_in(hub, order_id, {"routed", "in_fulfillment"})
    )
    cancel = hub.post(f"/v1/orders/{order_id}/cancel", {"reason": "ordered twice"})
    assert cancel.status_code == 202, cancel.text
    # The channel retries after a timeout: answered, nothing more recorded (one request below).
    again = hub.post(f"/v1/orders/{order_id}/cancel", {"reason": "ordered twice"})
    assert again.status_code == 202, again.text
    assert again.json()["withdrawn_shipments"] == []
    final = wait_for(
        hub, f"order {order_id} settled", status_in(hub, order_id, {"cancelled", "completed"})
    )
    history = events_on(
        hub,
        "orders.events",
        order_id,
        until=lambda es: bool(of_type(es, "shipment_cancelled") or of_type(es, "invoice_issued")),
    )
    (requested,) = of_type(history, "cancellation_requested")
    shipped = [e for e in of_type(history, "shipment_progressed") if e.data["state"] == "shipped"]
    if shipped:
        # The source had shipped before it read the withdrawal: it refused, the goods left once.
        assert shipped[0].sequence > requested.sequence, "a shipped order cannot be cancelled"
        assert final == "completed"
        assert stock(hub, "wh-lille", "OAK-STOOL") == (ON_HAND - 1, 0)
    else:
        assert final == "cancelled"
        assert stock(hub, "wh-lille", "OAK-STOOL") == (ON_HAND, 0)
