"""The hub under test for the flow benchmark: its processes, its network, and what it publishes.

Distributed: `orderhub serve`, `relay` and `worker` on the real broker and a fresh PostgreSQL
database, topics under a prefix of their own. Embedded: `orderhub serve` on SQLite files in a
scratch directory. Either way the benchmark talks to the hub only through its public API (REST,
the stock-feed and channel topics) and watches what it publishes (Kafka topics, or embedded the
event store's notification log, read from another process).
"""

import asyncio
import json
import os
import signal
import subprocess
import time
import uuid
from collections.abc import Iterator
from contextlib import ExitStack, contextmanager
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import aiohttp
import psycopg
from aiokafka import AIOKafkaProducer

from benchmarks.network import Network
from benchmarks.procstats import with_roles
from benchmarks.services import (
    REPO,
    drop_database,
    fresh_database,
    kafka_bootstrap,
    postgres_server,
)
from hub.settings import Settings
from hub.streaming.kafka_parts import KafkaParts
from schemas.event_types import EventType
from tests.support.processes import HubProcess, free_port, hub_processes, wait_for_http

REST_CHANNEL = "bench-web"
KAFKA_CHANNEL = "bench-kafka"
ROUTED = EventType.ORDER_ROUTED
REQUESTED = EventType.ORDER_FULFILLMENT_REQUESTED
HELD = EventType.ORDER_HELD
PLACED = EventType.ORDER_PLACED


BULK_ROWS = 5_000  # rows per POST /v1/stock/bulk (the API takes up to 10,000)


@dataclass
class Seen:
    """What the hub has published so far, by order id, in the watcher's clock (perf_counter)."""

    routed: dict[str, float] = field(default_factory=dict)
    # A decision that is not a route: the policy held the order for a person (e.g. over its
    # split limit). Counted apart so that a held order is neither "routed" nor a backlog.
    held: dict[str, float] = field(default_factory=dict)
    requested: dict[str, float] = field(default_factory=dict)
    # The order's `Placed` on Kafka (what the read models start from): ack → readable split
    # into the way to Kafka (intake, store, relay) and the projections role's part.
    placed: dict[str, float] = field(default_factory=dict)
    stock_items: set[str] = field(default_factory=set)
    routed_bytes: list[int] = field(default_factory=list)
    order_records: int = 0
    order_record_bytes: int = 0

    def decided_at(self, order_id: str) -> float | None:
        """When the first decision on the order (routed or held) was seen."""
        times = [t for t in (self.routed.get(order_id), self.held.get(order_id)) if t is not None]
        return min(times) if times else None

    def count_between(self, times: dict[str, float], start: float, end: float) -> int:
        return sum(1 for t in times.values() if start <= t < end)


@dataclass
class RunningHub:
    mode: str
    base: str
    settings: Settings
    processes: dict[str, HubProcess]
    server: str | None = None
    seen: Seen = field(default_factory=Seen)
    _stack: ExitStack | None = None
    _env: dict[str, str] = field(default_factory=dict)
    _tmp: Path = Path("/tmp")

    @property
    def distributed(self) -> bool:
        return self.mode == "distributed"

    def start_worker(self) -> None:
        """After channels are registered: a worker subscribes to the channel topics that exist."""
        assert self._stack is not None
        started = self._stack.enter_context(hub_processes(["worker"], self._env, self._tmp))
        self.processes.update(started)

    def pids(self) -> dict[str, list[int]]:
        found: dict[str, list[int]] = {}
        for name, p in self.processes.items():
            found |= with_roles(name, p.process.pid)
        if self.distributed:
            found["kafka broker"] = kafka_pids()
            found["postgres (this db)"] = self.postgres_backends()
        return found

    def postgres_backends(self) -> list[int]:
        if self.server is None or self.settings.database_url is None:
            return []
        name = self.settings.database_url.rsplit("/", 1)[1]
        with psycopg.connect(self.server, autocommit=True) as conn:
            rows = conn.execute(
                "SELECT pid FROM pg_stat_activity WHERE datname = %s AND pid <> pg_backend_pid()",
                (name,),
            ).fetchall()
        return [int(r[0]) for r in rows]

    def stop_on_sigterm(self) -> dict[str, Any]:
        """SIGTERM to every hub process at once, as a deployment's stop does, after the steps
        (with whatever backlog they left): seconds until each exited (None: killed after
        STOP_WAIT), and the consumer-commit warnings Faust logged in the worker's log."""
        started = time.monotonic()
        for proc in self.processes.values():
            if proc.process.poll() is None:
                os.killpg(proc.process.pid, signal.SIGTERM)
        seconds: dict[str, float | None] = {}
        for name, proc in self.processes.items():
            try:
                proc.process.wait(timeout=max(0.0, started + STOP_WAIT - time.monotonic()))
                seconds[name] = time.monotonic() - started
            except subprocess.TimeoutExpired:
                seconds[name] = None
            proc.stop()  # kills what is left, closes the log
        worker = self.processes.get("worker")
        log = worker.log_path.read_text(errors="replace") if worker else ""
        return {"seconds": seconds, "commit_warnings": log.count("not committed")}

    def check_alive(self) -> None:
        for proc in self.processes.values():
            if proc.process.poll() is not None:
                raise RuntimeError(f"{proc.command} exited:\n{proc.log_tail()}")


STOP_WAIT = 30.0  # the issue asks for 10 s; waiting longer shows how far off a slow stop is


def kafka_pids() -> list[int]:
    """The broker that infra/kafka.sh started, if that is the one in use."""
    if os.environ.get("ORDERHUB_BENCH_KAFKA_BOOTSTRAP"):
        return []
    state = Path(os.environ.get("ORDERHUB_SERVICES_DIR", REPO / ".services"))
    pid_file = state / "kafka" / "pid"
    try:
        return [int(pid_file.read_text().strip())]
    except (FileNotFoundError, ValueError):
        return []


@contextmanager
def running_hub(mode: str, tmp: Path, batch: int | None) -> Iterator[RunningHub]:
    """Start the hub's API (and relay); the worker is started by `start_worker()`. `batch`:
    the intake's, relay's and projections' batch sizes (None: the hub's own defaults)."""
    tmp.mkdir(parents=True, exist_ok=True)
    port = free_port()
    env = {
        "ORDERHUB_DATA_DIR": str(tmp / "data"),
        "ORDERHUB_API_PORT": str(port),
        "ORDERHUB_LOG_LEVEL": "warning",
    }
    if batch is not None:
        env |= {
            "ORDERHUB_INTAKE_BATCH_SIZE": str(batch),
            "ORDERHUB_RELAY_BATCH_SIZE": str(batch),
            "ORDERHUB_PROJECTION_BATCH_SIZE": str(batch),
        }
    server = database = None
    with ExitStack() as stack:
        if mode == "distributed":
            bootstrap = kafka_bootstrap()
            server = postgres_server()
            database = fresh_database(server)
            stack.callback(drop_database, server, database)
            prefix = f"flow{uuid.uuid4().hex[:6]}."
            env |= {
                "ORDERHUB_KAFKA_BOOTSTRAP": bootstrap,
                "ORDERHUB_DATABASE_URL": database,
                "ORDERHUB_TOPIC_PREFIX": prefix,
                "ORDERHUB_CONSUMER_GROUP": f"bench-{prefix}",
            }
            commands = ["serve", "relay"]
        else:
            commands = ["serve"]
        settings = Settings(
            _env_file=None,  # type: ignore[call-arg]
            data_dir=Path(env["ORDERHUB_DATA_DIR"]),
            kafka_bootstrap=env.get("ORDERHUB_KAFKA_BOOTSTRAP"),
            database_url=env.get("ORDERHUB_DATABASE_URL"),
            topic_prefix=env.get("ORDERHUB_TOPIC_PREFIX", ""),
            consumer_group=env.get("ORDERHUB_CONSUMER_GROUP", "orderhub"),  # the groups' lag
        )
        if batch is not None:
            settings = settings.model_copy(update={"intake_batch_size": batch})
        if settings.kafka_bootstrap is not None:  # as the hub makes them (its record limit)
            asyncio.run(KafkaParts(settings).ensure_topics(wait=False))
        processes = stack.enter_context(hub_processes(commands, env, tmp))
        base = f"http://127.0.0.1:{port}"
        wait_for_http(f"{base}/healthz", processes["serve"])
        yield RunningHub(
            mode=mode,
            base=base,
            settings=settings,
            processes=dict(processes),
            server=server,
            _stack=stack,
            _env=env,
            _tmp=tmp,
        )


async def put_all(
    base: str, requests: list[tuple[str, dict[str, Any]]], concurrency: int
) -> tuple[int, float]:
    """PUT each (path, body), `concurrency` at a time; returns (failures, seconds)."""
    semaphore = asyncio.Semaphore(concurrency)
    failures = 0
    async with aiohttp.ClientSession(
        base, connector=aiohttp.TCPConnector(limit=concurrency)
    ) as client:

        async def put(path: str, body: dict[str, Any]) -> None:
            nonlocal failures
            for _ in range(5):  # 409 "concurrent change, try again" is retried, as asked
                async with semaphore, client.put(path, json=body) as response:
                    text = await response.text()
                    if response.status != 409:
                        break
            if response.status >= 300:
                failures += 1
                if failures <= 3:
                    print(f"PUT {path} answered {response.status}: {text}")

        started = time.perf_counter()
        await asyncio.gather(*(put(path, body) for path, body in requests))
        return failures, time.perf_counter() - started


def register(hub: RunningHub, network: Network) -> float:
    """Sources (and, distributed, the Kafka channel) over REST; returns seconds taken."""
    requests: list[tuple[str, dict[str, Any]]] = [
        (f"/v1/sources/{s['source_id']}", s) for s in network.sources
    ]
    if hub.distributed:
        channel = {
            "channel_id": KAFKA_CHANNEL,
            "name": "Benchmark marketplace feed",
            "kind": "marketplace",
            "format": "canonical",
            "rate_limit_per_minute": 1_000_000,
        }
        requests.append((f"/v1/channels/{KAFKA_CHANNEL}", channel))
    # The server retries the conflicts of registrations made at the same time.
    failures, seconds = asyncio.run(put_all(hub.base, requests, 8))
    if failures:
        raise RuntimeError(f"{failures} sources or channels were refused")
    return seconds


async def load_stock_kafka(hub: RunningHub, network: Network, stall: float) -> float:
    """Every stock row as a snapshot on the stock-feed topic; waits until the hub recorded each
    stock item (seen on the inventory events topic). Returns seconds from first send."""
    s = hub.settings
    assert s.kafka_bootstrap is not None
    producer = AIOKafkaProducer(
        bootstrap_servers=s.kafka_bootstrap, acks="all", enable_idempotence=True, linger_ms=5
    )
    await producer.start()
    started = time.perf_counter()
    try:
        for row in network.stock:
            body = {"kind": "snapshot", "source_id": row.source_id, "sku": row.sku}
            body["on_hand"] = row.on_hand  # type: ignore[assignment]
            await producer.send(
                s.topic("inventory_snapshots"),
                json.dumps(body).encode(),
                key=f"{row.source_id}/{row.sku}".encode(),
            )
        await producer.flush()
    finally:
        await producer.stop()
    await wait_until(lambda: len(hub.seen.stock_items), len(network.stock), stall, "stock rows")
    return time.perf_counter() - started


def load_stock_rest(hub: RunningHub, network: Network, concurrency: int) -> float:
    """Every stock row over `POST /v1/stock/bulk`, BULK_ROWS a request; returns seconds."""
    rows = [
        {"kind": "snapshot", "source_id": row.source_id, "sku": row.sku, "on_hand": row.on_hand}
        for row in network.stock
    ]
    chunks = [rows[i : i + BULK_ROWS] for i in range(0, len(rows), BULK_ROWS)]
    failures, seconds = asyncio.run(
        post_all(hub.base, [("/v1/stock/bulk", {"rows": chunk}) for chunk in chunks], concurrency)
    )
    if failures:
        raise RuntimeError(f"{failures} bulk stock requests were refused")
    return seconds


async def post_all(
    base: str, requests: list[tuple[str, dict[str, Any]]], concurrency: int
) -> tuple[int, float]:
    """POST each (path, body), `concurrency` at a time; a request with refused rows counts as
    failed. Returns (failures, seconds)."""
    semaphore = asyncio.Semaphore(concurrency)
    failures = 0
    timeout = aiohttp.ClientTimeout(total=600)
    async with aiohttp.ClientSession(base, timeout=timeout) as client:

        async def post(path: str, body: dict[str, Any]) -> None:
            nonlocal failures
            async with semaphore, client.post(path, json=body) as response:
                answer = await response.json(content_type=None)
                if response.status >= 300 or answer.get("refused"):
                    failures += 1
                    if failures <= 3:
                        print(f"POST {path} answered {response.status}: {str(answer)[:500]}")

        started = time.perf_counter()
        await asyncio.gather(*(post(path, body) for path, body in requests))
        return failures, time.perf_counter() - started


async def wait_until(
    progress: Any, target: int, stall: float, what: str, deadline: float | None = None
) -> bool:
    """Wait until progress() reaches target; gives up when it stops moving for `stall` seconds
    or at `deadline` (perf_counter). Never hangs."""
    last, moved = progress(), time.perf_counter()
    while progress() < target:
        now = time.perf_counter()
        if deadline is not None and now >= deadline:
            return False
        current = progress()
        if current != last:
            last, moved = current, now
        elif now - moved > stall:
            print(f"  {what}: stalled at {current}/{target} for {stall:.0f} s, moving on")
            return False
        await asyncio.sleep(0.1)
    return True
