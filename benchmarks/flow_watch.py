"""Independent observers of a benchmark run: when each order's `Routed` and first
`FulfillmentRequested` appear (from Kafka, or from the embedded store's log), and where the
event store's log stands."""

import asyncio
import os
import time
from typing import Any

from aiokafka import AIOKafkaConsumer

from benchmarks.flow_hub import HELD, PLACED, REQUESTED, ROUTED, RunningHub, Seen, kafka_pids
from benchmarks.procstats import CpuWindow, rss_bytes, with_roles
from hub.settings import Settings
from hub.store import OrderStore
from schemas.event_types import EventFamily


class KafkaWatcher:
    """An independent consumer of the hub's order, fulfillment and inventory topics: notes when
    each order's `Routed` and first `FulfillmentRequested` appear. Reads only the CloudEvents
    headers (type, subject), so it keeps up with a fast hub."""

    def __init__(self, settings: Settings, seen: Seen) -> None:
        assert settings.kafka_bootstrap is not None
        self._settings = settings
        self._seen = seen

    async def run(self, stop: asyncio.Event) -> None:
        s = self._settings
        orders, requests = s.topic("order_events"), s.topic("fulfillment_requests")
        consumer = AIOKafkaConsumer(
            orders,
            requests,
            s.topic("inventory_events"),
            bootstrap_servers=s.kafka_bootstrap,
            group_id=None,
            auto_offset_reset="earliest",
            max_partition_fetch_bytes=8 * 1024 * 1024,
            fetch_max_bytes=64 * 1024 * 1024,
        )
        await consumer.start()
        seen = self._seen
        try:
            while not stop.is_set():
                batches = await consumer.getmany(timeout_ms=100, max_records=5000)
                now = time.perf_counter()
                for tp, messages in batches.items():
                    for m in messages:
                        headers = dict(m.headers or [])
                        kind = headers.get("ce_type", b"").decode()
                        subject = headers.get("ce_subject", b"").decode()
                        if tp.topic == orders:
                            seen.order_records += 1
                            seen.order_record_bytes += len(m.value or b"")
                            if kind == ROUTED and subject not in seen.routed:
                                seen.routed[subject] = now
                                seen.routed_bytes.append(len(m.value or b""))
                            elif kind == HELD:
                                seen.held.setdefault(subject, now)
                            elif kind == PLACED:
                                seen.placed.setdefault(subject, now)
                        elif tp.topic == requests:
                            if kind == REQUESTED:
                                seen.requested.setdefault(subject, now)
                        elif kind.startswith(EventFamily.STOCK_ITEM):
                            seen.stock_items.add(subject)
        finally:
            await consumer.stop()


class StoreWatcher:
    """Embedded mode has no Kafka: follows the event store's notification log instead (the
    SQLite file, read from this process), every 100 ms."""

    _TOPICS = {"Order.Routed": "routed", "Order.FulfillmentRequested": "requested"}

    def __init__(self, settings: Settings, seen: Seen) -> None:
        self._store = OrderStore(env=settings.eventsourcing_env())
        self._seen = seen
        self._position = 0

    def _poll(self) -> None:
        seen = self._seen
        while True:
            batch = self._store.recorder.select_notifications(
                start=self._position, limit=5000, inclusive_of_start=False
            )
            now = time.perf_counter()
            for n in batch:
                name = n.topic.rpartition(":")[2]
                subject = str(n.originator_id)
                if name == "Order.Routed" and subject not in seen.routed:
                    seen.routed[subject] = now
                    seen.routed_bytes.append(len(n.state))
                elif name == "Order.Held":
                    seen.held.setdefault(subject, now)
                elif name == "Order.FulfillmentRequested":
                    seen.requested.setdefault(subject, now)
                elif name.startswith("StockItem"):
                    seen.stock_items.add(subject)
                if name.startswith("Order."):
                    seen.order_records += 1
                    seen.order_record_bytes += len(n.state)
            if batch:
                self._position = batch[-1].id
            if len(batch) < 5000:
                return

    async def run(self, stop: asyncio.Event) -> None:
        try:
            while not stop.is_set():
                await asyncio.to_thread(self._poll)
                await asyncio.sleep(0.1)
        finally:
            self._store.close()


class StorePosition:
    """The event store's last notification id, read from this process: events written/s."""

    def __init__(self, settings: Settings) -> None:
        self._store = OrderStore(env=settings.eventsourcing_env())

    def __call__(self) -> int:
        return self._store.max_position()

    def close(self) -> None:
        self._store.close()


async def wait_idle(hub: RunningHub, limit: float, idle_cores: float = 0.15) -> float:
    """Wait until the hub's processes together use less than `idle_cores` for 3 s in a row
    (at most `limit` s), so that the first measurements do not pay for the load before them."""
    started = time.perf_counter()
    quiet = 0
    while quiet < 3 and time.perf_counter() - started < limit:
        groups: dict[str, list[int]] = {}
        for name, p in hub.processes.items():
            groups |= with_roles(name, p.process.pid)
        window = CpuWindow(groups)
        window.start(time.perf_counter())
        await asyncio.sleep(1.0)
        used = sum(window.stop(time.perf_counter()).values())
        quiet = quiet + 1 if used < idle_cores else 0
    return max(0.0, time.perf_counter() - started - quiet)


async def sample_rss(hub: RunningHub, every: float, series: list[dict[str, Any]]) -> None:
    """The hub's processes, the broker and the load generator (its bookkeeping grows with the
    orders sent: about 0.5 KB each). PostgreSQL is left out: its RSS counts shared buffers."""
    started = time.perf_counter()
    pids = {name: [p.process.pid] for name, p in hub.processes.items()}
    if hub.distributed:
        pids["kafka broker"] = kafka_pids()
    pids["load generator"] = [os.getpid()]
    while True:
        sample: dict[str, Any] = {"t": round(time.perf_counter() - started, 1)}
        for name, proc in hub.processes.items():
            for role, found_pids in with_roles(name, proc.process.pid).items():
                pids.setdefault(role, found_pids)  # the worker and its roles start later
        for name, found in pids.items():
            rss = sum(rss_bytes(pid) or 0 for pid in found)
            if rss:
                sample[name] = rss
        series.append(sample)
        await asyncio.sleep(every)
