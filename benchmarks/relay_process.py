"""The `orderhub relay` process alone over a backlog: its CPU per store event, A/B between trees.

Run:  python -m benchmarks.relay_process [--orders 1000] [--rounds 3] [--base /path/to/other/tree]

A realistic history (benchmarks.projection_events: 100 sources, 10,000 SKUs, orders of 1-7
lines routed, a fifth shipped) is recorded once in a fresh PostgreSQL database. Then, per round
and tree (this one, and `--base` when given, alternating), the relay's position is set back to
just before the first `Order.Placed`, and `python -m hub.cli relay` of that tree is started
against fresh topics on the real broker. Its CPU (all threads, from /proc) is counted from its
"relay started" log line, once it has bootstrapped, until its saved position reaches the end of
the log: reading the log, encoding, producing (acks=all) and saving positions, as it runs in
the hub, with the process's own heap and event loop. Printed: CPU µs per store event per round,
and the medians; with `--base`, whether the two trees' last rounds put the same records on
Kafka (per topic and partition, in order: key, value and headers byte for byte).
"""

import argparse
import asyncio
import os
import statistics
import subprocess
import sys
import tempfile
import threading
import time
import uuid
from pathlib import Path

from aiokafka import AIOKafkaConsumer, TopicPartition

from benchmarks.projection_events import record_history
from benchmarks.services import drop_database, fresh_database, kafka_bootstrap, postgres_server
from connectors.relay import STREAM
from connectors.topics import ensure_topics
from hub.bootstrap import Hub, bootstrap
from hub.settings import Settings

HERE = Path(__file__).resolve().parent.parent
# The topics the relay writes (hub.streaming.relay.routes_for), by their settings' names.
TOPICS = (
    "order_events",
    "fulfillment_requests",
    "inventory_events",
    "catalog_events",
    "billing_events",
    "rejected",
)


def _cpu(pid: int) -> float:
    with open(f"/proc/{pid}/stat") as f:
        fields = f.read().rsplit(")", 1)[1].split()
    return (int(fields[11]) + int(fields[12])) / os.sysconf("SC_CLK_TCK")


def _one(tree: Path, env: dict[str, str], positions: object, end: int) -> float:
    """CPU seconds the relay of `tree` spent publishing the backlog."""
    started = threading.Event()
    process = subprocess.Popen(
        [sys.executable, "-m", "hub.cli", "relay"],
        cwd=tree,
        env={**os.environ, **env, "PYTHONPATH": str(tree)},
        stderr=subprocess.PIPE,
        stdout=subprocess.DEVNULL,
        text=True,
    )

    def watch() -> None:
        assert process.stderr is not None
        for line in process.stderr:
            if "relay started" in line:
                started.set()

    threading.Thread(target=watch, daemon=True).start()
    try:
        if not started.wait(120):
            raise RuntimeError("the relay did not start")
        first = _cpu(process.pid)
        while (positions.get(STREAM) or 0) < end:  # type: ignore[attr-defined]
            if process.poll() is not None:
                raise RuntimeError(f"the relay exited with {process.returncode}")
            time.sleep(0.02)
        return _cpu(process.pid) - first
    finally:
        process.terminate()
        process.wait(30)


async def _records(
    bootstrap: str, topics: list[str], partitions: int
) -> dict[str, list[tuple[object, ...]]]:
    """Every record of `topics` (named without their prefix), per partition in offset order."""
    found: dict[str, list[tuple[object, ...]]] = {}
    consumer = AIOKafkaConsumer(bootstrap_servers=bootstrap, enable_auto_commit=False)
    await consumer.start()
    try:
        for topic in topics:
            parts = [TopicPartition(topic, p) for p in range(partitions)]
            consumer.assign(parts)
            await consumer.seek_to_beginning(*parts)
            ends = await consumer.end_offsets(parts)
            rows: list[tuple[object, ...]] = []
            while [tp for tp in parts if await consumer.position(tp) < ends[tp]]:
                for tp, batch in (await consumer.getmany(timeout_ms=1000)).items():
                    rows += [(tp.partition, r.offset, r.key, r.value, r.headers) for r in batch]
            found[topic.split(".", 1)[1]] = sorted(rows, key=lambda r: (r[0], r[1]))
    finally:
        await consumer.stop()
    return found


def _topics(settings: Settings, prefix: str) -> tuple[list[str], int]:
    prefixed = settings.model_copy(update={"topic_prefix": prefix})
    return [prefixed.topic(name) for name in TOPICS], prefixed.topic_partitions


def _rewind(hub: Hub, start: int) -> None:
    """The relay's position back to `start` (a saved position only ever moves forward)."""
    with hub.views_db.transaction() as cur:
        cur.execute("DELETE FROM orderhub_positions WHERE follower = 'relay'")
    hub.relay_positions().set(STREAM, start)


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--orders", type=int, default=1000)
    parser.add_argument("--rounds", type=int, default=3)
    parser.add_argument("--base", type=Path, help="another tree to run the same way (A/B)")
    args = parser.parse_args()
    trees = {"this": HERE} | ({"base": args.base.resolve()} if args.base else {})
    bootstrap_address = kafka_bootstrap()
    server = postgres_server()
    database = fresh_database(server)
    results: dict[str, list[float]] = {name: [] for name in trees}
    prefixes: dict[str, str] = {}
    try:
        with tempfile.TemporaryDirectory() as tmp:
            settings = Settings(
                _env_file=None,  # type: ignore[call-arg]
                data_dir=Path(tmp),
                database_url=database,
            )
            hub = bootstrap(settings)
            try:
                record_history(hub, args.orders)
                start = next(
                    n.id - 1
                    for n in hub.store.recorder.select_notifications(start=None, limit=10**8)
                    if n.topic.endswith("Order.Placed")
                )
                end = hub.store.max_position()
                positions = hub.relay_positions()
                for _ in range(args.rounds):
                    for name, tree in trees.items():
                        prefix = prefixes[name] = f"rproc{uuid.uuid4().hex[:6]}."
                        topics = settings.model_copy(update={"topic_prefix": prefix})
                        asyncio.run(
                            ensure_topics(
                                bootstrap_address,
                                {t: topics.topic_partitions for t in topics.all_topics()},
                            )
                        )
                        _rewind(hub, start)
                        env = {
                            "ORDERHUB_DATA_DIR": tmp,
                            "ORDERHUB_DATABASE_URL": database,
                            "ORDERHUB_KAFKA_BOOTSTRAP": bootstrap_address,
                            "ORDERHUB_TOPIC_PREFIX": prefix,
                            "ORDERHUB_LOG_LEVEL": "info",
                        }
                        cpu = _one(tree, env, positions, end)
                        results[name].append(cpu / (end - start) * 1e6)
                        print(f"  {name}: {results[name][-1]:.1f} µs per store event", flush=True)
                if args.base:
                    same = [
                        asyncio.run(_records(bootstrap_address, *_topics(settings, prefixes[n])))
                        for n in trees
                    ]
                    count = sum(len(rows) for rows in same[0].values())
                    print(f"  the same records on Kafka: {same[0] == same[1]} ({count} records)")
            finally:
                hub.close()
    finally:
        drop_database(server, database)
    print(
        f"{args.orders} orders, {end - start} store events; {args.rounds} rounds;"
        f" load average {os.getloadavg()[0]:.1f}"
    )
    lines = [
        f"  {name:>5} ({trees[name]}): relay CPU {statistics.median(runs):.1f} µs per store"
        f" event, median of {', '.join(f'{r:.1f}' for r in runs)}"
        for name, runs in results.items()
    ]
    print("\n".join(lines))


if __name__ == "__main__":
    main()
