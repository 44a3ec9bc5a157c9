"""The whole path on a realistic network, open loop: capture → routed → FulfillmentRequested.

Run:  python -m benchmarks.flow [--mode distributed,embedded] [--rates 20,50] [--seconds 15]
      python -m benchmarks.flow --rates 100,250,500,1000,1500 --seconds 60 --warmup 10
      python -m benchmarks.flow --sources 20,100,500          # cost vs the network's size
      python -m benchmarks.flow --history 200000              # cost vs the history's length
      python -m benchmarks.flow --orders 1000000 --rates 500  # soak: RSS of every process

For each mode and network size: a fresh hub (distributed: API, worker and relay processes on the
real broker and a fresh PostgreSQL database; embedded: `orderhub serve` on SQLite), a generated
network loaded through the hub's public API (sources over REST; stock on the stock-feed topic,
or over REST), a short probe, the raw limits of the same infrastructure, then one open-loop step
per offered rate. What the hub published is timed by an independent consumer of its topics
(embedded: a reader of its event store). Each step sends for warm-up + seconds, measures the
last `seconds`, then waits at most `--drain` seconds and reports what is left: a hub that cannot
keep up makes the run no longer than that.
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
from collections.abc import Sequence
from dataclasses import dataclass
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

import aiohttp
from rich.console import Console
from rich.table import Table

from benchmarks.flow_hub import (
    REST_CHANNEL,
    KafkaWatcher,
    RunningHub,
    StorePosition,
    StoreWatcher,
    kafka_pids,
    load_stock_kafka,
    load_stock_rest,
    register,
    running_hub,
    wait_until,
)
from benchmarks.flow_load import PLACED_AT, Sender
from benchmarks.network import Network, OrderMaker, generate_network
from benchmarks.procstats import CpuWindow, rss_bytes, with_roles
from benchmarks.raw_limits import raw_broker_rate, raw_store_rate
from benchmarks.services import drop_database, fresh_database
from connectors.topics import ensure_topics
from hub.settings import Settings

console = Console()
RESULTS = Path(__file__).parent / "results"


def ints(text: str) -> list[int]:
    return [int(x) for x in text.split(",") if x.strip()]


def percentile(values: Sequence[float], q: float) -> float | None:
    """Nearest-rank percentile; math.inf stands for 'not yet' (unrouted, unanswered)."""
    if not values:
        return None
    ordered = sorted(values)
    return ordered[min(len(ordered) - 1, math.ceil(q * len(ordered)) - 1)]


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
            i for i in ids if i not in sent.failed and (i in sent.started or i in sent.via_kafka)
        ]

    async def wait_routed(self, ids: list[str], stall: float, deadline: float | None) -> bool:
        routed = self.seen.routed
        return await wait_until(
            lambda: sum(1 for i in ids if i in routed), len(ids), stall, "routed", deadline
        )

    async def closed_batch(self, count: int) -> dict[str, Any]:
        """`count` orders as fast as the hub takes them; orders/s from first sent to last routed."""
        before = len(self.sender.sent.due)
        started = time.perf_counter()
        await self.sender.closed_loop(count)
        ids = self.captured(list(self.sender.sent.due)[before:])
        await self.wait_routed(ids, self.args.stall, None)
        routed = [self.seen.routed[i] for i in ids if i in self.seen.routed]
        elapsed = (max(routed) - started) if routed else math.nan
        return {
            "orders": count,
            "captured": len(ids),
            "routed": len(routed),
            "seconds": elapsed,
            "routed_per_s": len(routed) / elapsed if routed else 0.0,
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
        before = len(sent.due)
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
        await self.wait_routed(captured, args.drain, deadline)
        self.hub.check_alive()

        in_window = [i for i in step_ids if window[0] <= sent.due[i] < window[1]]
        latencies = [seen.routed.get(i, math.inf) - sent.due[i] for i in in_window]
        rest = [i for i in in_window if i not in sent.via_kafka]
        answers = [sent.answered.get(i, math.inf) for i in rest]
        routed_left = [i for i in captured if i not in seen.routed]
        all_captured = self.captured(list(sent.due))
        return {
            "offered_per_s": rate,
            "seconds": seconds,
            "sent_rest": sum(1 for i in step_ids if i not in sent.via_kafka),
            "sent_kafka": sum(1 for i in step_ids if i in sent.via_kafka),
            "shed": sent.shed,
            "capture_failed": sum(1 for i in step_ids if i in sent.failed),
            "capture_failures": dict(Counter(sent.failed[i] for i in step_ids if i in sent.failed)),
            "unanswered_at_drain": sum(
                1
                for i in step_ids
                if i in sent.started and i not in sent.answered and i not in sent.failed
            ),
            "never_sent": sum(
                1 for i in step_ids if i not in sent.via_kafka and i not in sent.started
            ),
            "routed_per_s": seen.count_between(seen.routed, *window) / seconds,
            "requested_per_s": seen.count_between(seen.requested, *window) / seconds,
            "rest_ms": {q: _ms(percentile(answers, q / 100)) for q in (50, 99)},
            "routed_ms": {q: _ms(percentile(latencies, q / 100)) for q in (50, 95, 99)},
            "measured_orders": len(in_window),
            "routed_by_path": {
                "rest": sum(1 for i in step_ids if i in seen.routed and i not in sent.via_kafka),
                "kafka": sum(1 for i in step_ids if i in seen.routed and i in sent.via_kafka),
            },
            "backlog_step": len(routed_left),
            "backlog_total": sum(1 for i in all_captured if i not in seen.routed),
            "store_events_per_s": (pos1 - pos0) / seconds,
            "order_records_per_s": (rec1 - rec0) / seconds,
            "cpu": used,
        }


def _ms(seconds: float | None) -> float | None:
    return None if seconds is None else seconds * 1000


async def wait_idle(hub: RunningHub, limit: float, idle_cores: float = 0.15) -> float:
    """Wait until the hub's processes together use less than `idle_cores` for 3 s in a row
    (at most `limit` s), so that the first measurements do not pay for the load before them."""
    started = time.perf_counter()
    quiet = 0
    while quiet < 3 and time.perf_counter() - started < limit:
        groups: dict[str, list[int]] = {}
        for name, p in hub.processes.items():
            groups |= with_roles(name, p.process.pid)
        window = CpuWindow(groups)
        window.start(time.perf_counter())
        await asyncio.sleep(1.0)
        used = sum(window.stop(time.perf_counter()).values())
        quiet = quiet + 1 if used < idle_cores else 0
    return max(0.0, time.perf_counter() - started - quiet)


async def sample_rss(hub: RunningHub, every: float, series: list[dict[str, Any]]) -> None:
    """The hub's processes, the broker and the load generator (its bookkeeping grows with the
    orders sent: about 0.5 KB each). PostgreSQL is left out: its RSS counts shared buffers."""
    started = time.perf_counter()
    pids = {name: [p.process.pid] for name, p in hub.processes.items()}
    if hub.distributed:
        pids["kafka broker"] = kafka_pids()
    pids["load generator"] = [os.getpid()]
    while True:
        sample: dict[str, Any] = {"t": round(time.perf_counter() - started, 1)}
        for name, proc in hub.processes.items():
            for role, found_pids in with_roles(name, proc.process.pid).items():
                pids.setdefault(role, found_pids)  # the worker and its roles start later
        for name, found in pids.items():
            rss = sum(rss_bytes(pid) or 0 for pid in found)
            if rss:
                sample[name] = rss
        series.append(sample)
        await asyncio.sleep(every)


async def raw_limits(
    hub: RunningHub, maker: OrderMaker, args: argparse.Namespace, size: int
) -> dict[str, Any]:
    """The event store's raw append at the hub's batch size (a scratch database on the same
    server, or a scratch SQLite file) and the broker's raw produce rate at the mean size of the
    records the relay publishes."""

    def order(run: str, n: int) -> dict[str, Any]:
        return maker.order(REST_CHANNEL, f"raw-{run}-{n}", PLACED_AT)

    def store_rate() -> float:
        if hub.server is not None:
            database = fresh_database(hub.server)
            try:
                return raw_store_rate(Settings(database_url=database), 5_000, args.batch, order)
            finally:
                drop_database(hub.server, database)
        scratch = hub.settings.data_dir.parent / "raw-store"
        return raw_store_rate(Settings(_env_file=None, data_dir=scratch), 5_000, args.batch, order)  # type: ignore[call-arg]

    result: dict[str, Any] = {
        "store_orders_per_s": await asyncio.to_thread(store_rate),
        "store_batch": args.batch,
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
            if args.history:
                result["history"] = await history(s, args)
            rss.clear()  # growth is measured over the steps, not the start-up and the load
            steps = []
            for rate in args.rates if not args.orders else []:
                console.print(f"  step: {rate} orders/s for {args.warmup}+{args.seconds} s")
                steps.append(await s.step(rate, args.warmup, args.seconds))
                console.print(f"    {_brief(steps[-1])}")
            if args.orders:
                rate = args.rates[0]
                seconds = args.orders / rate
                console.print(f"  soak: {args.orders:,} orders at {rate}/s ({seconds:,.0f} s)")
                steps.append(await s.step(rate, 0.0, seconds))
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


async def history(s: Session, args: argparse.Namespace) -> dict[str, Any]:
    console.print(f"  history: first {args.history_window:,} orders, closed loop …")
    first = await s.closed_batch(args.history_window)
    console.print(f"    {first['routed_per_s']:.1f} orders/s; preloading {args.history:,} …")
    for done in range(0, args.history, 10_000):
        await s.closed_batch(min(10_000, args.history - done))
        console.print(f"    preloaded {min(done + 10_000, args.history):,}")
    after = await s.closed_batch(args.history_window)
    console.print(f"    after the history: {after['routed_per_s']:.1f} orders/s")
    return {"preloaded": args.history, "first": first, "after": after}


def _brief(step: dict[str, Any]) -> str:
    failures = step["capture_failures"]
    return (
        f"routed {step['routed_per_s']:.1f}/s, FR {step['requested_per_s']:.1f}/s, "
        f"capture→Routed p50 {_fmt_ms(step['routed_ms'][50])}, backlog {step['backlog_step']}"
        + (f", capture failures {failures}" if failures else "")
    )


def run_one(mode: str, sources: int, args: argparse.Namespace) -> dict[str, Any]:
    network = generate_network(sources, args.skus, seed=args.seed)
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
    parser = argparse.ArgumentParser(
        description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter
    )
    parser.add_argument("--mode", default="distributed,embedded", help="distributed,embedded")
    parser.add_argument("--rates", type=ints, default=[20, 50], help="offered orders/s per step")
    parser.add_argument("--seconds", type=float, default=15, help="measured seconds per step")
    parser.add_argument("--warmup", type=float, default=5, help="unmeasured seconds per step")
    parser.add_argument("--drain", type=float, default=15, help="max wait after each step")
    parser.add_argument("--sources", type=ints, default=[100], help="network sizes, e.g. 20,100")
    parser.add_argument("--skus", type=int, default=2_000, help="10000: the issue's network")
    parser.add_argument("--seed", type=int, default=7)
    parser.add_argument("--stock-via", choices=["kafka", "rest"], default="kafka")
    parser.add_argument("--kafka-share", type=float, default=0.1, help="orders on a channel topic")
    parser.add_argument("--concurrency", type=int, default=64, help="REST requests in flight")
    parser.add_argument("--batch", type=int, default=500, help="the hub's batch sizes")
    parser.add_argument("--probe", type=int, default=20, help="orders sent before the steps")
    parser.add_argument("--history", type=int, default=0, help="orders preloaded between the "
                        "two history windows (0: no history comparison)")  # fmt: skip
    parser.add_argument("--history-window", type=int, default=10_000)
    parser.add_argument("--orders", type=int, default=0, help="soak: this many orders at the "
                        "first rate instead of the steps, RSS sampled")  # fmt: skip
    parser.add_argument("--sample-seconds", type=float, default=5.0, help="RSS sampling period")
    parser.add_argument("--stall", type=float, default=120, help="give up a wait after this "
                        "many seconds without progress")  # fmt: skip
    parser.add_argument("--json", type=Path, help="also write the results here")
    args = parser.parse_args(argv)
    if not console.is_terminal:
        console.width = 200  # the tables are wide; a log file is read with a wide pager

    modes = [m.strip() for m in args.mode.split(",") if m.strip()]
    for mode in modes:
        if mode not in ("distributed", "embedded"):
            parser.error(f"unknown mode {mode!r}")
    runs = [run_one(mode, n, args) for mode in modes for n in args.sources]
    report = {
        "when": datetime.now(UTC).isoformat(timespec="seconds"),
        "args": {k: str(v) if isinstance(v, Path) else v for k, v in vars(args).items()},
        "runs": runs,
    }
    show(report)
    RESULTS.mkdir(exist_ok=True)
    out = args.json or RESULTS / f"flow-{report['when']}.json"
    out.write_text(json.dumps(report, indent=2, default=str))
    console.print(f"results: {out}")


def _fmt_ms(value: float | None, never: str = "unrouted") -> str:
    if value is None:
        return "—"
    if math.isinf(value):
        return never
    return f"{value:,.0f}" if value >= 10 else f"{value:.1f}"


def _pct(part: float, whole: float | None) -> str:
    return f" ({part / whole:.0%})" if whole else ""


def show(report: dict[str, Any]) -> None:
    runs = report["runs"]
    setup = Table(title=f"Flow benchmark: setup and raw limits ({report['when']})")
    for column in (
        "mode",
        "sources",
        "stock rows",
        "stock load",
        "probe statuses",
        "Routed bytes",
        "raw store append",
        "raw broker produce",
    ):
        setup.add_column(column)
    for r in runs:
        raw = r.get("raw", {})
        load = r.get("stock_load", {})
        broker = (
            f"{raw['broker_msgs_per_s']:,.0f} msg/s ({raw['broker_record_bytes']:,} B)"
            if "broker_msgs_per_s" in raw
            else "—"
        )
        setup.add_row(
            r["mode"],
            str(r["sources"]),
            f"{r['stock_rows']:,}",
            f"{load.get('rows_per_min', 0):,.0f} rows/min ({load.get('via')})",
            ", ".join(f"{k} {v}" for k, v in r.get("probe", {}).get("statuses", {}).items()),
            f"{r.get('routed_bytes_mean', 0):,.0f}",
            f"{raw.get('store_orders_per_s', 0):,.0f} orders/s (batch {raw.get('store_batch')})",
            broker,
        )
    console.print(setup)

    steps = Table(title="Open-loop steps (per offered rate; latencies in ms)")
    for column in (
        "mode",
        "src",
        "offered/s",
        "sent REST+Kafka",
        "failed/unans./unsent",
        "routed/s",
        "FR/s",
        "REST p50/p99",
        "→Routed p50/p95/p99",
        "backlog",
        "store ev/s (of raw)",
        "relay rec/s (of raw)",
    ):
        steps.add_column(column, justify="right")
    cpu = Table(title="CPU per process during the measured window (1.00 = one core)")
    cpu_names = sorted({n for r in runs for s in r.get("steps", []) for n in s["cpu"]})
    for column in ("mode", "src", "offered/s", *cpu_names):
        cpu.add_column(column, justify="right")
    for r in runs:
        raw = r.get("raw", {})
        raw_events = 2 * raw.get("store_orders_per_s", 0)
        for s in r.get("steps", []):
            steps.add_row(
                r["mode"],
                str(r["sources"]),
                str(s["offered_per_s"]),
                f"{s['sent_rest']:,}+{s['sent_kafka']:,}"
                + (f" (shed {s['shed']})" if s["shed"] else ""),
                f"{s['capture_failed']}/{s['unanswered_at_drain']}/{s['never_sent']}",
                f"{s['routed_per_s']:,.1f}",
                f"{s['requested_per_s']:,.1f}",
                "/".join(_fmt_ms(s["rest_ms"][q], "unanswered") for q in (50, 99)),
                "/".join(_fmt_ms(s["routed_ms"][q]) for q in (50, 95, 99)),
                f"{s['backlog_step']:,} (all {s['backlog_total']:,})",
                f"{s['store_events_per_s']:,.0f}" + _pct(s["store_events_per_s"], raw_events),
                f"{s['order_records_per_s']:,.0f}"
                + _pct(s["order_records_per_s"], raw.get("broker_msgs_per_s"))
                if "broker_msgs_per_s" in raw
                else "—",
            )
            cpu.add_row(
                r["mode"],
                str(r["sources"]),
                str(s["offered_per_s"]),
                *(f"{s['cpu'][n]:.2f}" if n in s["cpu"] else "—" for n in cpu_names),
            )
    console.print(steps)
    console.print(cpu)

    with_history = [r for r in runs if "history" in r]
    if with_history:
        table = Table(title="Cost vs history (closed loop, orders/s first sent → last routed)")
        for column in ("mode", "src", "first window", "preloaded", "after the history"):
            table.add_column(column, justify="right")
        for r in with_history:
            h = r["history"]
            table.add_row(
                r["mode"],
                str(r["sources"]),
                f"{h['first']['routed_per_s']:,.1f} ({h['first']['orders']:,} orders)",
                f"{h['preloaded']:,}",
                f"{h['after']['routed_per_s']:,.1f}",
            )
        console.print(table)
    show_rss(runs)


def show_rss(runs: list[dict[str, Any]]) -> None:
    table = Table(title="RSS per process (MB): first sample, last, max, growth")
    for column in ("mode", "src", "process", "first", "last", "max", "growth"):
        table.add_column(column, justify="right")
    for r in runs:
        series = r.get("rss", [])
        names = sorted({k for sample in series for k in sample if k != "t"})
        for name in names:
            values = [sample[name] / 2**20 for sample in series if name in sample]
            table.add_row(
                r["mode"],
                str(r["sources"]),
                name,
                f"{values[0]:,.0f}",
                f"{values[-1]:,.0f}",
                f"{max(values):,.0f}",
                f"{values[-1] / values[0] - 1:+.0%}",
            )
    console.print(table)
    for r in runs:
        if r.get("steps") and len(r.get("rss", [])) > 2 and r["steps"][-1]["seconds"] > 120:
            _show_series(r)


def _show_series(r: dict[str, Any]) -> None:
    series = r["rss"]
    names = sorted({k for sample in series for k in sample if k != "t"})
    table = Table(title=f"RSS series (MB), {r['mode']}, {r['sources']} sources")
    for column in ("t (s)", *names):
        table.add_column(column, justify="right")
    every = max(1, len(series) // 20)
    picked: list[dict[str, Any]] = series[::every]
    if picked[-1] is not series[-1]:
        picked.append(series[-1])
    for sample in picked:
        table.add_row(
            f"{sample['t'] - series[0]['t']:,.0f}",
            *(f"{sample[n] / 2**20:,.0f}" if n in sample else "—" for n in names),
        )
    console.print(table)


if __name__ == "__main__":
    main()
