"""Two per-record costs of the distributed path, old and new way alternating: decoding what the
orchestration role's consumer reads, and choosing a partition for what the relay publishes.

Run:  python -m benchmarks.consumer_costs [--orders 300] [--rounds 5]

A realistic history (benchmarks.projection_events: 100 sources, 10,000 SKUs, orders of 1-7
lines routed, a fifth shipped) is recorded in a SQLite event store and turned into the records
the relay publishes; the orders' records on the orchestration role's topics are measured:
- decode: `hub.streaming.feeds.decode` of every record (as before, and as the projections role
  still does) against decoding only the types the orchestrator acts on (its `event_types`);
- partition: aiokafka's default partitioner against `connectors.publisher.cached_partitioner`
  (its cache emptied before each round, so every key is hashed once per round) over the records'
  keys, 12 partitions.
Printed: process CPU µs per record, best and median of the rounds.
"""

import argparse
import statistics
import time
from collections.abc import Callable

from aiokafka.partitioner import DefaultPartitioner

from benchmarks.projection_events import history_hub, projection_records
from connectors.publisher import _hash, cached_partitioner
from hub.services.followers import OrchestrationFollower
from hub.streaming.feeds import Feed, decode, wanted_types
from schemas.event_types import EventType

PARTITIONS = list(range(12))


def _cpu_us(work: Callable[[], object], count: int) -> float:
    start = time.process_time()
    work()
    return (time.process_time() - start) / count * 1e6


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--orders", type=int, default=300)
    parser.add_argument("--rounds", type=int, default=5)
    args = parser.parse_args()
    with history_hub(args.orders) as hub:
        topics = frozenset(hub.settings.topic(t) for t in ("order_events", "inventory_events"))
        everything = [r for r in projection_records(hub) if r.topic in topics]
    # The orders' records, not the network's set-up before them.
    first = next(
        i for i, r in enumerate(everything) if r.header("ce_type") == EventType.ORDER_PLACED
    )
    records = everything[first:]
    follower = Feed("orchestrator", None, topics, OrchestrationFollower.event_types)  # type: ignore[arg-type]
    wanted = wanted_types([follower])
    kept = len(decode(records, wanted).events)
    keys = [r.key for r in records]
    default = DefaultPartitioner()

    def partition_default() -> None:
        for key in keys:
            default(key, PARTITIONS, PARTITIONS)

    def partition_cached() -> None:
        _hash.cache_clear()
        for key in keys:
            cached_partitioner(key, PARTITIONS, PARTITIONS)

    ways: dict[str, Callable[[], object]] = {
        "decode every record": lambda: decode(records),
        "decode the orchestrator's types": lambda: decode(records, wanted),
        "partition: aiokafka default": partition_default,
        "partition: cached hash": partition_cached,
    }
    timings: dict[str, list[float]] = {name: [] for name in ways}
    for _ in range(args.rounds):
        for name, work in ways.items():
            timings[name].append(_cpu_us(work, len(records)))
    print(
        f"{len(records)} records of {args.orders} orders on the orchestration role's topics; "
        f"{kept} of the orchestrator's types; {len(set(keys))} distinct keys"
    )
    for name, values in timings.items():
        print(
            f"  {name:34s} best {min(values):7.2f} µs/record, "
            f"median {statistics.median(values):7.2f}"
        )


if __name__ == "__main__":
    main()
