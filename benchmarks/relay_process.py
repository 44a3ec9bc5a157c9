"""The `orderhub relay` process alone over a backlog: its CPU per store event, A/B between trees.

Run:  python -m benchmarks.relay_process [--orders 1000] [--rounds 3] [--base /path/to/other/tree]
      [--profile PREFIX] [--large N [--large-bytes B]]

A realistic history (benchmarks.projection_events: 100 sources, 10,000 SKUs, orders of 1-7
lines routed, a fifth shipped) is recorded once in a fresh PostgreSQL database. Then, per round
and tree (this one, and `--base` when given, alternating), the relay's position is set back to
just before the first `Order.Placed`, and `python -m hub.cli relay` of that tree is started
against fresh topics on the real broker. Its CPU (all threads, from /proc) is counted from its
"relay started" log line, once it has bootstrapped, until its saved position reaches the end of
the log: reading the log, encoding, producing (acks=all) and saving positions, as it runs in
the hub, with the process's own heap and event loop. Printed: CPU µs per store event per round,
the drain rate (store events/s over the same window: it ends when the saved position reaches
the end, up to `relay_save_seconds` after the last acknowledgement) and, per round, the raw
produce rate of the same broker (`raw_limits.raw_broker_rate`: one idempotent acks=all
producer, 20,000 records of the relay's mean record size, 6 partitions) with that producer's
CPU per record; the medians, the drain rate in records/s as a share of the raw rate (of the
medians, and per round against that round's raw rate), and the raw producer's CPU per record
over the relay's (the share of raw the relay reaches where both get the same share of the
cores: on a busy machine the drain follows CPU per record). With
`--base`, whether the two trees' last rounds put the same records on Kafka (per topic and
partition, in order: key, value and headers byte for byte). `--large N`: N rejected submissions
after the history, each keeping a `--large-bytes` payload whole (the largest events accepted input
makes), so that the relay's peak RSS (printed per run) shows what a backlog of them costs it.
`--profile PREFIX`: py-spy (raw
format) on each relay over its window, one file per tree and round (its sampling slows it).
"""

import argparse
import asyncio
import os
import signal
import statistics
import subprocess
import sys
import tempfile
import threading
import time
import uuid
from pathlib import Path
from typing import cast

import orjson
from aiokafka import AIOKafkaConsumer, TopicPartition

from benchmarks.projection_events import record_history
from benchmarks.raw_limits import raw_broker_rate
from benchmarks.services import drop_database, fresh_database, kafka_bootstrap, postgres_server
from connectors.codec import OutboundRecord, envelope_to_record
from connectors.relay import STREAM
from connectors.topics import ensure_topics
from hub.bootstrap import Hub, bootstrap
from hub.services.intake import RejectSubmission
from hub.settings import Settings
from hub.streaming.kafka_parts import KafkaParts
from hub.streaming.relay import routes_for

HERE = Path(__file__).resolve().parent.parent
PY_SPY = os.environ.get("PY_SPY", "py-spy")
# The topics the relay writes (hub.streaming.relay.routes_for), by their settings' names.
TOPICS = (
    "order_events",
    "fulfillment_requests",
    "inventory_events",
    "catalog_events",
    "billing_events",
    "rejected",
)


def _peak_rss_mb(pid: int) -> float:
    with open(f"/proc/{pid}/status") as f:
        line = next(line for line in f if line.startswith("VmHWM:"))
    return int(line.split()[1]) / 1024


def _large_events(hub: Hub, count: int, size: int) -> None:
    """`count` rejected submissions, each keeping a payload of `size` bytes whole (a bulk file
    refused as a whole): the largest events accepted input makes."""
    letters = "abcdefghijklmnopqrstuvwxyz0123456789"
    hub.intake.record_rejections(
        [
            RejectSubmission(
                "bulk",
                f"{n}\n" + "".join(letters[(n * 7 + i) % 36] for i in range(37)) * (size // 37),
                "csv",
                "unparseable",
                [],
                "channel:bulk",
            )
            for n in range(count)
        ]
    )


def _user_system(pid: int) -> tuple[float, float]:
    """The process's user and system CPU seconds so far (all its threads)."""
    with open(f"/proc/{pid}/stat") as f:
        fields = f.read().rsplit(")", 1)[1].split()
    tick = os.sysconf("SC_CLK_TCK")
    return int(fields[11]) / tick, int(fields[12]) / tick


def _one(
    tree: Path, env: dict[str, str], positions: object, end: int, profile: str = ""
) -> tuple[float, float, float]:
    """CPU and wall seconds the relay of `tree` spent publishing the backlog (the wall time
    ends when its saved position reaches the end: up to `relay_save_seconds` late), and its
    peak RSS in MB (VmHWM: from its start, bootstrap included)."""
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
        spy = None
        if profile:  # py-spy on the relay from its start-up line to the end of the backlog
            spy = subprocess.Popen(
                [PY_SPY, "record", "-r", "250", "-f", "raw", "-o", profile, "-p", str(process.pid)],
                stdout=subprocess.DEVNULL,
                stderr=subprocess.DEVNULL,
            )
            time.sleep(1.0)
        first, wall = _user_system(process.pid), time.perf_counter()
        while (positions.get(STREAM) or 0) < end:  # type: ignore[attr-defined]
            if process.poll() is not None:
                raise RuntimeError(f"the relay exited with {process.returncode}")
            time.sleep(0.02)
        user, system = (b - a for a, b in zip(first, _user_system(process.pid), strict=True))
        spent = user + system, time.perf_counter() - wall, _peak_rss_mb(process.pid)
        # The kernel's part (socket writes to the broker, reads from PostgreSQL, thread
        # wake-ups): what no change to the relay's Python removes.
        print(f"  (system CPU {system / max(spent[0], 1e-9):.0%} of it)", flush=True)
        if spy is not None:
            spy.send_signal(signal.SIGINT)
            spy.wait(30)
        return spent
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


def _as_json(found: dict[str, list[tuple[object, ...]]]) -> dict[str, list[tuple[object, ...]]]:
    """The records with each value read as JSON, its scalars' types beside them: a decision
    record spliced in as stored keeps its stored key order (hub.stored_envelopes)."""
    return {
        topic: [(*row[:3], typed(orjson.loads(cast(bytes, row[3]))), row[4]) for row in rows]
        for topic, rows in found.items()
    }


def same_records(mine: list[OutboundRecord], theirs: list[OutboundRecord]) -> bool:
    """The same records: topic, key and headers byte for byte, the values the same JSON."""
    return len(mine) == len(theirs) and all(
        (a.topic, a.key, a.headers) == (b.topic, b.key, b.headers)
        and typed(orjson.loads(a.value)) == typed(orjson.loads(b.value))
        for a, b in zip(mine, theirs, strict=True)
    )


def typed(value: object) -> object:
    """JSON values with each scalar's type beside it (1 and 1.0, True and 1 told apart)."""
    if isinstance(value, dict):
        return {key: typed(item) for key, item in value.items()}
    if isinstance(value, list):
        return [typed(item) for item in value]
    return (type(value), value)


def _topics(settings: Settings, prefix: str) -> tuple[list[str], int]:
    prefixed = settings.model_copy(update={"topic_prefix": prefix})
    return [prefixed.topic(name) for name in TOPICS], prefixed.topic_partitions


def _rewind(hub: Hub, start: int) -> None:
    """The relay's position back to `start` (a saved position only ever moves forward)."""
    with hub.views_db.transaction() as cur:
        cur.execute("DELETE FROM orderhub_positions WHERE follower = 'relay'")
    hub.relay_positions().set(STREAM, start)


def _backlog(hub: Hub, start: int) -> tuple[int, int]:
    """How many records the relay puts on Kafka for the events after `start`, and their mean
    value size (for a raw produce of records of that size)."""
    routes = routes_for(hub.settings)
    sizes = [
        len(envelope_to_record(topic, env, key).value)
        for _, env in hub.store.read_envelopes(start, 10**8)
        for topic, key in routes(env)
    ]
    return len(sizes), int(statistics.mean(sizes))


def _raw(bootstrap_address: str, size: int) -> tuple[float, float]:
    """The broker's raw produce rate in records/s, acks=all and idempotent (raw_limits), and
    that producer's CPU µs per record (this process's, nothing else runs in it meanwhile)."""
    topic = f"rproc-raw{uuid.uuid4().hex[:6]}"
    asyncio.run(ensure_topics(bootstrap_address, {topic: 6}))
    cpu = time.process_time()
    rate = asyncio.run(raw_broker_rate(bootstrap_address, topic, 20_000, size))
    return rate, (time.process_time() - cpu) / 20_000 * 1e6


def _env(tmp: str, database: str, bootstrap_address: str, prefix: str) -> dict[str, str]:
    return {
        "ORDERHUB_DATA_DIR": tmp,
        "ORDERHUB_DATABASE_URL": database,
        "ORDERHUB_KAFKA_BOOTSTRAP": bootstrap_address,
        "ORDERHUB_TOPIC_PREFIX": prefix,
        "ORDERHUB_LOG_LEVEL": "info",
    }


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--orders", type=int, default=1000)
    parser.add_argument("--rounds", type=int, default=3)
    parser.add_argument(
        "--large", type=int, default=0, help="that many large events after the history"
    )
    parser.add_argument("--large-bytes", type=int, default=5_000_000, help="each one's payload")
    parser.add_argument("--base", type=Path, help="another tree to run the same way (A/B)")
    parser.add_argument(
        "--profile", default="", help="py-spy raw output of this tree's relay, per round (prefix)"
    )
    args = parser.parse_args()
    trees = {"this": HERE} | ({"base": args.base.resolve()} if args.base else {})
    bootstrap_address = kafka_bootstrap()
    server = postgres_server()
    database = fresh_database(server)
    results: dict[str, list[tuple[float, float, float]]] = {name: [] for name in trees}
    raw: list[tuple[float, float]] = []
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
                _large_events(hub, args.large, args.large_bytes)
                start = next(
                    n.id - 1
                    for n in hub.store.recorder.select_notifications(start=None, limit=10**8)
                    if n.topic.endswith("Order.Placed")
                )
                end = hub.store.max_position()
                records, size = _backlog(hub, start)
                positions = hub.relay_positions()
                for _ in range(args.rounds):
                    for name, tree in trees.items():
                        prefix = prefixes[name] = f"rproc{uuid.uuid4().hex[:6]}."
                        topics = settings.model_copy(
                            update={"topic_prefix": prefix, "kafka_bootstrap": bootstrap_address}
                        )
                        # As the hub makes them: taking records up to its record limit.
                        asyncio.run(KafkaParts(topics).ensure_topics(wait=False))
                        _rewind(hub, start)
                        env = _env(tmp, database, bootstrap_address, prefix)
                        profile = f"{args.profile}-{name}-{len(raw)}.txt" if args.profile else ""
                        cpu, wall, peak = _one(tree, env, positions, end, profile)
                        results[name].append(
                            (cpu / (end - start) * 1e6, (end - start) / wall, peak)
                        )
                        print(
                            f"  {name}: {results[name][-1][0]:.1f} µs per store event,"
                            f" {results[name][-1][1]:,.0f} events/s, peak RSS {peak:,.0f} MB",
                            flush=True,
                        )
                    raw.append(_raw(bootstrap_address, size))
                    print(
                        f"  raw produce: {raw[-1][0]:,.0f} records/s,"
                        f" {raw[-1][1]:.1f} µs CPU per record",
                        flush=True,
                    )
                if args.base:
                    same = [
                        asyncio.run(_records(bootstrap_address, *_topics(settings, prefixes[n])))
                        for n in trees
                    ]
                    count = sum(len(rows) for rows in same[0].values())
                    print(
                        f"  the same records on Kafka: {same[0] == same[1]}, the same JSON:"
                        f" {_as_json(same[0]) == _as_json(same[1])} ({count} records)"
                    )
            finally:
                hub.close()
    finally:
        drop_database(server, database)
    _summary(args, trees, results, raw, end - start, records, size)


def _summary(
    args: argparse.Namespace,
    trees: dict[str, Path],
    results: dict[str, list[tuple[float, float, float]]],
    raw: list[tuple[float, float]],
    events: int,
    records: int,
    size: int,
) -> None:
    med = statistics.median
    per_event = records / events
    raw_rate = med([r[0] for r in raw])
    print(
        f"{args.orders} orders, {events} store events, {records} records of {size} B mean;"
        f" {args.rounds} rounds; load average {os.getloadavg()[0]:.1f}; raw produce"
        f" {raw_rate:,.0f} records/s (median of {', '.join(f'{r[0]:,.0f}' for r in raw)}),"
        f" {med([r[1] for r in raw]):.1f} µs CPU per record"
    )
    for name, runs in results.items():
        print(f"  {name:>5} ({trees[name]}): {_tree_line(runs, raw, per_event, raw_rate)}")


def _tree_line(
    runs: list[tuple[float, float, float]],
    raw: list[tuple[float, float]],
    per_event: float,
    raw_rate: float,
) -> str:
    """One tree's rounds: CPU per event, drain rate, its share of raw (of the medians, and per
    round against the raw rate of the same round: the load swings between rounds), and the raw
    producer's CPU per record over the relay's: the share of raw the relay reaches where both
    are held to the same share of the cores, as on a busy machine."""
    med = statistics.median
    cpus, rates = [r[0] for r in runs], [r[1] for r in runs]
    shares = [rate * per_event / r[0] for rate, r in zip(rates, raw, strict=True)]
    cpu_shares = [r[1] / (cpu / per_event) for cpu, r in zip(cpus, raw, strict=True)]
    return (
        f"relay CPU {med(cpus):.1f} µs per store event"
        f" ({', '.join(f'{c:.1f}' for c in cpus)}); drained {med(rates):,.0f} events/s"
        f" ({', '.join(f'{r:,.0f}' for r in rates)}) = {med(rates) * per_event:,.0f}"
        f" records/s, {med(rates) * per_event / raw_rate:.0%} of raw; per round"
        f" {med(shares):.0%} of that round's raw ({', '.join(f'{x:.0%}' for x in shares)});"
        f" raw's CPU per record / the relay's {med(cpu_shares):.0%};"
        f" peak RSS {med(r[2] for r in runs):,.0f} MB"
    )


if __name__ == "__main__":
    main()
