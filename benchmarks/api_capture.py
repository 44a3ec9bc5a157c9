"""The API process's CPU per captured order, distributed: `orderhub serve` alone on the real
broker and a fresh PostgreSQL database, `POST /v1/orders` at a fixed offered rate.

Run:  python -m benchmarks.api_capture [--rate 150 --seconds 20 --warmup 5 --runs 3]
          [--code DIR] [--profile OUT [--gil] [--native]] [--linger MS] [--key]

Only the API runs (no intake worker, relay or followers): what is measured is the capture
itself (the front door, validation, the duplicate check in the store, the produce to the
submitted topic with acks=all, the 202). CPU is the server process's own (utime + stime from
/proc, every thread) over the measured window, divided by the orders answered in it; the
database's backends' CPU and its transactions (pg_stat_database, committed and rolled back) are
given per order too. Each run posts new orders (the flow's generated network and order mix,
one channel, no key: the trial caller; `--key`: a channel key of that channel, as a channel
integration posts). `--code DIR` runs the server from another checkout (an A/B against a base
worktree); `--linger MS` sets its producer's `linger_ms`;
`--profile OUT` records the server with py-spy (raw, 200 Hz) during the last run.
`--shed` measures admission's 429 instead: the intake role's group is committed at the
submitted topic's start and never moves, so once the warm-up's orders have waited past the
admission limit every capture is shed (answered 429, nothing recorded), as in the flow
offered more than the hub routes.

On a loaded machine the open loop's figure moves with the load (a starved server answers
requests in bigger bunches, which costs less per order); `--rate 0 --concurrency N` keeps N
requests in flight whatever the speed, which holds the bunching at N.
"""

import argparse
import asyncio
import json
import os
import signal
import statistics
import subprocess
import tempfile
import time
import uuid
from pathlib import Path

import aiohttp
import psycopg
from aiokafka import AIOKafkaConsumer, TopicPartition

from benchmarks.network import OrderMaker, generate_network
from benchmarks.services import drop_database, fresh_database, kafka_bootstrap, postgres_server
from connectors.topics import ensure_topics
from hub.settings import Settings
from hub.streaming.roles import SUBMISSIONS, Role, plain_group
from tests.support.processes import HubProcess, free_port, wait_for_http

CHANNEL = "bench-web"
PY_SPY = os.environ.get("PY_SPY", "py-spy")  # e.g. a virtual environment's own
_TICKS = os.sysconf("SC_CLK_TCK")


def cpu_seconds(pid: int) -> float:
    """utime + stime of the process (all its threads), in seconds."""
    return sum(cpu_split(pid))


def cpu_split(pid: int) -> tuple[float, float]:
    """(utime, stime) of the process (all its threads), in seconds: Python and the libraries'
    own work, and the kernel's on its behalf (system calls: on the loopback a socket write
    carries the receiver's side of the segment too)."""
    fields = Path(f"/proc/{pid}/stat").read_text().rsplit(")", 1)[1].split()
    return int(fields[11]) / _TICKS, int(fields[12]) / _TICKS


def context_switches(pid: int) -> int:
    """Voluntary and involuntary context switches of all the process's threads so far (a
    thread that waits, then is woken: the loop's and the pool threads' hand-overs)."""
    total = 0
    for status in Path(f"/proc/{pid}/task").glob("*/status"):
        try:
            text = status.read_text()
        except OSError:  # a thread that ended meanwhile
            continue
        for line in text.splitlines():
            if "ctxt_switches:" in line:
                total += int(line.split(":")[1])
    return total


def database_work(database: str) -> tuple[float, int]:
    """(CPU seconds of the database's backends, transactions ended in it so far)."""
    with psycopg.connect(database, autocommit=True) as conn:
        pids = [p for (p,) in conn.execute(_BACKENDS).fetchall()]
        row = conn.execute(_COMMITS).fetchone()
    cpu = 0.0
    for pid in pids:
        try:
            cpu += cpu_seconds(pid)
        except OSError:  # a backend that ended meanwhile
            continue
    return cpu, int(row[0]) if row else 0


_BACKENDS = (
    "SELECT pid FROM pg_stat_activity"
    " WHERE datname = current_database() AND pid <> pg_backend_pid()"
)
# An idle backend sends its counts to pg_stat_database within 10 s (PostgreSQL 15).
_STATS_FLUSH_SECONDS = 11
# Reads end in a rollback (the event store's read transactions), writes in a commit.
_COMMITS = (
    "SELECT xact_commit + xact_rollback FROM pg_stat_database WHERE datname = current_database()"
)


async def channel_key(base: str) -> dict[str, str]:
    """The headers of a channel key for CHANNEL (registered with a limit it will not reach),
    issued by the trial caller: what a channel integration sends."""
    definition = {
        "channel_id": CHANNEL,
        "name": "Bench web shop",
        "kind": "web",
        "format": "canonical",
        "rate_limit_per_minute": 1_000_000,
    }
    issue = {"role": "channel", "channel_id": CHANNEL, "label": "bench"}
    async with aiohttp.ClientSession(base) as client:
        async with client.put(f"/v1/channels/{CHANNEL}", json=definition) as response:
            assert response.status in (200, 201), await response.text()
        async with client.post("/v1/keys", json=issue) as response:
            assert response.status == 201, await response.text()
            key = (await response.json())["api_key"]
    return {"authorization": f"Bearer {key}"}


async def offer(
    base: str,
    bodies: list[bytes],
    rate: float,
    concurrency: int,
    headers: dict[str, str] | None = None,
    expected: int = 2,
) -> list[float]:
    """POST each body at `rate`/s (open loop; closed, `concurrency` at a time as fast as they
    are answered, when `rate` is 0); the answer times (s) of the 2xx ones (`expected` 4: of
    the 429 ones, the rest printed)."""
    sent = {"content-type": "application/json", **(headers or {})}
    times: list[float] = []
    slots = asyncio.Semaphore(concurrency)
    async with aiohttp.ClientSession(
        base, connector=aiohttp.TCPConnector(limit=concurrency)
    ) as client:

        async def post(body: bytes, due: float) -> None:
            async with (
                slots,
                client.post("/v1/orders", data=body, headers=sent) as response,
            ):
                await response.read()
                wanted = response.status == 429 if expected == 4 else response.status // 100 == 2
                if wanted:
                    times.append(time.perf_counter() - due)
                elif expected == 2 or response.status // 100 != 2:
                    print(f"HTTP {response.status}: {(await response.text())[:200]}")

        if rate <= 0:
            todo = iter(bodies)

            async def client_loop() -> None:
                for body in todo:
                    await post(body, time.perf_counter())

            await asyncio.gather(*(client_loop() for _ in range(concurrency)))
            return times
        start = time.perf_counter() + 0.05
        tasks = []
        for i, body in enumerate(bodies):
            due = start + i / rate
            delay = due - time.perf_counter()
            if delay > 0:
                await asyncio.sleep(delay)
            tasks.append(asyncio.create_task(post(body, due)))
        await asyncio.gather(*tasks)
    return times


async def hold_intake(bootstrap: str, settings: Settings) -> None:
    """The intake role's group committed at the start of the submitted topic, never moving:
    admission sees every later submission wait (`--shed`)."""
    topic = settings.topic("submitted")
    consumer = AIOKafkaConsumer(
        bootstrap_servers=bootstrap,
        group_id=plain_group(settings, Role.INTAKE, SUBMISSIONS),
        enable_auto_commit=False,
    )
    await consumer.start()
    try:
        parts = [TopicPartition(topic, p) for p in range(settings.topic_partitions)]
        consumer.assign(parts)
        await consumer.commit({tp: 0 for tp in parts})
    finally:
        await consumer.stop()


def bodies(maker: OrderMaker, run: str, n: int) -> list[bytes]:
    placed = time.strftime("%Y-%m-%dT%H:%M:%SZ", time.gmtime())
    return [json.dumps(maker.order(CHANNEL, f"{run}-{i:07d}", placed)).encode() for i in range(n)]


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--rate", type=float, default=150, help="0: closed loop")
    parser.add_argument("--seconds", type=float, default=20)
    parser.add_argument("--warmup", type=float, default=5)
    parser.add_argument("--runs", type=int, default=3)
    parser.add_argument("--idle", type=float, default=10, help="seconds of idle CPU measured")
    parser.add_argument("--concurrency", type=int, default=64)
    parser.add_argument("--code", type=Path, default=None, help="run the server from this tree")
    parser.add_argument("--profile", type=Path, default=None)
    parser.add_argument(
        "--key", action="store_true", help="post with a channel key (default: the trial caller)"
    )
    parser.add_argument(
        "--linger", type=int, default=None, help="the server's producer linger_ms (its default)"
    )
    parser.add_argument(
        "--shed", action="store_true", help="measure admission's 429 answers (see the module)"
    )
    parser.add_argument(
        "--gil", action="store_true", help="profile only the thread holding the GIL (py-spy)"
    )
    parser.add_argument(
        "--native", action="store_true", help="profile C frames too (py-spy): the collector's"
    )
    args = parser.parse_args()
    server = postgres_server()
    database = fresh_database(server)
    tmp = Path(tempfile.mkdtemp(prefix="api-capture-"))
    prefix = f"apicap{uuid.uuid4().hex[:6]}."
    port = free_port()
    env = {
        "ORDERHUB_DATA_DIR": str(tmp / "data"),
        "ORDERHUB_API_PORT": str(port),
        "ORDERHUB_LOG_LEVEL": "warning",
        "ORDERHUB_KAFKA_BOOTSTRAP": kafka_bootstrap(),
        "ORDERHUB_DATABASE_URL": database,
        "ORDERHUB_TOPIC_PREFIX": prefix,
        "ORDERHUB_CONSUMER_GROUP": f"bench-{prefix}",
    }
    if args.linger is not None:
        env["ORDERHUB_KAFKA_LINGER_MS"] = str(args.linger)
    if args.code is not None:
        env["PYTHONPATH"] = str(args.code.resolve())
    settings = Settings(  # type: ignore[call-arg]
        _env_file=None, topic_prefix=prefix, consumer_group=env["ORDERHUB_CONSUMER_GROUP"]
    )
    asyncio.run(
        ensure_topics(
            env["ORDERHUB_KAFKA_BOOTSTRAP"],
            {t: settings.topic_partitions for t in settings.all_topics()},
        )
    )
    maker = OrderMaker(generate_network())
    # `python -m` puts the working directory first on the path, ahead of PYTHONPATH: the
    # server starts in the tree it is to run, or it would run this one whatever --code says.
    here = Path.cwd()
    os.chdir(args.code or here)
    try:
        serve = HubProcess("serve", env, tmp)
    finally:
        os.chdir(here)
    try:
        base = f"http://127.0.0.1:{port}"
        wait_for_http(f"{base}/healthz", serve)
        pid = serve.process.pid
        headers = asyncio.run(channel_key(base)) if args.key else None
        if args.shed:
            asyncio.run(hold_intake(env["ORDERHUB_KAFKA_BOOTSTRAP"], settings))
        expected = 4 if args.shed else 2
        time.sleep(2)
        before = cpu_seconds(pid)
        time.sleep(args.idle)
        idle_ms = 1000 * (cpu_seconds(pid) - before) / args.idle
        print(f"idle: {idle_ms:.1f} ms CPU per second", flush=True)
        per_order: list[float] = []
        for run in range(args.runs):
            tag = uuid.uuid4().hex[:6]
            per_second = args.rate or 200  # closed loop: as many orders as at 200/s
            warm = bodies(maker, f"w{tag}", int(per_second * args.warmup))
            measured = bodies(maker, f"m{tag}", int(per_second * args.seconds))
            asyncio.run(offer(base, warm, args.rate, args.concurrency, headers, expected))
            time.sleep(_STATS_FLUSH_SECONDS)
            spy = None
            if args.profile is not None and run == args.runs - 1:
                # Started after the statistics' flush and stopped (SIGINT: it writes what it
                # has) when the last order is answered: the profile holds the measured window.
                spy = subprocess.Popen(
                    [PY_SPY, "record", "-r", "200", "-f", "raw", "-o",
                     str(args.profile), "--pid", str(pid), *(["--gil"] if args.gil else []),
                     *(["--native"] if args.native else [])],
                    stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL,
                )  # fmt: skip
                time.sleep(1)  # py-spy attached
            start, db_before = cpu_split(pid), database_work(database)
            switches = context_switches(pid)
            times = asyncio.run(
                offer(base, measured, args.rate, args.concurrency, headers, expected)
            )
            after = cpu_split(pid)
            switches = context_switches(pid) - switches
            user, system = after[0] - start[0], after[1] - start[1]
            used = user + system
            if spy is not None:
                spy.send_signal(signal.SIGINT)
            time.sleep(_STATS_FLUSH_SECONDS)
            db_after = database_work(database)
            if spy is not None:
                spy.wait()
            times.sort()
            answered = max(1, len(times))
            ms = 1000 * used / answered
            per_order.append(ms)
            p50 = 1000 * times[len(times) // 2]
            p99 = 1000 * times[int(len(times) * 0.99)]
            print(
                f"run {run + 1}: {len(times)}/{len(measured)} answered, CPU {ms:.3f} ms/order, "
                f"p50 {p50:.1f} ms, p99 {p99:.1f} ms; user/system "
                f"{1000 * user / answered:.3f}/{1000 * system / answered:.3f} ms, "
                f"{switches / answered:.1f} context switches per order; PostgreSQL backends "
                f"{1000 * (db_after[0] - db_before[0]) / max(1, len(times)):.3f} ms/order, "
                f"{(db_after[1] - db_before[1] - 1) / max(1, len(times)):.3f} transactions/order",
                flush=True,
            )
        print(f"median CPU ms/order: {statistics.median(per_order):.3f}  (runs: {per_order})")
    finally:
        serve.stop()
        drop_database(server, database)


if __name__ == "__main__":
    main()
