"""The relay over a backlog, on the real broker: its CPU per store event, its rate against the
raw produce rate, and the broker's CPU per record, record by record against whole batches.

Run:  python -m benchmarks.relay_publish [--orders 300] [--rounds 3] [--batch 500]

A realistic history (benchmarks.projection_events: 100 sources, 10,000 SKUs, orders of 1-7
lines routed, a fifth shipped) is recorded in a SQLite event store; then, alternating, the
relay (`connectors.relay.Relay`, the hub's routes) publishes the orders' events (the log from
the first `Order.Placed`) to fresh topics on the broker, once with the publisher record by
record (`send()`, as before) and once with whole batches (`whole_batches=True`, as `orderhub
relay` now does). Per round and way: this process's CPU per store event (reading the log,
encoding, producing), split into the read and the encode (timed apart, the same events), wall
rate in records/s, and the broker's CPU per record (from /proc, when infra/kafka.sh runs it).
The raw produce rate of one idempotent acks=all producer, records of the same mean size, is
measured in each round too.
"""

import argparse
import asyncio
import os
import statistics
import time
import uuid
from collections import defaultdict

from benchmarks.flow_hub import kafka_pids
from benchmarks.projection_events import history_hub
from benchmarks.raw_limits import raw_broker_rate
from benchmarks.services import kafka_bootstrap
from connectors.codec import envelope_to_record
from connectors.publisher import KafkaPublisher
from connectors.relay import STREAM, Relay
from connectors.topics import ensure_topics
from hub.bootstrap import Hub
from hub.streaming.relay import routes_for

WAYS = {"record by record": False, "whole batches": True}


class _Positions:
    def __init__(self) -> None:
        self.saved: dict[str, int] = {}

    def get(self, stream: str) -> int | None:
        return self.saved.get(stream)

    def set(self, stream: str, position: int) -> None:
        self.saved[stream] = position


def _ticks(pids: list[int]) -> float:
    total = 0
    for pid in pids:
        with open(f"/proc/{pid}/stat") as f:
            fields = f.read().rsplit(")", 1)[1].split()
        total += int(fields[11]) + int(fields[12])
    return total / os.sysconf("SC_CLK_TCK")


async def _one(hub: Hub, bootstrap: str, whole: bool, batch: int, start: int) -> dict[str, float]:
    settings = hub.settings.model_copy(update={"topic_prefix": f"rp{uuid.uuid4().hex[:6]}."})
    await ensure_topics(bootstrap, {t: settings.topic_partitions for t in settings.all_topics()})
    await asyncio.sleep(1.0)  # the new partitions' leaders elected (else retries are timed)
    # Passed only when asked, so that the code before it (`--ways "record by record"`) runs too.
    options = {"whole_batches": True} if whole else {}
    publisher = KafkaPublisher(bootstrap, client_id="relay-publish", **options)
    await publisher.start()
    routes = routes_for(settings)
    positions = _Positions()
    if start:
        positions.set(STREAM, start)
    relay = Relay(hub.store, publisher, positions, routes, batch_size=batch)
    broker = kafka_pids()
    records = sum(len(routes(env)) for _, env in hub.store.read_envelopes(start, 10_000_000))
    try:
        cpu, wall, b0 = time.process_time(), time.perf_counter(), _ticks(broker)
        while await relay.publish_next_batch():
            pass
        cpu, wall = time.process_time() - cpu, time.perf_counter() - wall
        broker_s = _ticks(broker) - b0
    finally:
        await publisher.stop()
    events = relay.published
    return {
        "cpu_us_per_event": cpu / events * 1e6,
        "records_per_s": records / wall,
        "broker_us_per_record": broker_s / records * 1e6 if broker else float("nan"),
        "events": events,
        "records": records,
    }


def _parts(hub: Hub, after: int) -> dict[str, float]:
    """CPU per event of reading the log and of encoding its records, apart."""
    routes = routes_for(hub.settings)
    start = time.process_time()
    read = hub.store.read_envelopes(after, 10_000_000)
    read_s = time.process_time() - start
    start = time.process_time()
    for _, env in read:
        for topic, key in routes(env):
            envelope_to_record(topic, env, key)
    encode_s = time.process_time() - start
    return {"read_us": read_s / len(read) * 1e6, "encode_us": encode_s / len(read) * 1e6}


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--orders", type=int, default=300)
    parser.add_argument("--rounds", type=int, default=3)
    parser.add_argument("--batch", type=int, default=500, help="the relay's batch size")
    parser.add_argument(
        "--ways", nargs="+", choices=list(WAYS), default=list(WAYS), help="publishers to run"
    )
    args = parser.parse_args()
    bootstrap = kafka_bootstrap()
    results: dict[str, list[dict[str, float]]] = defaultdict(list)
    parts: list[dict[str, float]] = []
    raw: list[float] = []
    with history_hub(args.orders) as hub:
        # The orders' events only (from the first `Order.Placed`), not the network's.
        start = next(
            n.id - 1
            for n in hub.store.recorder.select_notifications(start=None, limit=10_000_000)
            if n.topic.endswith("Order.Placed")
        )
        sizes = [
            len(envelope_to_record("t", env).value)
            for _, env in hub.store.read_envelopes(start, 10_000_000)
        ]
        mean_size = int(statistics.mean(sizes))
        for _ in range(args.rounds):
            parts.append(_parts(hub, start))
            for name in args.ways:
                run = _one(hub, bootstrap, WAYS[name], args.batch, start)
                results[name].append(asyncio.run(run))
            topic = f"rp-raw{uuid.uuid4().hex[:6]}"
            asyncio.run(ensure_topics(bootstrap, {topic: 6}))
            raw.append(asyncio.run(raw_broker_rate(bootstrap, topic, 20_000, mean_size)))
    first = results[args.ways[0]][0]
    print(
        f"{args.orders} orders: {first['events']:.0f} store events, {first['records']:.0f}"
        f" records of {mean_size} B mean; relay batch {args.batch}; {args.rounds} rounds,"
        f" load average {os.getloadavg()[0]:.1f}"
    )
    med = statistics.median
    print(
        f"  read the log {med(p['read_us'] for p in parts):.1f} µs per event, encode"
        f" {med(p['encode_us'] for p in parts):.1f} µs per event (medians)"
    )
    rates = ", ".join(f"{r:,.0f}" for r in raw)
    print(f"  raw produce: {med(raw):,.0f} records/s (median of {rates})")
    for name, runs in results.items():
        cpu = [r["cpu_us_per_event"] for r in runs]
        rate = [r["records_per_s"] for r in runs]
        broker = [r["broker_us_per_record"] for r in runs]
        print(
            f"  {name:>16}: relay CPU {med(cpu):6.1f} µs per store event"
            f" ({', '.join(f'{c:.1f}' for c in cpu)}); {med(rate):8,.0f} records/s"
            f" ({med(rate) / med(raw):.0%} of raw); broker {med(broker):6.1f} µs per record"
        )


if __name__ == "__main__":
    main()
