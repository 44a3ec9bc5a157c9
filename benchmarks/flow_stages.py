"""Where an order's time goes between capture and decision, read back from a run's topics.

`python -m benchmarks.flow_stages PREFIX [--since EPOCH --until EPOCH]` reads the submissions
and the order events a distributed `benchmarks.flow` run left on the broker (its topics keep the
run's prefix, printed in the hub's logs under /tmp/orderhub-flow-*/) and, for each order
submitted over REST or the channel topic in the range, times five stages from what the records
carry:

- submitted: the submission record's timestamp (set by the API's producer when it sent it);
- placed: `ce_time` of the order's first event (the intake role's clock when it made it);
- placed out: that event's record timestamp on the order events topic (the relay's send: the
  intake's commit, the store's notice and the relay's read lie between);
- decided: `ce_time` of its first `Routed` or `Held` (the orchestration role's clock);
- decided out: that record's timestamp (the relay again).

Times are the hub processes' clocks on one machine, so differences are meaningful to ~1 ms.
"""

import argparse
import asyncio
from collections.abc import AsyncIterator, Collection
from datetime import datetime
from itertools import pairwise
from typing import Any

from aiokafka import AIOKafkaConsumer

from benchmarks.flow_hub import HELD, ROUTED

STAGES = ("submitted", "placed", "placed out", "decided", "decided out")


async def each_record(bootstrap: str, topic: str) -> AsyncIterator[Any]:
    """Every record of the topic as it is now, one fetch at a time: a soak's order events
    topic holds millions of records, and read into one list they took the load generator to
    22.4 GB, where the kernel's OOM killer ended it (soak24, benchmarks/README.md)."""
    consumer = AIOKafkaConsumer(
        topic, bootstrap_servers=bootstrap, group_id=None, auto_offset_reset="earliest"
    )
    await consumer.start()
    try:
        while True:
            batch = await consumer.getmany(timeout_ms=2000, max_records=10_000)
            if not batch:
                return
            for part in batch.values():
                for record in part:
                    yield record
    finally:
        await consumer.stop()


def ce_seconds(headers: dict[str, bytes]) -> float:
    return datetime.fromisoformat(headers["ce_time"].decode().replace("Z", "+00:00")).timestamp()


async def stages(
    bootstrap: str, prefix: str, only: Collection[str] | None = None
) -> dict[str, dict[str, float]]:
    """Each order's stage times (epoch seconds), by order id (`only`: of these orders); with
    the versions of its `Placed` and of its decision (`placed version`, `decided version`)."""
    found: dict[str, dict[str, float]] = {}
    channel = f"{prefix}orderhub.channel.bench-kafka.orders"
    for topic in (f"{prefix}orderhub.orders.submitted", channel):
        async for r in each_record(bootstrap, topic):
            if r.key is not None and (only is None or r.key.decode() in only):
                found.setdefault(r.key.decode(), {})["submitted"] = r.timestamp / 1000
    async for r in each_record(bootstrap, f"{prefix}orderhub.orders.events"):
        headers = {k: v for k, v in r.headers or []}
        order = headers.get("ce_subject", b"").decode()
        times = found.get(order)
        if times is None:
            continue
        if "placed" not in times:
            times["placed"], times["placed out"] = ce_seconds(headers), r.timestamp / 1000
            times["placed version"] = int(headers.get("ce_sequence", b"0"))
        kind = headers.get("ce_type", b"").decode()
        if kind in (ROUTED, HELD) and "decided" not in times:
            times["decided"], times["decided out"] = ce_seconds(headers), r.timestamp / 1000
            times["decided version"] = int(headers.get("ce_sequence", b"0"))
    return found


def percentile(values: list[float], q: float) -> float:
    ordered = sorted(values)
    return ordered[min(len(ordered) - 1, int(q * len(ordered)))]


def report(found: dict[str, dict[str, float]], since: float, until: float) -> None:
    orders = [
        t
        for t in found.values()
        if since <= t.get("submitted", 0) < until and all(s in t for s in STAGES)
    ]
    channel_orders = len(orders)
    print(f"{channel_orders} orders decided, submitted in the range")
    if not orders:
        return
    print(f"{'stage':<28} {'p50':>7} {'p90':>7} {'p99':>7} {'max':>7}  ms")
    for first, then in pairwise(STAGES):
        gaps = [(t[then] - t[first]) * 1000 for t in orders]
        print(
            f"{first + ' -> ' + then:<28} "
            + " ".join(f"{percentile(gaps, q):7.1f}" for q in (0.5, 0.9, 0.99))
            + f" {max(gaps):7.1f}"
        )
    whole = [(t["decided out"] - t["submitted"]) * 1000 for t in orders]
    print(
        f"{'submitted -> decided out':<28} "
        + " ".join(f"{percentile(whole, q):7.1f}" for q in (0.5, 0.9, 0.99))
        + f" {max(whole):7.1f}"
    )


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("prefix", help="the run's topic prefix, e.g. flow1a2b3c.")
    parser.add_argument("--bootstrap", default="127.0.0.1:9092")
    parser.add_argument("--since", type=float, default=0.0, help="epoch seconds")
    parser.add_argument("--until", type=float, default=float("inf"), help="epoch seconds")
    parser.add_argument("--split", type=float, default=0.0, help="also report orders submitted "
                        "in consecutive ranges of this many seconds")  # fmt: skip
    args = parser.parse_args()
    found = asyncio.run(stages(args.bootstrap, args.prefix))
    report(found, args.since, args.until)
    if args.split:
        times = sorted(t["submitted"] for t in found.values() if "submitted" in t)
        start = max(args.since, times[0]) if times else 0.0
        end = min(args.until, times[-1]) if times else 0.0
        while start < end:
            print(f"\nsubmitted {start:.0f} - {start + args.split:.0f}")
            report(found, start, start + args.split)
            start += args.split


if __name__ == "__main__":
    main()
