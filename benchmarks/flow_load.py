"""The load generator of the flow benchmark: orders on a schedule, over REST and a channel topic.

Open loop: order i of a step is due at start + i / rate whatever the hub answered before, so a
hub that falls behind shows it as latency and backlog, not as a lower offered rate. Its capture
time is when it was due: time spent waiting for a free connection counts against the hub (no
coordinated omission). REST requests in flight are bounded; when too many orders wait for a
connection the generator drops new ones and counts them, so a run stays bounded. An order the
hub sheds (429: routing too far behind, `hub.api.admission`) is counted as shed, with the time
its answer took, and not sent again: the load stays open, what a client would retry later is
not offered twice.
"""

import asyncio
import json
import math
import time
import uuid
from collections.abc import Callable
from dataclasses import dataclass, field
from datetime import UTC, datetime
from typing import Any

import aiohttp
from aiokafka import AIOKafkaProducer

from aggregates.ids import order_id_for
from benchmarks.flow_hub import KAFKA_CHANNEL, REST_CHANNEL
from benchmarks.flow_report import ms, percentile
from benchmarks.network import OrderMaker

# An acknowledged order is read back until its view answers 200 (issue 10: within 1 s at
# 500/s), one in `read_every` (50) REST orders, every READ_BACK_PAUSE: ~10 reads a second per
# 100 orders/s offered, a few per cent of the API's work.
READ_BACK_LIMIT = 10.0
READ_BACK_PAUSE = 0.05


def placed_now() -> str:
    """Orders are placed as they are sent, as a channel places them: with a fixed day in the
    past every order's promise had passed at birth, and the jeopardy clock flagged each one
    (an exception case, its events and rows per order that a real day does not have)."""
    return datetime.now(UTC).isoformat(timespec="milliseconds").replace("+00:00", "Z")


@dataclass
class Sent:
    """Every order offered, by order id: when it was due, and how its capture went."""

    due: dict[str, float] = field(default_factory=dict)
    via_kafka: set[str] = field(default_factory=set)
    started: set[str] = field(default_factory=set)  # REST: the request went out
    answered: dict[str, float] = field(default_factory=dict)  # REST: seconds from due to 2xx
    failed: dict[str, str] = field(default_factory=dict)  # REST non-2xx / errors; Kafka errors
    shed: dict[str, float] = field(default_factory=dict)  # REST 429: seconds from due to answer
    dropped: int = 0  # by the generator: too many orders waited for a connection
    # REST, one order in `read_every` answered 2xx: seconds from its answer to the first 200 of
    # `GET /v1/orders/{id}` (math.inf: not readable within READ_BACK_LIMIT seconds).
    readable: dict[str, float] = field(default_factory=dict)

    def placed_stats(self, window: list[str], placed: dict[str, float]) -> dict[str, Any]:
        """The read-back orders' way to readable split at their `Placed` on Kafka (ms): ack →
        `Placed` on the order events topic (intake, store, relay), and `Placed` → readable: the
        poll's own pause, and before the GET read a miss in the view from the order's stored
        events (read7), the projections role's fetch, batch and commit; now the GET can answer
        before the relay has published, and this part is then negative."""
        to_kafka, to_view = [], []
        for i in window:
            if i in self.readable and i in placed and i in self.answered:
                acked = self.due[i] + self.answered[i]
                to_kafka.append(placed[i] - acked)
                to_view.append(acked + self.readable[i] - placed[i])
        return {
            "placed_ms": {q: ms(percentile(to_kafka, q / 100)) for q in (50, 100)},
            "placed_to_readable_ms": {q: ms(percentile(to_view, q / 100)) for q in (50, 100)},
            **self.every_to_placed(window, placed),
        }

    def every_to_placed(self, window: list[str], placed: dict[str, float]) -> dict[str, Any]:
        """Every acknowledged REST order's ack → `Placed` on Kafka, not only the read-back ones
        (1 in 50): a stall of the intake shows in this tail, which the few read back can miss."""
        every = [
            placed[i] - self.due[i] - self.answered[i]
            for i in window
            if i in placed and i in self.answered
        ]
        return {
            "ack_to_placed_ms": {q: ms(percentile(every, q / 100)) for q in (50, 99, 99.9, 100)},
            "ack_to_placed_over_500": sum(1 for w in every if w > 0.5),
            "ack_to_placed_n": len(every),
        }

    def shed_stats(
        self,
        step: list[str],
        window: list[str],
        seconds: float,
        dropped_before: int,
        decided_at: Callable[[str], float | None],
    ) -> dict[str, Any]:
        """A step's orders shed by the hub (429), per second of those due in the measured window,
        and how long their answers took (ms); the orders the generator dropped; due → decided
        (ms) of the window's orders taken, by path: admission control can refuse REST orders,
        not those on the channel's topic, so the REST ones show how well it bounds a wait."""
        shed = [self.shed[i] for i in window if i in self.shed]
        taken = [i for i in window if i not in self.shed]
        by_path: dict[str, list[float]] = {"rest": [], "kafka": []}
        for i in taken:
            decided = decided_at(i)
            wait = math.inf if decided is None else decided - self.due[i]
            by_path["kafka" if i in self.via_kafka else "rest"].append(wait)
        readable = [self.readable[i] for i in window if i in self.readable]
        return {
            "readable_ms": {q: ms(percentile(readable, q / 100)) for q in (50, 99, 100)},
            "readable_probed": len(readable),
            "dropped": self.dropped - dropped_before,
            "shed": sum(1 for i in step if i in self.shed),
            "shed_per_s": len(shed) / seconds,
            "shed_ms": {q: ms(percentile(shed, q / 100)) for q in (50, 99)},
            "decided_by_path_ms": {
                path: {q: ms(percentile(waits, q / 100)) for q in (50, 99)}
                for path, waits in by_path.items()
            },
        }


class Sender:
    """Sends canonical submissions: a share on the Kafka channel's topic, the rest over REST."""

    def __init__(
        self,
        base: str,
        maker: OrderMaker,
        concurrency: int,
        kafka_share: float,
        kafka_bootstrap: str | None,
        channel_topic: str | None,
        timeout: float = 30.0,
        read_every: int = 50,
    ) -> None:
        self._base = base
        self._maker = maker
        self._concurrency = concurrency
        self._kafka_every = round(1 / kafka_share) if kafka_share > 0 and channel_topic else 0
        self._bootstrap = kafka_bootstrap
        self._topic = channel_topic
        self._timeout = timeout
        self._read_every = read_every
        self._answered = 0
        self._run = uuid.uuid4().hex[:8]
        self._n = 0
        self.sent = Sent()
        # A soak's pace (benchmarks.flow_soak): while it answers True no order is offered, and
        # the schedule moves on by the pause, so due times stay when an order really went out.
        self.hold: Callable[[], bool] | None = None
        self.stop_at: float | None = None  # a soak's end (perf_counter): offer nothing after it

    async def __aenter__(self) -> "Sender":
        self._slots = asyncio.Semaphore(self._concurrency)
        self._waiting = 0
        self._tasks: set[asyncio.Task[None]] = set()
        self._client = aiohttp.ClientSession(
            self._base,
            connector=aiohttp.TCPConnector(limit=self._concurrency),
            timeout=aiohttp.ClientTimeout(total=self._timeout),
        )
        # Read-backs on connections of their own: they must not take the captures' slots.
        self._reader = aiohttp.ClientSession(
            self._base,
            connector=aiohttp.TCPConnector(limit=8),
            timeout=aiohttp.ClientTimeout(total=self._timeout),
        )
        self._producer: AIOKafkaProducer | None = None
        if self._kafka_every and self._bootstrap:
            self._producer = AIOKafkaProducer(
                bootstrap_servers=self._bootstrap,
                acks="all",
                enable_idempotence=True,
                linger_ms=5,
            )
            await self._producer.start()
        return self

    async def __aexit__(self, *exc: object) -> None:
        for task in self._tasks:
            task.cancel()
        await asyncio.gather(*self._tasks, return_exceptions=True)
        await self._client.close()
        await self._reader.close()
        if self._producer is not None:
            await self._producer.stop()

    def next_order(self) -> tuple[str, bool, bytes]:
        """(order id, via Kafka, body) of the next order."""
        self._n += 1
        kafka = bool(self._kafka_every) and self._n % self._kafka_every == 0
        channel = KAFKA_CHANNEL if kafka else REST_CHANNEL
        external_id = f"{self._run}-{self._n:08d}"
        body = json.dumps(self._maker.order(channel, external_id, placed_now())).encode()
        return str(order_id_for(channel, external_id)), kafka, body

    def offer(self, order_id: str, kafka: bool, body: bytes, due: float, max_waiting: int) -> None:
        """Start sending one order now; it was due at `due` (perf_counter)."""
        if not kafka and self._waiting >= max_waiting:
            self.sent.dropped += 1
            return
        self.sent.due[order_id] = due
        if kafka:
            self.sent.via_kafka.add(order_id)
            self._spawn(self._produce(order_id, body))
        else:
            self._waiting += 1
            self._spawn(self._post(order_id, body, due))

    async def _post(self, order_id: str, body: bytes, due: float) -> None:
        waiting = True
        try:
            async with self._slots:
                self._waiting -= 1
                waiting = False
                self.sent.started.add(order_id)
                async with self._client.post(
                    "/v1/orders", data=body, headers={"content-type": "application/json"}
                ) as response:
                    await response.read()
                    if 200 <= response.status < 300:
                        self.sent.answered[order_id] = time.perf_counter() - due
                        self._answered += 1
                        if self._read_every and self._answered % self._read_every == 0:
                            self._spawn(self._read_back(order_id))
                    elif response.status == 429:  # shed by the hub: nothing was recorded
                        self.sent.shed[order_id] = time.perf_counter() - due
                    else:
                        self.sent.failed[order_id] = f"HTTP {response.status}"
        except (aiohttp.ClientError, TimeoutError) as error:
            self.sent.failed[order_id] = type(error).__name__
        finally:
            if waiting:  # cancelled before a connection was free
                self._waiting -= 1

    def _spawn(self, work: Any) -> None:
        task = asyncio.create_task(work)
        self._tasks.add(task)
        task.add_done_callback(self._tasks.discard)

    async def _read_back(self, order_id: str) -> None:
        """How soon an acknowledged order is readable: its read model, not its capture."""
        answered = time.perf_counter()
        while time.perf_counter() - answered < READ_BACK_LIMIT:
            try:
                async with self._reader.get(f"/v1/orders/{order_id}") as response:
                    await response.read()
                    if response.status == 200:
                        self.sent.readable[order_id] = time.perf_counter() - answered
                        return
            except (aiohttp.ClientError, TimeoutError):
                pass
            await asyncio.sleep(READ_BACK_PAUSE)
        self.sent.readable[order_id] = math.inf

    async def _produce(self, order_id: str, body: bytes) -> None:
        assert self._producer is not None and self._topic is not None
        try:
            await (await self._producer.send(self._topic, body, key=order_id.encode()))
        except Exception as error:  # any Kafka error is a failed capture, counted
            self.sent.failed[order_id] = type(error).__name__

    async def open_loop(self, rate: float, seconds: float, max_waiting: int, start: float) -> None:
        """Offer `rate` orders/s for `seconds` from `start` (perf_counter)."""
        total = int(rate * seconds)
        for i in range(total):
            if self.stop_at is not None and time.perf_counter() >= self.stop_at:
                return
            if self.hold is not None and self.hold():
                paused = time.perf_counter()
                while self.hold():
                    if self.stop_at is not None and time.perf_counter() >= self.stop_at:
                        return  # a hub that stopped deciding does not keep the soak going
                    await asyncio.sleep(0.05)
                start += time.perf_counter() - paused
            due = start + i / rate
            delay = due - time.perf_counter()
            if delay > 0.001:
                await asyncio.sleep(delay)
            self.offer(*self.next_order(), due=due, max_waiting=max_waiting)

    async def closed_loop(self, count: int, progress: Callable[[], Any] | None = None) -> None:
        """Offer `count` orders as fast as the hub takes them (REST bounded by concurrency)."""
        for _ in range(count):
            while self._waiting >= self._concurrency:
                await asyncio.sleep(0.001)
            self.offer(*self.next_order(), due=time.perf_counter(), max_waiting=count)
        await self.settle(deadline=None)

    async def settle(self, deadline: float | None) -> None:
        """Wait for captures in flight until `deadline`, then cancel the rest."""
        while self._tasks:
            if deadline is not None and time.perf_counter() >= deadline:
                break
            await asyncio.sleep(0.05)
        for task in list(self._tasks):
            task.cancel()
