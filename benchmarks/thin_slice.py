"""Thin-slice benchmark: POST → intake → event store → relay → `Accepted` on Kafka.

Run:  python -m benchmarks.thin_slice [--orders 2000] [--concurrency 64] [--rounds 3]

In the same run it measures the raw limits of the same infrastructure, so the ratios hold on a
noisy machine: the broker's own produce rate (acks=all, idempotent, same record size) and the
event store's raw append rate (the library's recorder, same batch size, no domain code).
"""

import argparse
import asyncio
import json
import statistics
import time
import uuid
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

import aiohttp
from aiokafka import AIOKafkaConsumer
from rich.console import Console
from rich.table import Table

from aggregates import order_id_for
from benchmarks.raw_limits import raw_broker_rate, raw_store_rate
from benchmarks.services import drop_database, fresh_database, kafka_bootstrap, postgres_server
from connectors.codec import record_to_envelope
from connectors.topics import ensure_topics
from hub.settings import Settings
from schemas.event_types import EventType
from tests.support.processes import free_port, hub_processes, wait_for_http

console = Console()
RESULTS = Path(__file__).parent / "results"


def submission(run: str, n: int) -> dict[str, Any]:
    return {
        "channel": "bench",
        "external_id": f"{run}-{n:07d}",
        "placed_at": "2026-11-20T08:00:00Z",
        "customer": {"id": f"C{n % 1000}", "demand_class": "standard"},
        "ship_to": {
            "name": "Bench Customer",
            "line1": "1 avenue des Tests",
            "city": "Paris",
            "postal_code": "75001",
            "country": "FR",
        },
        "lines": [
            {
                "line_id": str(i),
                "sku": f"SKU-{(n + i) % 500:04d}",
                "quantity": 1 + i,
                "unit_price": "12.50",
            }
            for i in range(1, 4)
        ],
        "currency": "EUR",
    }


async def slice_round(
    base: str, bootstrap: str, topic: str, count: int, concurrency: int
) -> dict[str, float]:
    run = uuid.uuid4().hex[:8]
    sent: dict[str, float] = {}
    accepted: dict[str, float] = {}
    consumer = AIOKafkaConsumer(
        topic, bootstrap_servers=bootstrap, group_id=None, auto_offset_reset="latest"
    )
    await consumer.start()
    await consumer.seek_to_end()
    for tp in consumer.assignment():
        await consumer.position(tp)

    expected = {str(order_id_for("bench", f"{run}-{n:07d}")) for n in range(count)}

    async def watch() -> None:
        while not expected.issubset(accepted):
            batches = await consumer.getmany(timeout_ms=200)
            now = time.perf_counter()
            for messages in batches.values():
                for m in messages:
                    env = record_to_envelope(m.key, m.value or b"", m.headers or [])
                    if env.type == EventType.ORDER_ACCEPTED:
                        accepted.setdefault(env.subject, now)

    watcher = asyncio.create_task(watch())
    semaphore = asyncio.Semaphore(concurrency)
    # aiohttp, not httpx: httpx's pool costs the load generator more CPU than the hub under test.
    connector = aiohttp.TCPConnector(limit=concurrency)
    async with aiohttp.ClientSession(base, connector=connector) as client:

        async def post(n: int) -> None:
            body = json.dumps(submission(run, n))
            async with semaphore:
                t0 = time.perf_counter()
                async with client.post(
                    "/v1/orders", data=body, headers={"content-type": "application/json"}
                ) as response:
                    answer = await response.json()
                    if response.status != 202:
                        raise RuntimeError(f"POST answered {response.status}: {answer}")
                sent[answer["order_id"]] = t0

        first = time.perf_counter()
        await asyncio.gather(*(post(n) for n in range(count)))
        captured = time.perf_counter()
    await asyncio.wait_for(watcher, timeout=300)
    await consumer.stop()
    last = max(accepted[i] for i in expected)
    latencies = sorted((accepted[i] - t) * 1000 for i, t in sent.items())
    return {
        "orders": count,
        "capture_per_s": count / (captured - first),
        "accepted_per_s": count / (last - first),
        "p50_ms": latencies[len(latencies) // 2],
        "p99_ms": latencies[min(len(latencies) - 1, int(len(latencies) * 0.99))],
    }


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__)
    parser.add_argument("--orders", type=int, default=2000)
    parser.add_argument("--concurrency", type=int, default=64)
    parser.add_argument("--rounds", type=int, default=3)
    parser.add_argument("--batch", type=int, default=500, help="event-store batch size")
    args = parser.parse_args()

    bootstrap = kafka_bootstrap()
    server = postgres_server()
    database = fresh_database(server)
    prefix = f"bench{uuid.uuid4().hex[:6]}."
    tmp = Path("/tmp") / f"orderhub-bench-{prefix}"
    tmp.mkdir(parents=True, exist_ok=True)
    raw_topic = f"{prefix}raw"
    asyncio.run(ensure_topics(bootstrap, {raw_topic: 6}))
    record_size = len(json.dumps(submission("x", 0))) + 600  # envelope data is larger than input

    broker, store, rounds = [], [], []
    env = {
        "ORDERHUB_KAFKA_BOOTSTRAP": bootstrap,
        "ORDERHUB_DATABASE_URL": database,
        "ORDERHUB_TOPIC_PREFIX": prefix,
        "ORDERHUB_CONSUMER_GROUP": f"bench-{prefix}",
        "ORDERHUB_DATA_DIR": str(tmp / "data"),
        "ORDERHUB_API_PORT": str(free_port()),
        "ORDERHUB_LOG_LEVEL": "warning",
        "ORDERHUB_INTAKE_BATCH_SIZE": str(args.batch),
        "ORDERHUB_RELAY_BATCH_SIZE": str(args.batch),
    }
    base = f"http://127.0.0.1:{env['ORDERHUB_API_PORT']}"
    try:
        with hub_processes(["serve", "worker", "relay"], env, tmp) as procs:
            wait_for_http(f"{base}/healthz", procs["serve"])
            events_topic = f"{prefix}orderhub.orders.events"
            asyncio.run(slice_round(base, bootstrap, events_topic, 50, 8))  # warm-up
            for i in range(args.rounds):
                console.print(f"round {i + 1}/{args.rounds}: raw broker, raw store, slice")
                broker.append(
                    asyncio.run(raw_broker_rate(bootstrap, raw_topic, 20_000, record_size))
                )
                store.append(
                    raw_store_rate(Settings(database_url=database), 5_000, args.batch, submission)
                )
                rounds.append(
                    asyncio.run(
                        slice_round(base, bootstrap, events_topic, args.orders, args.concurrency)
                    )
                )
    finally:
        drop_database(server, database)

    med = statistics.median
    result = {
        "when": datetime.now(UTC).isoformat(timespec="seconds"),
        "orders_per_round": args.orders,
        "concurrency": args.concurrency,
        "rounds": args.rounds,
        "broker_raw_msgs_per_s": med(broker),
        "store_raw_orders_per_s": med(store),
        "slice_accepted_per_s": med(r["accepted_per_s"] for r in rounds),
        "slice_capture_per_s": med(r["capture_per_s"] for r in rounds),
        "slice_p50_ms": med(r["p50_ms"] for r in rounds),
        "slice_p99_ms": med(r["p99_ms"] for r in rounds),
    }
    show(result)
    RESULTS.mkdir(exist_ok=True)
    (RESULTS / f"thin_slice-{result['when']}.json").write_text(json.dumps(result, indent=2))


def show(r: dict[str, Any]) -> None:
    table = Table(title=f"Thin slice, medians of {r['rounds']} rounds ({r['when']})")
    for column in ("measure", "value", "ratio to raw limit"):
        table.add_column(column)
    table.add_row(
        "broker raw produce (acks=all, idempotent)",
        f"{r['broker_raw_msgs_per_s']:,.0f} msg/s",
        "1.00",
    )
    table.add_row(
        "event store raw append (PostgreSQL, 2 events/order)",
        f"{r['store_raw_orders_per_s']:,.0f} orders/s",
        "1.00",
    )
    table.add_row(
        "POST → Accepted on Kafka",
        f"{r['slice_accepted_per_s']:,.0f} orders/s",
        f"{r['slice_accepted_per_s'] / r['store_raw_orders_per_s']:.2f} of store, "
        f"{3 * r['slice_accepted_per_s'] / r['broker_raw_msgs_per_s']:.2f} of broker "
        "(3 records/order)",
    )
    table.add_row("POST (capture to Kafka, 202)", f"{r['slice_capture_per_s']:,.0f} orders/s", "")
    table.add_row(
        "latency POST → Accepted p50 / p99",
        f"{r['slice_p50_ms']:.0f} / {r['slice_p99_ms']:.0f} ms",
        "",
    )
    console.print(table)


if __name__ == "__main__":
    main()
