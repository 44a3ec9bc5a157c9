"""The projections role's process draining a backlog on the real broker: its RSS while behind
and at rest after, the memory a soak's floors counted that one process fed in memory does not.

Run:  python -m benchmarks.projections_drain --load FILE [--orders 60000] [--every 5]
          [--env NAME=VALUE ...]

FILE is `benchmarks.projections_history --save`'s (its short template: the network and the
recorded orders in the event store). A copy of that database; `--orders` orders' records,
copies of the recorded ones with their ids renamed (`projections_history.clone`), produced
onto fresh topics of the role (the broker of `infra/kafka.sh`); then `orderhub worker --role
projections` started alone with `--env` added to its environment (e.g. glibc's
`MALLOC_ARENA_MAX=2`, `GLIBC_TUNABLES=glibc.malloc.mmap_threshold=262144`), its RSS and CPU
sampled every `--every` s while it drains, and for `--rest` s after its views' positions
reached the end.
"""

import argparse
import asyncio
import tempfile
import time
import uuid
from pathlib import Path

import psycopg
from aiokafka import AIOKafkaProducer

from benchmarks.procstats import cpu_seconds, rss_bytes
from benchmarks.projections_history import Offsets, clone, copy_database, load_prepared
from benchmarks.services import drop_database, kafka_bootstrap, postgres_server
from connectors.consumed import ConsumedMessage
from connectors.topics import ensure_topics
from hub.settings import Settings
from schemas.event_types import EventType
from tests.support.processes import HubProcess

MB = 1024 * 1024


def renamed_topics(records: list[ConsumedMessage], settings: Settings) -> list[ConsumedMessage]:
    """The records on this run's topics (the recorded ones carry the default prefix)."""
    names = {
        settings.topic(t).removeprefix(settings.topic_prefix): settings.topic(t)
        for t in ("order_events", "rejected", "inventory_events", "catalog_events")
    }
    return [
        ConsumedMessage(
            names.get(r.topic, r.topic), r.partition, r.offset, r.key, r.value, r.headers
        )
        for r in records
    ]


async def produce(bootstrap: str, records: list[ConsumedMessage], copies: int,
                  topics: frozenset[str]) -> int:  # fmt: skip
    producer = AIOKafkaProducer(bootstrap_servers=bootstrap, linger_ms=20, acks=1)
    await producer.start()
    sent = 0
    try:
        for copy in range(1, copies + 1):
            for r in Offsets().place(clone(records, copy, topics)):
                await producer.send(r.topic, r.value, key=r.key, headers=list(r.headers))
                sent += 1
            await producer.flush()
    finally:
        await producer.stop()
    return sent


def positions_reached(url: str, topic: str) -> int:
    """The order status view's positions summed: how many of its records it has handled."""
    with psycopg.connect(url, autocommit=True) as conn:
        row = conn.execute(
            "SELECT coalesce(sum(position + 1), 0) FROM orderhub_positions "
            "WHERE follower = 'order_status' AND stream LIKE %s",
            (f"{topic}:%",),
        ).fetchone()
    return int(row[0]) if row else 0


def sample(worker: HubProcess, started: float, url: str, topic: str) -> tuple[
    float, float, float, int
]:  # fmt: skip
    pid = worker.process.pid
    return (
        time.perf_counter() - started,
        (rss_bytes(pid) or 0) / MB,
        cpu_seconds(pid) or 0.0,
        positions_reached(url, topic),
    )


def drain(url: str, env: dict[str, str], tmp: Path, args: argparse.Namespace,
          end: tuple[str, int]) -> None:  # fmt: skip
    worker = HubProcess("worker", env, tmp, args=["--role", "projections"], name="projections")
    started = time.perf_counter()
    print(f"{'s':>6} {'RSS MB':>8} {'CPU s':>7} {'records':>9}", flush=True)
    caught_up = None
    try:
        while True:
            time.sleep(args.every)
            s, rss, cpu, done = sample(worker, started, url, end[0])
            print(f"{s:6.0f} {rss:8.1f} {cpu:7.1f} {done:9,}", flush=True)
            if caught_up is None and done >= end[1]:
                caught_up = s
                print(f"caught up after {s:.0f} s; at rest for {args.rest:.0f} s", flush=True)
            if caught_up is not None and s - caught_up >= args.rest:
                return
            if worker.process.poll() is not None:
                raise RuntimeError(f"the role stopped: {worker.log_path}")
    finally:
        worker.stop()


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--load", type=Path, required=True)
    parser.add_argument("--orders", type=int, default=60_000)
    parser.add_argument("--every", type=float, default=5.0)
    parser.add_argument("--rest", type=float, default=40.0)
    parser.add_argument("--env", action="append", default=[], help="NAME=VALUE for the role")
    args = parser.parse_args()
    kept = load_prepared(args.load)
    server, bootstrap = postgres_server(), kafka_bootstrap()
    url = copy_database(server, kept.templates["short"])
    prefix = f"drain{uuid.uuid4().hex[:6]}."
    settings = Settings(kafka_bootstrap=bootstrap, database_url=url, topic_prefix=prefix)
    try:
        asyncio.run(ensure_topics(bootstrap, {t: 6 for t in settings.all_topics()}))
        records = renamed_topics(kept.records, settings)
        topics = frozenset(settings.topic(t) for t in ("order_events", "rejected"))
        per_copy = sum(1 for r in records if r.header("ce_type") == EventType.ORDER_PLACED)
        sent = asyncio.run(produce(bootstrap, records, args.orders // per_copy, topics))
        ours = sum(1 for r in records if r.topic == settings.topic("order_events"))
        print(f"{sent:,} records of {args.orders:,} orders on {prefix}*", flush=True)
        env = {
            "ORDERHUB_KAFKA_BOOTSTRAP": bootstrap,
            "ORDERHUB_DATABASE_URL": url,
            "ORDERHUB_TOPIC_PREFIX": prefix,
            "ORDERHUB_TOPIC_PARTITIONS": "6",
            "ORDERHUB_CONSUMER_GROUP": f"drain-{prefix}",
            "ORDERHUB_LOG_LEVEL": "warning",
            **dict(item.split("=", 1) for item in args.env),
        }
        with tempfile.TemporaryDirectory(prefix="orderhub-drain-") as tmp:
            env["ORDERHUB_DATA_DIR"] = tmp
            end = (settings.topic("order_events"), ours * (args.orders // per_copy))
            drain(url, env, Path(tmp), args, end)
    finally:
        drop_database(server, url)


if __name__ == "__main__":
    main()
