"""The stock feed end to end through the worker's processes: rows on the feed topic, read by the
fulfillment role's plain consumer, into the stock items, onto the inventory events topic, and
into the stock levels view (the projections role's plain consumer); refused rows parked and
kept, and the consumer groups committed past them."""

import asyncio
import json
import time
from pathlib import Path
from typing import Any

import httpx
import psycopg
import pytest
from aiokafka import AIOKafkaProducer

from aggregates import order_id_for
from connectors.lag import LagProbe
from hub.settings import Settings
from hub.streaming.roles import Role, plain_consumers, plain_group
from tests.contracts.factories import source_body, submission_dict
from tests.support.kafka import read_topic
from tests.support.processes import hub_env, hub_processes, wait_for_http, wait_status

pytestmark = [pytest.mark.e2e, pytest.mark.kafka, pytest.mark.postgres]
SOURCE = "wh-lyon"
SKUS = [f"SKU-{n:03d}" for n in range(40)]


async def send(bootstrap: str, topic: str, values: list[bytes]) -> None:
    producer = AIOKafkaProducer(bootstrap_servers=bootstrap, acks="all", enable_idempotence=True)
    await producer.start()
    try:
        for value in values:
            # Keyed by item, as a feed keys them: one item's rows stay in order.
            sku = json.loads(value)["sku"] if value.startswith(b'{"') else "poison"
            await producer.send_and_wait(topic, value, key=f"{SOURCE}/{sku}".encode())
    finally:
        await producer.stop()


def row(sku: str, **fields: Any) -> bytes:
    return json.dumps({"source_id": SOURCE, "sku": sku, **fields}).encode()


def stock_view(database_url: str) -> dict[str, int]:
    with psycopg.connect(database_url, autocommit=True) as conn:
        try:
            rows = conn.execute("SELECT sku, on_hand FROM stock_levels").fetchall()
        except psycopg.errors.UndefinedTable:
            return {}
    return {str(sku): int(on_hand) for sku, on_hand in rows}


async def lag_of(settings: Settings, groups: dict[str, list[str]]) -> dict[str, int]:
    probe = LagProbe(settings.kafka_bootstrap or "")
    try:
        return {g: (await probe.group_lag(g, topics)).lag for g, topics in groups.items()}
    finally:
        await probe.stop()


def test_stock_rows_reach_the_items_and_the_stock_view_and_refused_rows_are_parked(
    kafka_bootstrap: str, database_url: str, kafka_topic_prefix: str, tmp_path: Path
) -> None:
    env = hub_env(kafka_bootstrap, database_url, kafka_topic_prefix, tmp_path / "data")
    base = f"http://127.0.0.1:{env['ORDERHUB_API_PORT']}"
    settings = Settings(
        _env_file=None,  # type: ignore[call-arg]
        data_dir=tmp_path / "probe",
        kafka_bootstrap=kafka_bootstrap,
        topic_prefix=kafka_topic_prefix,
        consumer_group=env["ORDERHUB_CONSUMER_GROUP"],
    )
    values = [row(sku, kind="snapshot", on_hand=n + 1) for n, sku in enumerate(SKUS)]
    values += [
        b"{not json",
        row("SKU-000", kind="delta", delta=-50, reason="damage"),  # refused: on-hand 1
        row("SKU-000", kind="delta", delta=2, reason="receipt"),
    ]
    with hub_processes(["serve", "worker", "relay"], env, tmp_path) as procs:
        wait_for_http(f"{base}/healthz", procs["serve"])
        put = httpx.put(f"{base}/v1/sources/{SOURCE}", json=source_body(SOURCE), timeout=30)
        assert put.status_code in (200, 201), put.text
        asyncio.run(send(kafka_bootstrap, settings.topic("inventory_snapshots"), values))

        wanted = {sku: n + 1 for n, sku in enumerate(SKUS)} | {"SKU-000": 3}
        deadline = time.monotonic() + 90
        while stock_view(database_url) != wanted:
            assert time.monotonic() < deadline, f"stock view: {stock_view(database_url)}"
            time.sleep(0.2)
        assert httpx.get(f"{base}/v1/stock/{SOURCE}/SKU-000").json()["on_hand"] == 3

        rejected = asyncio.run(
            read_topic(
                kafka_bootstrap, settings.topic("inventory_rejected"), until=lambda rs: len(rs) >= 1
            )
        )
        assert [json.loads(r.value)["reason"] for r in rejected] == ["StockError"]
        parked = asyncio.run(
            read_topic(kafka_bootstrap, settings.topic("dlq"), until=lambda rs: len(rs) >= 1)
        )
        assert [r.value for r in parked] == [b"{not json"]

        # Both plain consumers committed all they read: nothing left behind the refused rows.
        groups = {
            plain_group(settings, role, name): [settings.topic(t) for t in topics]
            for role in (Role.FULFILLMENT, Role.PROJECTIONS)
            for name, topics in plain_consumers(role).items()
        }
        deadline = time.monotonic() + 30
        while any(asyncio.run(lag_of(settings, groups)).values()):
            assert time.monotonic() < deadline, asyncio.run(lag_of(settings, groups))
            time.sleep(0.5)


def test_a_backordered_order_is_routed_when_its_stock_comes_on_the_feed(
    kafka_bootstrap: str, database_url: str, kafka_topic_prefix: str, tmp_path: Path
) -> None:
    # No sweep during the test: only the stock event, read by the orchestration role's stock
    # consumer, can wake the order.
    env = hub_env(
        kafka_bootstrap,
        database_url,
        kafka_topic_prefix,
        tmp_path / "data",
        ORDERHUB_BACKORDER_SWEEP_SECONDS="3600",
    )
    base = f"http://127.0.0.1:{env['ORDERHUB_API_PORT']}"
    topic = f"{kafka_topic_prefix}orderhub.inventory.snapshots"
    lines = [{"line_id": "1", "sku": "RED-CHAIR", "quantity": 2, "unit_price": "19.90"}]
    with hub_processes(["serve", "worker", "relay"], env, tmp_path) as procs:
        wait_for_http(f"{base}/healthz", procs["serve"])
        put = httpx.put(f"{base}/v1/sources/{SOURCE}", json=source_body(SOURCE), timeout=30)
        assert put.status_code in (200, 201), put.text
        zero = httpx.put(f"{base}/v1/stock/{SOURCE}/RED-CHAIR", json={"on_hand": 0}, timeout=30)
        assert zero.status_code == 200, zero.text
        body = submission_dict(external_id="WEB-8001", lines=lines, payment_state="authorized")
        posted = httpx.post(f"{base}/v1/orders", json=body, timeout=30)
        assert posted.status_code == 202, posted.text
        order_id = str(order_id_for(body["channel"], "WEB-8001"))
        wait_status(base, order_id, "backordered")

        asyncio.run(send(kafka_bootstrap, topic, [row("RED-CHAIR", kind="snapshot", on_hand=5)]))

        wait_status(base, order_id, "routed")
        stock = httpx.get(f"{base}/v1/stock/{SOURCE}/RED-CHAIR").json()
        assert (stock["on_hand"], stock["reserved"]) == (5, 2)
