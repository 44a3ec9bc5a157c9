"""The load of a fault run: a network with scarce stock, orders over REST and a channel topic
(open loop, retried by the clients until acknowledged), and canary orders timing recoveries."""

import asyncio
import json
import random
import time
from dataclasses import dataclass, field
from typing import Any

import httpx
from aiokafka import AIOKafkaProducer

from aggregates import order_id_for
from hub.bootstrap import Hub
from hub.tools.demo import _source
from schemas.channels import ChannelDefinition, ChannelKind
from schemas.sources import StockSnapshot

REST_CHANNEL = "web-faults"
TOPIC_CHANNEL = "pos-faults"
SKUS = [f"SKU-{n:03d}" for n in range(30)]
CITIES = [(45.75, 4.85), (48.86, 2.35), (43.30, 5.37), (44.84, -0.58), (50.63, 3.06)]
UNDECIDED = {"placed", "accepted", "rerouting"}


def seed(hub: Hub, sources: int, rng: random.Random) -> None:
    """Sources around France, each SKU at three of them with little stock: orders compete."""
    for n in range(sources):
        lat, lon = CITIES[n % len(CITIES)]
        hub.catalog.register_source(
            _source(f"wh-{n:02d}", f"Warehouse {n}", "warehouse", lat, lon, "FR", 1),
            "system:faults",
        )
    for sku in SKUS:
        for n in rng.sample(range(sources), k=min(3, sources)):
            hub.catalog.apply_stock(
                StockSnapshot(source_id=f"wh-{n:02d}", sku=sku, on_hand=rng.randint(20, 60)),
                "system:faults",
            )
    for channel in (REST_CHANNEL, TOPIC_CHANNEL):
        hub.access.register_channel(
            ChannelDefinition(
                channel_id=channel, name=channel, kind=ChannelKind.WEB, format="canonical"
            ),
            "system:faults",
        )


def submission(channel: str, external_id: str, rng: random.Random) -> dict[str, Any]:
    skus = rng.sample(SKUS, k=rng.choice([1, 1, 2, 3]))
    return {
        "channel": channel,
        "external_id": external_id,
        "placed_at": "2026-11-20T08:00:00Z",
        "customer": {"id": f"C{rng.randrange(500)}", "demand_class": "standard"},
        "ship_to": {
            "name": "Fault Customer",
            "line1": "1 rue des Pannes",
            "city": "Lyon",
            "postal_code": "69002",
            "country": "FR",
        },
        "lines": [
            {"line_id": str(i), "sku": sku, "quantity": rng.randint(1, 3), "unit_price": "9.90"}
            for i, sku in enumerate(skus, start=1)
        ],
        "currency": "EUR",
        "payment_state": "authorized" if rng.random() < 0.9 else "pending",
    }


@dataclass
class Clients:
    """What the clients saw: acknowledged order ids and the errors they had to retry."""

    base: str
    bootstrap: str
    channel_topic: str
    acknowledged: dict[str, float] = field(default_factory=dict)  # order id -> ack time
    errors: dict[str, int] = field(default_factory=dict)  # kind -> count
    _producer: AIOKafkaProducer | None = None
    _producer_lock: asyncio.Lock = field(default_factory=asyncio.Lock)

    def _error(self, kind: str) -> None:
        self.errors[kind] = self.errors.get(kind, 0) + 1

    async def post(self, http: httpx.AsyncClient, body: dict[str, Any]) -> str:
        """POST until the hub acknowledges (202 or 200 for a copy); returns the order id."""
        while True:
            try:
                response = await http.post(f"{self.base}/v1/orders", json=body, timeout=15)
                if response.status_code in (200, 202):
                    order_id = str(response.json()["order_id"])
                    self.acknowledged[order_id] = time.monotonic()
                    return order_id
                self._error(f"REST {response.status_code}")
            except httpx.HTTPError as error:
                self._error(f"REST {type(error).__name__}")
            await asyncio.sleep(0.5)

    async def produce(self, body: dict[str, Any]) -> str:
        """Send on the channel topic (acks=all) until the broker acknowledges."""
        order_id = str(order_id_for(body["channel"], body["external_id"]))
        value = json.dumps(body).encode()
        while True:
            try:
                producer = await self._the_producer()
                await producer.send_and_wait(self.channel_topic, value, key=order_id.encode())
                self.acknowledged[order_id] = time.monotonic()
                return order_id
            except Exception as error:  # any client error: a new producer, and again
                self._error(f"Kafka {type(error).__name__}")
                await self._drop_producer()
                await asyncio.sleep(0.5)

    async def _the_producer(self) -> AIOKafkaProducer:
        async with self._producer_lock:
            if self._producer is None:
                producer = AIOKafkaProducer(
                    bootstrap_servers=self.bootstrap,
                    acks="all",
                    enable_idempotence=True,
                    request_timeout_ms=10_000,
                )
                await producer.start()
                self._producer = producer
            return self._producer

    async def _drop_producer(self) -> None:
        async with self._producer_lock:
            producer, self._producer = self._producer, None
        if producer is not None:
            try:
                await producer.stop()
            except Exception:
                pass

    async def close(self) -> None:
        await self._drop_producer()

    async def decided(self, http: httpx.AsyncClient, order_id: str, deadline: float) -> bool:
        """Wait until the read model shows the order decided (routing done and projected)."""
        while time.monotonic() < deadline:
            try:
                response = await http.get(f"{self.base}/v1/orders/{order_id}", timeout=5)
                if response.status_code == 200 and response.json()["status"] not in UNDECIDED:
                    return True
            except httpx.HTTPError:
                pass
            await asyncio.sleep(0.25)
        return False


async def open_loop(
    clients: Clients, orders: int, rate: float, run: str, seed_value: int, concurrency: int = 64
) -> float:
    """Send `orders` at `rate` a second, half over REST and half on the channel topic; each
    client retries until acknowledged. Returns the seconds it took."""
    rng = random.Random(seed_value)
    bodies = [
        submission(REST_CHANNEL if n % 2 == 0 else TOPIC_CHANNEL, f"{run}-{n:06d}", rng)
        for n in range(orders)
    ]
    gate = asyncio.Semaphore(concurrency)
    started = time.monotonic()
    async with httpx.AsyncClient() as http:

        async def one(body: dict[str, Any]) -> None:
            async with gate:
                if body["channel"] == REST_CHANNEL:
                    await clients.post(http, body)
                else:
                    await clients.produce(body)

        tasks = []
        for n, body in enumerate(bodies):
            delay = started + n / rate - time.monotonic()
            if delay > 0:
                await asyncio.sleep(delay)
            tasks.append(asyncio.create_task(one(body)))
        await asyncio.gather(*tasks)
    return time.monotonic() - started


async def canary(clients: Clients, name: str, since: float, limit: float = 600.0) -> float | None:
    """Seconds from `since` (an outage began) until an order sent after it is decided and shown."""
    rng = random.Random(name)
    async with httpx.AsyncClient() as http:
        order_id = await clients.post(http, submission(REST_CHANNEL, name, rng))
        if await clients.decided(http, order_id, since + limit):
            return time.monotonic() - since
    return None
