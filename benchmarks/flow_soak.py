"""`benchmarks.flow --orders N`: a soak, one long step of N orders, with what a network does
meanwhile: `--ship SHARE` reports that share of the requested shipments shipped, `--restock`
counts the shipped stock rows back up to their first count, `--receive` (no shipping) has
each row receive what was requested from it, `--soak-behind K` offers no new
order while more than K sent are undecided (the highest rate the hub sustains, not a backlog
that grows for hours), and `--series FILE` writes every process's RSS and CPU with the orders
sent and decided as JSON lines while it runs (a soak cut short still leaves its series), with
every role's lag (`benchmarks.soak_lag`; distributed). `--soak-lag N` holds the offering too
while a role has been more than N records behind for `--soak-lag-seconds`: the pace is then one
the hub keeps up with, every role included. With `--soak-rest` the end waits for every role to
catch up, and says which took how long.

Without restocking the scarce SKUs run out for good and their orders wait for ever: a pile that
grows with the history, which a network whose stock is counted up does not have (soak2,
benchmarks/README.md). Updates and counts go over the hub's topics when `--updates-via kafka`
(the fulfillment updates and stock-feed topics, what a source's connector uses), else over
REST (`POST /v1/fulfillment/updates`).
"""

import argparse
import asyncio
import json
import os
import signal
import time
from collections.abc import Callable
from pathlib import Path
from typing import Any, Protocol

from benchmarks.flow_history import SOAK_SHIP_CONCURRENCY
from benchmarks.flow_hub import KAFKA_CHANNEL, RunningHub, Seen
from benchmarks.flow_load import Sender
from benchmarks.flow_report import console
from benchmarks.flow_rest import Rests, at_rest, rest_after, rest_midway
from benchmarks.network import Network
from benchmarks.procstats import CpuTotal, anon_bytes, rss_bytes
from benchmarks.soak_connector import Connector, rounds
from benchmarks.soak_lag import LagBound, LagWatch, watch_lag

TRACE_SITE = Path(__file__).parent / "soak_trace"


class Soaking(Protocol):
    """What the soak needs of the benchmark's session (benchmarks.flow.Session)."""

    hub: RunningHub
    network: Network
    sender: Sender

    async def step(self, rate: int, warmup: float, seconds: float) -> dict[str, Any]: ...


def add_soak_arguments(parser: argparse.ArgumentParser) -> None:
    """The options of a soak (and of `--history`'s shipping)."""
    parser.add_argument("--ship", type=float, default=0.0, help="with --history or --orders: "
                        "this share of the shipments reported shipped as it goes")  # fmt: skip
    parser.add_argument("--orders", type=int, default=0, help="soak: this many orders at the "
                        "first rate instead of the steps, RSS sampled")  # fmt: skip
    parser.add_argument("--restock", type=float, default=0.0, help="soak with --ship: count "
                        "the rows shipped from back up every this many s")  # fmt: skip
    parser.add_argument("--receive", type=float, default=0.0, help="soak: every this many s "
                        "each row receives the units requested from it since")  # fmt: skip
    parser.add_argument("--soak-behind", type=int, default=0, help="soak: offer nothing while "
                        "more than this many sent orders are undecided")  # fmt: skip
    parser.add_argument("--soak-lag", type=int, default=0, help="soak: offer nothing while a "
                        "role has been more than this many records behind for a while")  # fmt: skip
    parser.add_argument("--soak-lag-seconds", type=float, default=30.0, help="soak: that while")
    parser.add_argument("--ship-concurrency", type=int, default=SOAK_SHIP_CONCURRENCY,
                        help="soak: updates and cancels over REST in flight")  # fmt: skip
    parser.add_argument("--updates-via", choices=["kafka", "rest"], default="rest",
                        help="soak: shipped updates and counts: REST or the topics")  # fmt: skip
    parser.add_argument("--stock-scale", type=float, default=1.0, help="each row but the "
                        "scarce SKUs' this many times its count (a soak, no --ship)")  # fmt: skip
    parser.add_argument("--scarce-scale", type=float, default=1.0, help="the scarce SKUs' "
                        "rows this many times their count (one shape to the end)")  # fmt: skip
    parser.add_argument("--capacity-scale", type=float, default=1.0, help="every source's "
                        "daily capacity this many times (a soak: days of orders)")  # fmt: skip
    parser.add_argument("--cancel-after", type=float, default=0.0, help="soak: cancel "
                        "orders backordered or held this many s after placed")  # fmt: skip
    parser.add_argument("--spread", action="store_true", help="soak: the network's rounds "
                        "on a fixed schedule, each round's messages paced over it")  # fmt: skip
    parser.add_argument("--soak-minutes", type=float, default=0.0, help="soak: stop offering "
                        "after this many minutes, whatever was sent")  # fmt: skip
    parser.add_argument("--series", type=Path, help="soak: JSON lines of RSS and CPU as it runs")
    parser.add_argument("--trace-memory", default="", help="soak: tracemalloc snapshots of "
                        "these hub processes, e.g. projections,orchestration")  # fmt: skip
    parser.add_argument("--census-memory", default="", help="soak: objects by type and "
                        "malloc's figures of these hub processes (no tracemalloc)")  # fmt: skip
    parser.add_argument("--soak-rest", type=float, default=0.0, help="soak: before and "
                        "after it, each process's RSS floor over this many s, idle")  # fmt: skip
    parser.add_argument("--soak-rest-at", default="", help="soak with --soak-rest: rest "
                        "midway too at these orders decided, e.g. 100000")  # fmt: skip
    parser.add_argument("--trace-dir", type=Path, help="soak: where the snapshots go")
    parser.add_argument("--trace-every", type=float, default=300.0, help="seconds between "
                        "snapshots (the first after 60 s)")  # fmt: skip
    parser.add_argument("--sample-seconds", type=float, default=5.0, help="RSS sampling period")


def undecided(sender: Sender, seen: Seen) -> int:
    """Orders sent that have no decision seen yet (routed or held), near enough: the ones the
    hub shed (429) or refused get none (a timed-out request may have been recorded; counted
    out too, it is a slight undercount), and counting them would hold the offering for good
    once a saturated hub had shed `--soak-behind` of them."""
    sent = sender.sent
    never = len(sent.shed) + len(sent.failed)
    return len(sent.due) - never - len(seen.routed) - len(seen.held)


def pacing(
    s: "Soaking", behind: int, bound: LagBound | None, rests: Rests | None = None
) -> Callable[[], bool] | None:
    """What holds the offering: more than `behind` sent orders undecided, a role lagging, or a
    rest midway."""
    if not behind and bound is None and rests is None:
        return None

    def hold() -> bool:
        if rests is not None and rests.holding:
            return True
        if behind and undecided(s.sender, s.hub.seen) > behind:
            return True
        return bound is not None and bool(bound.lagging())

    return hold


def interruptible() -> None:
    """SIGINT (Ctrl-C) ends a run cleanly (asyncio.run cancels it, the hub is stopped): a run
    started in the background by a non-interactive shell (`cmd &`, nohup) inherits SIGINT
    ignored, and Python leaves an ignored SIGINT ignored, so asyncio never took it (memory7:
    a soak did not end on SIGINT within 45 s)."""
    if signal.getsignal(signal.SIGINT) is signal.SIG_IGN:
        signal.signal(signal.SIGINT, signal.default_int_handler)


def before_run(args: Any) -> None:
    """Before the hubs start: the tracing environment, which their processes inherit (not this
    one), and SIGINT taken."""
    os.environ |= trace_memory_env(args)
    interruptible()


async def write_series(
    s: Soaking, every: float, path: Path, watch: LagWatch | None, rests: Rests | None = None
) -> None:
    """Every `every` s one JSON line: per process group RSS (bytes, its current processes) and
    CPU (s, cumulative over every process the group has had: `CpuTotal`), the orders sent,
    decided and shipment requests seen, and each role's records behind and consumed so far
    (`lag`, `consumed`); `anon`: the group's resident memory less its file pages
    (`procstats.anon_bytes`); with `rests`, a line at each mark of a rest too, and `rest` in it
    ("start", "idle", "end": `benchmarks.flow_rest.Rests`)."""
    started = time.perf_counter()
    seen, sent = s.hub.seen, s.sender.sent
    totals: dict[str, CpuTotal] = {}
    rest = None

    async def sample() -> dict[str, Any]:
        line: dict[str, Any] = {"t": round(time.perf_counter() - started, 3)}
        if rest is not None:
            line["rest"] = rest
        line["wall"] = time.time()
        line["sent"] = len(sent.due)
        line["routed"], line["held"] = len(seen.routed), len(seen.held)
        line["requested"] = len(seen.requested)
        line["shed"], line["failed"] = len(sent.shed), len(sent.failed)
        behind = await watch.look() if watch is not None else None
        line |= behind.as_json() if behind is not None else {}
        groups = await asyncio.to_thread(s.hub.pids)
        for name, pids in (groups | {"load generator": [os.getpid()]}).items():
            line[name] = {
                "rss": sum(rss_bytes(p) or 0 for p in pids),
                "anon": sum(anon_bytes(p) or 0 for p in pids),
                "cpu": totals.setdefault(name, CpuTotal()).of(pids),
                "n": len(pids),
            }
        return line

    with path.open("a") as out:
        try:
            while True:
                out.write(json.dumps(await sample()) + "\n")
                out.flush()
                if rests is None:
                    await asyncio.sleep(every)
                else:
                    rest = await rests.next(every)
        except asyncio.CancelledError:
            # Stopped right after a rest's marks (the soak's end): their lines still written.
            while rests is not None and (rest := rests.pending()) is not None:
                out.write(json.dumps(await sample()) + "\n")
            raise


def trace_memory_env(args: Any) -> dict[str, str]:
    """What the hub's processes need in their environment for `--trace-memory`: the tracing
    `sitecustomize` first on their path (benchmarks/soak_trace)."""
    if not (args.trace_memory or args.census_memory):
        return {}
    path = [str(TRACE_SITE), *filter(None, [os.environ.get("PYTHONPATH")])]
    folder = trace_folder(args)
    return {
        "PYTHONPATH": os.pathsep.join(path),
        "ORDERHUB_TRACE_DIR": str(folder),
        "ORDERHUB_TRACE_ROLES": args.trace_memory,
        "ORDERHUB_CENSUS_ROLES": args.census_memory,
        "ORDERHUB_TRACE_EVERY": str(args.trace_every),
    }


def trace_folder(args: Any) -> Path:
    return Path(args.trace_dir or f"/tmp/orderhub-trace-{os.getpid()}")


def soak_seconds(args: Any, rate: int) -> float:
    """How long the soak offers orders: `--orders` at `rate`/s, cut at `--soak-minutes`. The
    step waits this long whatever was sent, so a soak cut by minutes must be short of it too
    (it waited for the whole of `--orders` / rate, 42 min for 1 M at 400/s, past 25 asked)."""
    seconds = float(args.orders / rate)
    return min(seconds, 60.0 * args.soak_minutes) if args.soak_minutes else seconds


async def wind_down(stop: asyncio.Event, tasks: list[asyncio.Task[None]], net: Any) -> None:
    """The network's rounds and the series stopped, the connector's producer closed."""
    stop.set()
    for t in tasks:
        t.cancel()
    await asyncio.gather(*tasks, return_exceptions=True)
    if net is not None:
        await net.stop()


def snapshots_folder(args: Any) -> Path | None:
    """Where the traced processes are asked for snapshots at rest, if any are traced."""
    return trace_folder(args) if args.trace_memory or args.census_memory else None


def lag_watch(s: Soaking) -> LagWatch | None:
    """Distributed: every role's lag; the benchmark's Kafka channel is the one it registers."""
    return LagWatch(s.hub.settings, [KAFKA_CHANNEL]) if s.hub.distributed else None


async def soak(s: Soaking, args: Any, rate: int, seconds: float) -> dict[str, Any]:
    """One open-loop step of `--orders` orders at up to `rate`/s, with the network's rounds."""
    watch = lag_watch(s)
    bound = LagBound(args.soak_lag, args.soak_lag_seconds) if args.soak_lag and watch else None
    if args.soak_minutes:
        s.sender.stop_at = time.perf_counter() + seconds
    marks = rest_marks(args)
    rests = Rests(marks) if args.soak_rest else None
    s.sender.hold = pacing(s, args.soak_behind, bound, rests if rests and rests.at else None)
    watching = [asyncio.create_task(watch_lag(watch, bound, time.perf_counter))] if watch else []
    if args.series:
        series = write_series(s, args.sample_seconds, args.series, watch, rests)
        watching.append(asyncio.create_task(series))
    try:
        return await soak_watched(s, args, rate, seconds, watch, bound, rests)
    finally:  # the series goes on through the rest after: its last lines are the caught-up hub
        await wind_down(asyncio.Event(), watching, None)
        if watch is not None:
            await watch.close()


def rest_marks(args: Any) -> list[int]:
    """`--soak-rest-at`: the orders decided at which to rest midway, in order."""
    marks = sorted(int(m.replace("_", "")) for m in args.soak_rest_at.split(",") if m.strip())
    if marks and not args.soak_rest:
        raise SystemExit("--soak-rest-at needs --soak-rest (how long each rest takes floors)")
    if marks and marks[0] <= 0:
        raise SystemExit("--soak-rest-at: orders decided, above 0 (100000, not 100,000)")
    return marks


def lag_figures(watch: LagWatch | None, bound: LagBound | None) -> dict[str, Any]:
    """Each role's lag when sending stopped and, paced on lag, how long each one held it."""
    if watch is None:
        return {}
    at_end = watch.last.lag if watch.last is not None else {}
    console.print(f"    records behind when sending stopped: {at_end}")
    held = {} if bound is None else {r: round(t, 1) for r, t in bound.held.items()}
    if bound is not None:
        console.print(f"    the offering held by a lagging role (s): {held or 'never'}")
    return {"lag": {"at_end": at_end, "held_seconds": held, "looks_failed": watch.failed}}


async def soak_watched(
    s: Soaking,
    args: Any,
    rate: int,
    seconds: float,
    watch: LagWatch | None,
    bound: LagBound | None,
    rests: Rests | None = None,
) -> dict[str, Any]:
    """The soak between the rests (and with those midway), the network's rounds beside it."""
    # Without shipping, the rounds still cancel what waits too long (`--cancel-after`).
    net = (
        Connector(s.hub, s.network, args)
        if args.ship or args.cancel_after or args.receive
        else None
    )
    stop = asyncio.Event()
    snapshots = snapshots_folder(args)
    rest = await at_rest(s.hub, args.soak_rest, snapshots, watch, rests) if rests else None
    if net is not None:
        await net.start()
    tasks = [asyncio.create_task(rounds(net, stop))] if net is not None else []
    if rests is not None and rests.at:
        midway = rest_midway(s.hub, args.soak_rest, snapshots, watch, rests)
        tasks.append(asyncio.create_task(midway))
    try:
        step = await s.step(rate, 0.0, seconds)
    finally:
        await wind_down(stop, tasks, net)
    step |= lag_figures(watch, bound)
    if rest is not None:  # the network's rounds stopped too: the hub catches up, then rests
        step["at_rest"] = await rest_after(s.hub, args.soak_rest, snapshots, rest, watch, rests)
    if net is None:
        return step
    sh = net.shipper
    console.print(f"    shipments shipped {sh.shipped:,} of {sh.requested:,}")
    console.print(f"    rows restocked {net.restocked:,}, receipts {net.received:,}", end="")
    console.print(f" ({net.receipts_failed} requests refused)" if net.receipts_failed else "")
    console.print(f"    orders cancelled {net.cancelled:,}")
    shipped = {"share": args.ship, "requested": sh.requested, "shipped": sh.shipped}
    done = {"failed": sh.failed, "restocked": net.restocked, "cancelled": net.cancelled}
    done |= {"received": net.received, "receipts_failed": net.receipts_failed}
    return step | {"shipping": shipped | done}
