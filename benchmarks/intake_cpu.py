"""The intake role's CPU per captured order, the role alone: submissions straight onto its topics.

Run:  python -m benchmarks.intake_cpu [--rate 100] [--seconds 20] [--kafka-share 0.1] [--runs 1]
          [--json out.json] [--profile samples.txt]

Per run: a fresh distributed hub (`benchmarks.flow_hub.running_hub`: `serve` and `relay` on the
real broker and a fresh PostgreSQL database, topics under a prefix of their own), the flow's
Kafka channel registered over REST, then only the intake role's worker (`worker --role
intake`). Once it reads, an open loop of `rate` orders/s for `seconds` (the flow's generated
orders): a share (`--kafka-share`, the flow's default 0.1) as raw canonical JSON on the
channel's topic, the rest on `orderhub.orders.submitted` as the API publishes them (payload,
actor and correlation headers, what its validation found and the proof of it under the hub's
key: hub.services.vouched), then a wait until the event store holds every order. Printed:
the intake process's CPU (all threads) from the first send to the last order stored, per
order, and the load average. With no other role running, the figure is the role's own (the
flow's per-process CPU mixes in how far behind the other roles leave it).
"""

import argparse
import asyncio
import json
import os
import subprocess
import time
from pathlib import Path
from typing import Any

import psycopg
from aiokafka import AIOKafkaProducer

from aggregates import order_id_for
from benchmarks.flow_hub import KAFKA_CHANNEL, REST_CHANNEL, RunningHub, register, running_hub
from benchmarks.flow_load import placed_now
from benchmarks.network import Network, OrderMaker, generate_network
from benchmarks.procstats import cpu_seconds
from connectors.codec import OutboundRecord
from hub.services.capture import read_canonical
from hub.services.intake import SubmitOrder
from hub.services.vouched import proof_for
from hub.services.what_if_log import loads
from hub.streaming.submissions import submission_record
from tests.support.processes import HubProcess

PLACED = "Order.Placed"
PY_SPY = os.environ.get("PY_SPY", "py-spy")
WARM = 20  # orders sent first, unmeasured: the consumer has joined and read once


def stored_orders(url: str) -> int:
    with psycopg.connect(url, autocommit=True) as conn:
        row = conn.execute(
            "SELECT count(*) FROM orderhub_events WHERE topic LIKE %s", (f"%{PLACED}",)
        ).fetchone()
    return int(row[0]) if row else 0


async def until_stored(url: str, count: int, timeout: float) -> bool:
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        if await asyncio.to_thread(stored_orders, url) >= count:
            return True
        await asyncio.sleep(0.1)
    return False


class Producer:
    def __init__(self, hub: RunningHub, maker: OrderMaker, kafka_share: float) -> None:
        s = hub.settings
        assert s.kafka_bootstrap is not None
        self._kafka = AIOKafkaProducer(bootstrap_servers=s.kafka_bootstrap, acks="all", linger_ms=5)
        self._submitted = s.topic("submitted")
        self._proof = proof_for(s)
        self._channel = s.channel_topic(KAFKA_CHANNEL)
        self._every = round(1 / kafka_share) if kafka_share > 0 else 0
        self._maker = maker
        self._n = 0
        self._run = os.urandom(4).hex()

    async def send(self) -> None:
        self._n += 1
        kafka = bool(self._every) and self._n % self._every == 0
        channel = KAFKA_CHANNEL if kafka else REST_CHANNEL
        external_id = f"{self._run}-{self._n:08d}"
        body = json.dumps(self._maker.order(channel, external_id, placed_now())).encode()
        key = str(order_id_for(channel, external_id)).encode()
        if kafka:
            await self._kafka.send(self._channel, body, key=key)
        else:
            record = self._as_the_api_sends(body, channel, f"bench-{external_id}")
            await self._kafka.send(self._submitted, body, key=key, headers=list(record.headers))

    def _as_the_api_sends(self, body: bytes, channel: str, correlation: str) -> OutboundRecord:
        """The record the API publishes for this payload: validated, digested, proved."""
        text = body.decode()
        command = read_canonical(text, loads(text), lambda _: f"channel:{channel}", correlation)
        assert isinstance(command, SubmitOrder), command
        return submission_record(self._submitted, command, self._proof)

    async def start(self) -> None:
        await self._kafka.start()

    async def stop(self) -> None:
        await self._kafka.stop()

    async def flush(self) -> None:
        await self._kafka.flush()

    async def open_loop(self, rate: float, count: int) -> None:
        start = time.perf_counter()
        for i in range(count):
            delay = start + i / rate - time.perf_counter()
            if delay > 0.001:
                await asyncio.sleep(delay)
            await self.send()
        await self._kafka.flush()


async def measure(
    hub: RunningHub, pid: int, network: Network, args: argparse.Namespace
) -> dict[str, Any]:
    url = hub.settings.database_url
    assert url is not None
    producer = Producer(hub, OrderMaker(network, seed=args.seed + 1), args.kafka_share)
    await producer.start()
    try:
        for _ in range(WARM):
            await producer.send()
        await producer.flush()
        if not await until_stored(url, WARM, 120):
            raise RuntimeError("the intake role did not store the first orders within 120 s")
        count = int(args.rate * args.seconds)
        spy = profiler(pid, args.profile, args.seconds)
        cpu0, t0 = cpu_seconds(pid), time.perf_counter()
        await producer.open_loop(args.rate, count)
        sent = time.perf_counter() - t0
        if not await until_stored(url, WARM + count, 300):
            raise RuntimeError("the intake role did not store every order within 300 s")
        cpu1, t1 = cpu_seconds(pid), time.perf_counter()
        if spy is not None:
            spy.wait()
    finally:
        await producer.stop()
    assert cpu0 is not None and cpu1 is not None
    return {
        "orders": count,
        "send_seconds": sent,
        "stored_after_seconds": t1 - t0,
        "intake_cpu_seconds": cpu1 - cpu0,
        "intake_ms_per_order": 1000 * (cpu1 - cpu0) / count,
        "load": os.getloadavg(),
    }


def profiler(pid: int, out: Path | None, seconds: float) -> subprocess.Popen[bytes] | None:
    """py-spy on the intake process for the measured seconds (`-f raw`, 200 Hz), if asked."""
    if out is None:
        return None
    command = [PY_SPY, "record", "-r", "200", "-f", "raw", "-d", str(int(seconds))]
    return subprocess.Popen([*command, "-o", str(out), "--pid", str(pid)])


def one_run(args: argparse.Namespace, run: int) -> dict[str, Any]:
    network = generate_network(args.sources, args.skus, args.seed)
    tmp = Path(f"/tmp/orderhub-intakecpu-{os.getpid()}-{run}")
    with running_hub("distributed", tmp, args.batch) as hub:
        register(hub, network)
        worker = HubProcess("worker", hub._env, tmp, args=["--role", "intake"], name="intake")
        try:
            return asyncio.run(measure(hub, worker.process.pid, network, args))
        finally:
            worker.stop()


def main(argv: list[str] | None = None) -> None:
    parser = argparse.ArgumentParser(
        description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter
    )
    parser.add_argument("--rate", type=float, default=100.0, help="orders/s offered")
    parser.add_argument("--seconds", type=float, default=20.0)
    parser.add_argument("--kafka-share", type=float, default=0.1, help="orders on a channel topic")
    parser.add_argument("--runs", type=int, default=1)
    parser.add_argument("--batch", type=int, default=500, help="the hub's batch sizes")
    parser.add_argument("--sources", type=int, default=20)
    parser.add_argument("--skus", type=int, default=200)
    parser.add_argument("--seed", type=int, default=7)
    parser.add_argument("--json", type=Path)
    parser.add_argument("--profile", type=Path, help="py-spy's raw samples of the intake role")
    args = parser.parse_args(argv)
    runs = [one_run(args, run) for run in range(args.runs)]
    for n, run in enumerate(runs, start=1):
        print(
            f"run {n}: {run['orders']} orders at {args.rate:g}/s, sent in "
            f"{run['send_seconds']:.1f} s, stored by {run['stored_after_seconds']:.1f} s: "
            f"intake {run['intake_ms_per_order']:.3f} CPU ms/order (load {run['load'][0]:.1f})"
        )
    write_report(args, runs)


def write_report(args: argparse.Namespace, runs: list[dict[str, Any]]) -> None:
    """The arguments and the runs as JSON, if `--json` asked for them."""
    if args.json:
        # Paths (`--json`, `--profile`, the drain's `--timings`) written as texts.
        report = {"args": vars(args), "runs": runs}
        args.json.write_text(json.dumps(report, indent=2, default=str))


if __name__ == "__main__":
    main()
