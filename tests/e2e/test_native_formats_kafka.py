"""Native formats on Kafka, distributed, with real processes: each channel's topic carries its
own format; good records become orders, poison records are parked on the DLQ with their bytes
and the error, and the channel agent goes on to the records after them."""

import asyncio
import random
import time
from collections.abc import Callable
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

import httpx
import pytest
from aiokafka import AIOKafkaProducer
from aiokafka.admin import AIOKafkaAdminClient

from aggregates import order_id_for
from connectors.channels import ChannelContext, adapter_for
from connectors.consumed import ConsumedMessage
from schemas.channels import ChannelDefinition
from tests.support.kafka import read_topic
from tests.support.processes import hub_processes, wait_for_http

pytestmark = [pytest.mark.e2e, pytest.mark.kafka, pytest.mark.postgres]

SAMPLES = Path(__file__).resolve().parents[2] / "connectors" / "channels" / "samples"
ACCEPTED_OR_LATER = {"accepted", "held", "routed", "backordered", "unroutable"}
DEADLINE_SECONDS = 120.0

# One channel per format, with the SKU map and defaults its sample needs, and that sample's
# orders (external ids, in payload order).
CHANNELS: dict[str, dict[str, Any]] = {
    "canonical": {"channel_id": "web-shop", "kind": "web"},
    "webshop": {
        "channel_id": "shop-us",
        "kind": "web",
        "sku_map": {"lamp-blue-v2": "BLUE-LAMP", "40003": "GIFT-CARD"},
    },
    "marketplace": {
        "channel_id": "market-eu",
        "kind": "marketplace",
        "sku_map": {"B07XJ8C8F5": "RED-CHAIR", "B0OAKTABLE": "OAK-TABLE"},
    },
    "assisted": {
        "channel_id": "stores-fr",
        "kind": "pos",
        "default_currency": "EUR",
        "default_country": "FR",
        "sku_map": {"rc-01": "RED-CHAIR"},
    },
    "edi-x12-850": {
        "channel_id": "b2b-acme",
        "kind": "b2b",
        "default_currency": "EUR",
        "default_country": "DE",
        "sku_map": {"ACME-55501": "BLUE-LAMP"},
    },
    "csv": {
        "channel_id": "bulk-upload",
        "kind": "web",
        "default_currency": "EUR",
        "sku_map": {"rc-01": "RED-CHAIR"},
    },
}
GOOD_SAMPLES: dict[str, tuple[str, list[str]]] = {
    "canonical": ("good-two-orders.json", ["WEB-1002", "WEB-1003"]),
    "webshop": ("good-order-created.json", ["5208744935"]),
    "marketplace": ("good-feed.json", ["302-1234567-7654321", "205-9876543-1234567"]),
    "assisted": ("good-call-center.json", ["CC-2026-004411"]),
    "edi-x12-850": ("good-two-sets-crlf.edi", ["G-55001", "G-55002"]),
    "csv": ("good-bulk-upload.csv", ["B2C-5001", "B2C-5002", "B2C-5003"]),
}
# Not even the channel's format, whatever the format: each must be parked, none may stop intake.
POISON: dict[str, bytes] = {
    "not UTF-8": b"\xff\xfe",
    "truncated JSON": b"{",
    "random bytes": random.Random(20261120).randbytes(64),
}


def definition(fmt: str) -> dict[str, Any]:
    return {"name": f"{fmt} channel", "format": fmt, **CHANNELS[fmt]}


def sample(fmt: str) -> bytes:
    return (SAMPLES / fmt / GOOD_SAMPLES[fmt][0]).read_bytes()


def raw_of_each_order(fmt: str) -> list[str]:
    context = ChannelContext.for_channel(
        ChannelDefinition.model_validate(definition(fmt)), datetime.now(UTC)
    )
    return [result.raw for result in adapter_for(fmt)(sample(fmt), context)]


def channel_topic(prefix: str, fmt: str) -> str:
    return f"{prefix}orderhub.channel.{CHANNELS[fmt]['channel_id']}.orders"


async def existing_topics(bootstrap: str) -> set[str]:
    admin = AIOKafkaAdminClient(bootstrap_servers=bootstrap)
    await admin.start()
    try:
        return set(await admin.list_topics())
    finally:
        await admin.close()


async def produce_poison_then_good(bootstrap: str, prefix: str) -> None:
    """On partition 0 of every channel topic, in this order: each poison, then the good sample."""
    producer = AIOKafkaProducer(bootstrap_servers=bootstrap, acks="all")
    await producer.start()
    try:
        for fmt in CHANNELS:
            topic = channel_topic(prefix, fmt)
            for name, value in POISON.items():
                await producer.send_and_wait(topic, value, key=name.encode(), partition=0)
            await producer.send_and_wait(topic, sample(fmt), key=b"good", partition=0)
    finally:
        await producer.stop()


def poll_until(
    what: str, check: Callable[[], tuple[bool, object]], timeout: float = DEADLINE_SECONDS
) -> None:
    deadline = time.monotonic() + timeout
    last: object = None
    while time.monotonic() < deadline:
        done, last = check()
        if done:
            return
        time.sleep(0.2)
    raise AssertionError(f"{what} not within {timeout}s; last: {last}")


def test_each_channel_topic_takes_its_format_and_parks_poison_without_stopping(
    distributed_env: dict[str, str], tmp_path: Path
) -> None:
    env = distributed_env
    base = f"http://127.0.0.1:{env['ORDERHUB_API_PORT']}"
    prefix = env["ORDERHUB_TOPIC_PREFIX"]
    bootstrap = env["ORDERHUB_KAFKA_BOOTSTRAP"]
    topics = {fmt: channel_topic(prefix, fmt) for fmt in CHANNELS}

    with hub_processes(["serve"], env, tmp_path) as api:
        wait_for_http(f"{base}/healthz", api["serve"])
        # Channels first: the API creates their topics, and workers subscribe at start.
        for fmt in CHANNELS:
            channel = CHANNELS[fmt]["channel_id"]
            response = httpx.put(f"{base}/v1/channels/{channel}", json=definition(fmt), timeout=30)
            assert response.status_code == 201, response.text
        assert set(topics.values()) <= asyncio.run(existing_topics(bootstrap))

        with hub_processes(["worker", "relay"], env, tmp_path):
            asyncio.run(produce_poison_then_good(bootstrap, prefix))

            expected = {
                str(order_id_for(CHANNELS[fmt]["channel_id"], external_id)): (fmt, index)
                for fmt, (_, external_ids) in GOOD_SAMPLES.items()
                for index, external_id in enumerate(external_ids)
            }
            statuses: dict[str, object] = {}

            def every_good_order_is_accepted_or_later() -> tuple[bool, object]:
                for order_id in expected:
                    if statuses.get(order_id) not in ACCEPTED_OR_LATER:
                        answer = httpx.get(f"{base}/v1/orders/{order_id}", timeout=5)
                        statuses[order_id] = (
                            answer.json()["status"]
                            if answer.status_code == 200
                            else answer.status_code
                        )
                return all(s in ACCEPTED_OR_LATER for s in statuses.values()), statuses

            poll_until("every good order accepted or later", every_good_order_is_accepted_or_later)

            raws = {fmt: raw_of_each_order(fmt) for fmt in CHANNELS}
            for order_id, (fmt, index) in expected.items():
                raw = httpx.get(f"{base}/v1/orders/{order_id}/raw", timeout=5)
                assert raw.text == raws[fmt][index], (fmt, index)

            poisoned = len(CHANNELS) * len(POISON)
            parked = asyncio.run(
                read_topic(bootstrap, f"{prefix}orderhub.dlq", until=lambda rs: len(rs) >= poisoned)
            )

    assert sorted(_parked(r) for r in parked) == sorted(
        (topic, value) for topic in topics.values() for value in POISON.values()
    )
    for record in parked:
        assert "unparseable" in (record.header("dlq-error") or ""), record.headers
        assert record.header("dlq-consumer") == "channel_intake"
        assert record.header("dlq-original-partition") == "0"


def _parked(record: ConsumedMessage) -> tuple[str | None, bytes]:
    return record.header("dlq-original-topic"), record.value
