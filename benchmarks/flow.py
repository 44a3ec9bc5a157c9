"""The whole path on a realistic network, open loop: capture → routed → FulfillmentRequested.

Run:  python -m benchmarks.flow [--mode distributed,embedded] [--rates 20,50] [--seconds 15]
      python -m benchmarks.flow --rates 100,250,500,1000,1500 --seconds 60 --warmup 10
      python -m benchmarks.flow --sources 20,100,500          # cost vs the network's size
      python -m benchmarks.flow --history 200000              # cost vs the history's length
      python -m benchmarks.flow --history 200000 --ship 0.95  # ... with orders shipped
      python -m benchmarks.flow --orders 1000000 --rates 500  # soak: RSS of every process

For each mode and network size: a fresh hub (distributed: API, worker and relay processes on the
real broker and a fresh PostgreSQL database; embedded: `orderhub serve` on SQLite), a generated
network loaded through the hub's public API (sources over REST; stock on the stock-feed topic,
or over REST), a short probe, the raw limits of the same infrastructure, then one open-loop step
per offered rate. What the hub published is timed by an independent consumer of its topics
(embedded: a reader of its event store). Each step sends for warm-up + seconds, measures the
last `seconds`, then waits at most `--drain` seconds and reports what is left (a hub that cannot
keep up makes the run no longer than that).
"""

import argparse
import asyncio
import json
import math
import os
import shutil
import time
import uuid
from collections import Counter
from dataclasses import dataclass
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

import aiohttp

from benchmarks.flow_args import flow_parser
from benchmarks.flow_history import history
from benchmarks.flow_hub import (
    REST_CHANNEL,
    RunningHub,
    load_stock_kafka,
    load_stock_rest,
    register,
    running_hub,
    wait_until,
)
from benchmarks.flow_load import Sender, placed_now
from benchmarks.flow_report import brief, console, ms, percentile, show, stop_text
from benchmarks.flow_soak import before_run, soak, soak_seconds
from benchmarks.flow_trace import show_stages, step_stages
from benchmarks.flow_watch import (
    KafkaWatcher,
    StorePosition,
    StoreWatcher,
    sample_rss,
    wait_idle,
)
from benchmarks.network import (
    Network,
    OrderMaker,
    generate_network,
    with_capacity_scaled,
    with_stock_scaled,
)
from benchmarks.procstats import CpuWindow
from benchmarks.raw_limits import raw_broker_rate, raw_store_rate
from benchmarks.services import drop_database, fresh_database
from connectors.topics import ensure_topics
from hub.settings import Settings

RESULTS = Path(__file__).parent / "results"


@dataclass
class Session:
    hub: RunningHub
    network: Network
    sender: Sender
    args: argparse.Namespace
    position: StorePosition

    @property
    def seen(self) -> Any:
        return self.hub.seen

    def captured(self, ids: list[str]) -> list[str]:
        """Orders the hub may have: produced to Kafka, or a REST request that went out and was
        not refused (answered 2xx, or not answered yet)."""
        sent = self.sender.sent
        return [
            i
            for i in ids
            if i not in sent.failed
            and i not in sent.shed
            and (i in sent.started or i in sent.via_kafka)
        ]

    async def wait_decided(self, ids: list[str], stall: float, deadline: float | None) -> bool:
        """Until every order is routed or held (a held order waits for a person, not the hub)."""
        seen = self.seen
        return await wait_until(
            lambda: sum(1 for i in ids if i in seen.routed or i in seen.held),
            len(ids),
            stall,
            "decided",
            deadline,
        )

    async def closed_batch(self, count: int) -> dict[str, Any]:
        """`count` orders as fast as the hub takes them; orders/s from first sent to last decided
        (routed, or held by the policy)."""
        before = len(self.sender.sent.due)
        cpu = CpuWindow(self.hub.pids())
        started = time.perf_counter()
        cpu.start(started)
        await self.sender.closed_loop(count)
        ids = self.captured(list(self.sender.sent.due)[before:])
        await self.wait_decided(ids, self.args.stall, None)
        decided = [t for t in map(self.seen.decided_at, ids) if t is not None]
        elapsed = (max(decided) - started) if decided else math.nan
        # CPU seconds of each hub process from the first order sent until all were decided.
        used = {
            k: v * (time.perf_counter() - started) for k, v in cpu.stop(time.perf_counter()).items()
        }
        return {
            "orders": count,
            "captured": len(ids),
            "routed": sum(1 for i in ids if i in self.seen.routed),
            "held": sum(1 for i in ids if i in self.seen.held and i not in self.seen.routed),
            "seconds": elapsed,
            # Orders decided (routed, or held for a person by the policy) per second.
            "routed_per_s": len(decided) / elapsed if decided else 0.0,
            "cpu_ms_per_decided": {k: 1000 * v / max(1, len(decided)) for k, v in used.items()},
        }

    async def probe(self) -> dict[str, Any]:
        """A few orders first: warms the hub up and shows that orders really are routed."""
        result = await self.closed_batch(self.args.probe)
        ids = list(self.sender.sent.due)[-self.args.probe :]
        statuses: dict[str, int] = {}
        async with aiohttp.ClientSession(self.hub.base) as client:
            for order_id in ids:
                async with client.get(f"/v1/orders/{order_id}") as response:
                    status = (await response.json()).get("status", str(response.status))
                statuses[status] = statuses.get(status, 0) + 1
        return result | {"statuses": statuses}

    async def step(self, rate: int, warmup: float, seconds: float) -> dict[str, Any]:
        args, seen, sent = self.args, self.seen, self.sender.sent
        cpu = CpuWindow(self.hub.pids() | {"load generator": [os.getpid()]})
        before, dropped = len(sent.due), sent.dropped
        start = time.perf_counter() + 0.05
        window = (start + warmup, start + warmup + seconds)
        sending = asyncio.create_task(
            self.sender.open_loop(rate, warmup + seconds, max(64, rate * 10), start)
        )
        await asyncio.sleep(max(0.0, window[0] - time.perf_counter()))
        cpu.start(time.perf_counter())
        pos0, rec0 = await asyncio.to_thread(self.position), seen.order_records
        await asyncio.sleep(max(0.0, window[1] - time.perf_counter()))
        used = cpu.stop(time.perf_counter())
        pos1, rec1 = await asyncio.to_thread(self.position), seen.order_records
        await sending
        deadline = window[1] + args.drain
        await self.sender.settle(deadline)
        step_ids = list(sent.due)[before:]
        captured = self.captured(step_ids)
        await self.wait_decided(captured, args.drain, deadline)
        self.hub.check_alive()

        in_window = [i for i in step_ids if window[0] <= sent.due[i] < window[1]]
        shed = sent.shed_stats(step_ids, in_window, seconds, dropped, seen.decided_at)
        shed |= sent.placed_stats(in_window, seen.placed)
        # Latencies are of the orders the hub took: a shed one is answered, never routed.
        in_window = [i for i in in_window if i not in sent.shed]
        latencies = [seen.routed.get(i, math.inf) - sent.due[i] for i in in_window]
        decided = [(seen.decided_at(i) or math.inf) - sent.due[i] for i in in_window]
        rest = [i for i in in_window if i not in sent.via_kafka]
        answers = [sent.answered.get(i, math.inf) for i in rest]
        undecided = [i for i in captured if seen.decided_at(i) is None]
        all_captured = self.captured(list(sent.due))
        return {
            "offered_per_s": rate,
            "seconds": seconds,
            "sent_rest": sum(1 for i in step_ids if i not in sent.via_kafka),
            "sent_kafka": sum(1 for i in step_ids if i in sent.via_kafka),
            **shed,
            "capture_failed": sum(1 for i in step_ids if i in sent.failed),
            "capture_failures": dict(Counter(sent.failed[i] for i in step_ids if i in sent.failed)),
            "unanswered_at_drain": sum(
                1
                for i in step_ids
                if i in sent.started
                and not (i in sent.answered or i in sent.failed or i in sent.shed)
            ),
            "never_sent": sum(
                1 for i in step_ids if i not in sent.via_kafka and i not in sent.started
            ),
            "routed_per_s": seen.count_between(seen.routed, *window) / seconds,
            "requested_per_s": seen.count_between(seen.requested, *window) / seconds,
            "rest_ms": {q: ms(percentile(answers, q / 100)) for q in (50, 99)},
            "routed_ms": {q: ms(percentile(latencies, q / 100)) for q in (50, 95, 99)},
            "decided_ms": {q: ms(percentile(decided, q / 100)) for q in (50, 95, 99)},
            "held": sum(1 for i in step_ids if i in seen.held and i not in seen.routed),
            "measured_orders": len(in_window),
            "routed_by_path": {
                "rest": sum(1 for i in step_ids if i in seen.routed and i not in sent.via_kafka),
                "kafka": sum(1 for i in step_ids if i in seen.routed and i in sent.via_kafka),
            },
            "backlog_step": len(undecided),
            "backlog_total": sum(1 for i in all_captured if seen.decided_at(i) is None),
            "store_events_per_s": (pos1 - pos0) / seconds,
            "order_records_per_s": (rec1 - rec0) / seconds,
            "cpu": used,
            "stages": await step_stages(self.hub, in_window, sent),
        }


async def raw_limits(
    hub: RunningHub, maker: OrderMaker, args: argparse.Namespace, size: int
) -> dict[str, Any]:
    """The event store's raw append at the intake's batch size (a scratch database on the same
    server, or a scratch SQLite file); the broker's raw produce rate at the relay's mean size."""
    batch = hub.settings.intake_batch_size

    def order(run: str, n: int) -> dict[str, Any]:
        return maker.order(REST_CHANNEL, f"raw-{run}-{n}", placed_now())

    def store_rate() -> float:
        if hub.server is not None:
            database = fresh_database(hub.server)
            try:
                return raw_store_rate(Settings(database_url=database), 5_000, batch, order)
            finally:
                drop_database(hub.server, database)
        scratch = hub.settings.data_dir.parent / "raw-store"
        return raw_store_rate(Settings(_env_file=None, data_dir=scratch), 5_000, batch, order)  # type: ignore[call-arg]

    result: dict[str, Any] = {
        "store_orders_per_s": await asyncio.to_thread(store_rate),
        "store_batch": batch,
    }
    if hub.settings.kafka_bootstrap is not None:
        topic = hub.settings.topic_prefix + "raw"
        await ensure_topics(hub.settings.kafka_bootstrap, {topic: hub.settings.topic_partitions})
        result["broker_msgs_per_s"] = await raw_broker_rate(
            hub.settings.kafka_bootstrap, topic, 20_000, size
        )
        result["broker_record_bytes"] = size
    return result


async def session(hub: RunningHub, network: Network, args: argparse.Namespace) -> dict[str, Any]:
    result: dict[str, Any] = {}
    stop = asyncio.Event()
    watcher = (KafkaWatcher if hub.distributed else StoreWatcher)(hub.settings, hub.seen)
    watching = asyncio.create_task(watcher.run(stop))
    rss: list[dict[str, Any]] = []
    sampling = asyncio.create_task(sample_rss(hub, args.sample_seconds, rss))
    position = StorePosition(hub.settings)
    maker = OrderMaker(network, seed=args.seed + 1)
    kafka = hub.distributed and args.kafka_share > 0
    sender = Sender(
        hub.base,
        maker,
        args.concurrency,
        args.kafka_share if kafka else 0.0,
        hub.settings.kafka_bootstrap,
        hub.settings.channel_topic("bench-kafka") if kafka else None,
    )
    try:
        via = "kafka" if hub.distributed and args.stock_via == "kafka" else "rest"
        console.print(f"  stock: {len(network.stock):,} rows via {via} …")
        if via == "kafka":
            seconds = await load_stock_kafka(hub, network, args.stall)
        else:
            seconds = await asyncio.to_thread(load_stock_rest, hub, network, 2)
        loaded = len(network.stock) / seconds
        result["stock_load"] = {"via": via, "rows": len(network.stock), "seconds": seconds}
        result["stock_load"]["rows_per_min"] = loaded * 60
        console.print(f"  stock loaded in {seconds:,.1f} s: {loaded * 60:,.0f} rows/min")
        busy = await wait_idle(hub, args.stall)
        console.print(f"  the hub was busy for {busy:,.1f} s more after the stock load")
        result["stock_load"]["busy_after_seconds"] = busy
        s = Session(hub, network, sender, args, position)
        async with sender:
            result["probe"] = await s.probe()
            console.print(f"  probe: {result['probe']}")
            size = (
                hub.seen.order_record_bytes // hub.seen.order_records
                if hub.seen.order_records
                else 2_000
            )
            result["raw"] = await raw_limits(hub, maker, args, size)
            console.print(f"  raw limits: {result['raw']}")
            if args.closed:
                result["closed"] = await s.closed_batch(args.closed)
                console.print(f"  closed loop: {result['closed']}")
            if args.history:
                result["history"] = await history(s, args, rss)
            rss.clear()  # growth is measured over the steps, not the start-up and the load
            steps = []
            for rate in args.rates if not args.orders else []:
                console.print(f"  step: {rate} orders/s for {args.warmup}+{args.seconds} s")
                steps.append(await s.step(rate, args.warmup, args.seconds))
                console.print(f"    {brief(steps[-1])}")
            if args.orders:
                rate = args.rates[0]
                seconds = soak_seconds(args, rate)
                console.print(f"  soak: {args.orders:,} orders at {rate}/s ({seconds:,.0f} s)")
                steps.append(await soak(s, args, rate, seconds))
            result["steps"] = steps
        if hub.seen.routed_bytes:
            sizes = hub.seen.routed_bytes
            result["routed_bytes_mean"] = sum(sizes) / len(sizes)
        result["rss"] = rss
    finally:
        stop.set()
        sampling.cancel()
        await asyncio.gather(watching, sampling, return_exceptions=True)
        position.close()
    return result


def run_one(mode: str, sources: int, args: argparse.Namespace) -> dict[str, Any]:
    network = with_stock_scaled(
        generate_network(sources, args.skus, args.seed), args.stock_scale, args.scarce_scale
    )
    network = with_capacity_scaled(network, args.capacity_scale)
    console.print(
        f"[bold]{mode}[/bold], {sources} sources, {len(network.skus):,} SKUs, "
        f"{len(network.stock):,} stock rows"
    )
    tmp = Path("/tmp") / f"orderhub-flow-{uuid.uuid4().hex[:8]}"
    with running_hub(mode, tmp, args.batch) as hub:
        registered = register(hub, network)
        console.print(f"  {sources} sources registered over REST in {registered:.1f} s")
        if hub.distributed:
            hub.start_worker()
        result = asyncio.run(session(hub, network, args))
        result["stop"] = hub.stop_on_sigterm()
        console.print(f"  stopped on SIGTERM: {stop_text(result['stop'])}")
    # The logs stay for a look afterwards; the embedded stores can be gigabytes after a soak.
    for scratch in ("data", "raw-store"):
        shutil.rmtree(tmp / scratch, ignore_errors=True)
    console.print(f"  logs: {tmp}")
    return {
        "mode": mode,
        "sources": sources,
        "skus": len(network.skus),
        "stock_rows": len(network.stock),
        "register_seconds": registered,
        **result,
    }


def main(argv: list[str] | None = None) -> None:
    parser = flow_parser(__doc__)
    args = parser.parse_args(argv)
    if not console.is_terminal:
        console.width = 200  # the tables are wide; a log file is read with a wide pager

    modes = [m.strip() for m in args.mode.split(",") if m.strip()]
    if unknown := set(modes) - {"distributed", "embedded"}:
        parser.error(f"unknown mode {unknown}")
    before_run(args)
    runs = [run_one(mode, n, args) for mode in modes for n in args.sources]
    report = {
        "when": datetime.now(UTC).isoformat(timespec="seconds"),
        "args": {k: str(v) if isinstance(v, Path) else v for k, v in vars(args).items()},
        "runs": runs,
    }
    show(report)
    show_stages(runs)
    RESULTS.mkdir(exist_ok=True)
    out = args.json or RESULTS / f"flow-{report['when']}.json"
    out.write_text(json.dumps(report, indent=2, default=str))
    console.print(f"results: {out}")


if __name__ == "__main__":
    main()
