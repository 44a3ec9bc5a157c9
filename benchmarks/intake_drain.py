"""The hub's event writes against the event store's raw batched append, measured in the same run.

Run:  python -m benchmarks.intake_drain [--backlog 20000] [--runs 2] [--batch 500]
          [--sources 100 --skus 10000] [--json out.json]

Issue 10 asks that event writes reach half of the raw batched append rate. In the whole flow
the store is never the limit (routing feeds it ~3 % of raw), so the write path is measured where
it is: the intake role (the hub's first writer, two events per order: placed and accepted,
written a consumed batch per transaction) draining a backlog. Per run: a fresh distributed hub
(`benchmarks.flow_hub.running_hub`, real broker and a fresh PostgreSQL database), the flow's
channels registered, the relay stopped (its reads would compete for the same CPU and backend;
the figure is the writer's own), `--backlog` generated orders put on the submissions and
channel topics first, then the intake role started alone. The stored orders are counted every
0.1 s; the drain rate is taken between 10 % and 90 % of the backlog (the start and the tail
left out). Beside it, `raw_limits.raw_store_rate`: the library's recorder alone appending the
same two events per order at `--batch` orders per transaction to a scratch database of the same
server, before and after the drain. Also printed: the intake process's and the database's CPU
per order during the drain. With `--timings FILE`, the intake's steps timed per batch
(benchmarks/drain_timing: fetch, prepare, the wait for the batch before, its save, the
offsets' commit), written to FILE-<run> and summed over the same 10-90 % window: where the
drain's wall time goes.
"""

import argparse
import asyncio
import json
import os
import subprocess
import time
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import psycopg

from benchmarks.flow_hub import REST_CHANNEL, RunningHub, register, running_hub
from benchmarks.flow_load import placed_now
from benchmarks.intake_cpu import PLACED, Producer, profiler, write_report
from benchmarks.network import OrderMaker, generate_network
from benchmarks.procstats import cpu_seconds
from benchmarks.raw_limits import raw_store_rate
from benchmarks.services import drop_database, fresh_database
from hub.settings import Settings
from tests.support.processes import HubProcess


def counts(url: str) -> tuple[int, int]:
    """Stored placed orders and stored events of every kind."""
    with psycopg.connect(url, autocommit=True) as conn:
        row = conn.execute(
            "SELECT count(*) FILTER (WHERE topic LIKE %s), count(*) FROM orderhub_events",
            (f"%{PLACED}",),
        ).fetchone()
    assert row is not None
    return int(row[0]), int(row[1])


def raw_rate(hub: RunningHub, maker: OrderMaker, batch: int) -> float:
    assert hub.server is not None
    database = fresh_database(hub.server)
    try:

        def order(run: str, n: int) -> dict[str, Any]:
            return maker.order(REST_CHANNEL, f"raw-{run}-{n}", placed_now())

        return raw_store_rate(Settings(database_url=database), 5_000, batch, order)
    finally:
        drop_database(hub.server, database)


TIMING = Path(__file__).resolve().parent / "drain_timing"


def worker_env(hub: RunningHub, timings: Path | None) -> dict[str, str]:
    """The intake worker's environment; with `timings`, its steps timed into that file."""
    if timings is None:
        return dict(hub._env)
    timings.unlink(missing_ok=True)
    path = os.pathsep.join(p for p in (str(TIMING), os.environ.get("PYTHONPATH")) if p)
    return {**hub._env, "PYTHONPATH": path, "ORDERHUB_DRAIN_TIMINGS": str(timings)}


def timed_steps(timings: Path, start: float, end: float) -> dict[str, dict[str, float]]:
    """Per step, the calls that began and ended within [start, end] (the drain's 10-90 %
    window, on the same monotonic clock): how many, their share of the window's wall time,
    their mean; the records fetched; the save thread's CPU."""
    steps: dict[str, dict[str, float]] = {}
    for line in timings.read_text().splitlines():
        step, began, ended, _, extra = json.loads(line)
        if began < start or ended > end:
            continue
        s = steps.setdefault(step, {"calls": 0, "seconds": 0.0, "records": 0, "cpu": 0.0})
        s["calls"] += 1
        s["seconds"] += ended - began
        s["records"] += extra.get("n", 0)
        s["cpu"] += extra.get("cpu", 0.0)
    for s in steps.values():
        s["share"] = s["seconds"] / (end - start)
        s["mean_ms"] = 1000 * s["seconds"] / s["calls"]
    return steps


def cpu_of(pids: list[int]) -> float:
    return sum(cpu_seconds(pid) or 0.0 for pid in pids)


async def put_backlog(hub: RunningHub, args: argparse.Namespace) -> None:
    maker = OrderMaker(generate_network(args.sources, args.skus, args.seed), seed=args.seed + 1)
    producer = Producer(hub, maker, args.kafka_share)
    await producer.start()
    try:
        for _ in range(args.backlog):
            await producer.send()
        await producer.flush()
    finally:
        await producer.stop()


@dataclass
class Marks:
    """The time and the CPU (the intake's, its database backends') when the stored orders first
    reached 10 % and 90 % of the backlog; py-spy started at the first (the start left out)."""

    hub: RunningHub
    worker: HubProcess
    args: argparse.Namespace
    at: dict[str, tuple[float, int, float, float]] = field(default_factory=dict)
    backends: list[int] = field(default_factory=list)
    spy: subprocess.Popen[bytes] | None = None

    def look(self, stored: int, now: float) -> None:
        levels = {"low": self.args.backlog // 10, "high": self.args.backlog * 9 // 10}
        for name, level in levels.items():
            if name in self.at or stored < level:
                continue
            # The same backends at both marks: the intake's pool is open by the first.
            self.backends = self.backends or self.hub.postgres_backends()
            pid = self.worker.process.pid
            self.at[name] = (now, stored, cpu_of([pid]), cpu_of(self.backends))
            if name == "low":
                self.spy = profiler(pid, self.args.profile, self.args.profile_seconds)

    def figures(self, per_order: float) -> dict[str, float]:
        # The counts as polled (every 0.1 s), not the levels: a poll passes a level by up to
        # 0.1 s of draining.
        (t0, n0, cpu0, db0), (t1, n1, cpu1, db1) = self.at["low"], self.at["high"]
        drained = n1 - n0
        return {
            "orders_per_s": drained / (t1 - t0),
            "events_per_order": per_order,
            "events_per_s": drained * per_order / (t1 - t0),
            "intake_ms_per_order": 1000 * (cpu1 - cpu0) / drained,
            "db_ms_per_order": 1000 * (db1 - db0) / drained,
        }


async def drain(hub: RunningHub, tmp: Path, args: argparse.Namespace) -> dict[str, Any]:
    url = hub.settings.database_url
    assert url is not None
    await put_backlog(hub, args)
    base_orders, base_events = counts(url)
    timings = None if args.timings is None else Path(f"{args.timings}-{tmp.name[-1]}")
    env = worker_env(hub, timings)
    worker = HubProcess("worker", env, tmp, args=["--role", "intake"], name="intake")
    marks = Marks(hub, worker, args)
    started = time.perf_counter()
    first = None
    try:
        while (stored := counts(url)[0] - base_orders) < args.backlog:
            now = time.perf_counter()
            first = first or (now if stored else None)
            marks.look(stored, now)
            if now - started > args.timeout:
                raise RuntimeError(f"only {stored} of {args.backlog} orders stored in time")
            await asyncio.sleep(0.1)
        marks.look(stored, time.perf_counter())
        orders, events = counts(url)
    finally:
        if marks.spy is not None:
            marks.spy.wait()
        worker.stop()
    per_order = (events - base_events) / (orders - base_orders)
    steps = {}
    if timings is not None:
        steps = timed_steps(timings, marks.at["low"][0], marks.at["high"][0])
    return {
        **marks.figures(per_order),
        "steps": steps,
        "first_stored_after_s": (first or started) - started,
        "load": os.getloadavg(),
    }


def one_run(args: argparse.Namespace, run: int) -> dict[str, Any]:
    network = generate_network(args.sources, args.skus, args.seed)
    maker = OrderMaker(network, seed=args.seed + 2)
    tmp = Path(f"/tmp/orderhub-intakedrain-{os.getpid()}-{run}")
    with running_hub("distributed", tmp, args.batch) as hub:
        register(hub, network)
        hub.processes.pop("relay").stop()
        before = raw_rate(hub, maker, args.batch)
        result = asyncio.run(drain(hub, tmp, args))
        after = raw_rate(hub, maker, args.batch)
    raw = (before + after) / 2
    return {**result, "raw_orders_per_s": [before, after], "ratio": result["orders_per_s"] / raw}


def main(argv: list[str] | None = None) -> None:
    parser = argparse.ArgumentParser(
        description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter
    )
    parser.add_argument("--backlog", type=int, default=20_000, help="orders put on Kafka first")
    parser.add_argument("--runs", type=int, default=2)
    parser.add_argument("--batch", type=int, default=500, help="the hub's batch sizes")
    parser.add_argument("--kafka-share", type=float, default=0.1, help="orders on a channel topic")
    parser.add_argument("--sources", type=int, default=100)
    parser.add_argument("--skus", type=int, default=10_000)
    parser.add_argument("--seed", type=int, default=7)
    parser.add_argument("--timeout", type=float, default=600.0)
    parser.add_argument("--json", type=Path)
    parser.add_argument("--profile", type=Path, help="py-spy's raw samples of the intake role")
    parser.add_argument("--profile-seconds", type=float, default=10.0)
    parser.add_argument("--timings", type=Path, help="the intake's steps timed per batch")
    args = parser.parse_args(argv)
    runs = [one_run(args, run) for run in range(args.runs)]
    for n, r in enumerate(runs, start=1):
        raw = "/".join(f"{x:,.0f}" for x in r["raw_orders_per_s"])
        print(
            f"run {n} of {len(runs)}: the intake drained {r['orders_per_s']:,.0f} orders/s "
            f"({r['events_per_s']:,.0f} events/s, {r['events_per_order']:.2f} per order) against "
            f"raw {raw} orders/s before/after: {100 * r['ratio']:.0f} % of raw; CPU ms/order "
            f"intake {r['intake_ms_per_order']:.3f}, database {r['db_ms_per_order']:.3f} "
            f"(load {r['load'][0]:.1f})"
        )
        for step, s in sorted(r["steps"].items()):
            print(
                f"  {step:8s} {s['calls']:4.0f} calls, {100 * s['share']:3.0f} % of the wall "
                f"time, {s['mean_ms']:6.1f} ms each"
                + (f", {s['records'] / s['calls']:.0f} records" if s["records"] else "")
                + (f", thread CPU {1000 * s['cpu'] / s['calls']:.1f} ms" if s["cpu"] else "")
            )
    write_report(args, runs)


if __name__ == "__main__":
    main()
