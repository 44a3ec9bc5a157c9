"""`benchmarks.flow --orders N --soak-rest S`: each process's RSS at rest, before the soak and
after it, once the hub has caught up with everything it was sent.

A floor taken while the soak runs counts what a role holds because it is behind (the records
its consumer fetched and buffered, the batch in hand and the free memory its peak left in
malloc's arenas) with what it keeps for good: a role that lags more as the soak goes on shows
a floor that grows, whatever the history. At rest (offering stopped, the hub idle) what is left
is what it keeps; the traced processes (`--trace-memory`) are asked for a tracemalloc snapshot
then, so the first and the last snapshots at rest diff what was kept.

Distributed, the rest first waits for every role's lag to reach 0 (`soak_lag.catch_up`) and
says which role took how long: the quiet soak of the seventh wave waited on a hub busy 6
minutes after sending stopped without knowing which role was behind.
"""

import asyncio
import time
from pathlib import Path
from typing import Any

from benchmarks.flow_hub import RunningHub
from benchmarks.flow_report import console
from benchmarks.flow_watch import wait_idle
from benchmarks.procstats import rss_bytes, with_roles
from benchmarks.soak_lag import LagWatch, catch_up
from benchmarks.soak_trace.soak_tracer import ASKED

MB = 1024 * 1024
REST_LIMIT = 900.0  # s: the longest wait for the hub to catch up before a rest's floors


def hub_pids(hub: RunningHub) -> dict[str, list[int]]:
    found: dict[str, list[int]] = {}
    for name, p in hub.processes.items():
        found |= with_roles(name, p.process.pid)
    return found


def ask_snapshots(folder: Path) -> None:
    """The traced processes take a snapshot within a second (benchmarks/soak_trace)."""
    folder.mkdir(parents=True, exist_ok=True)
    (folder / ASKED).touch()


def show_catch_up(caught: dict[str, Any]) -> None:
    """Each role: how far behind it was when the wait began, and when it reached 0."""
    parts = [
        f"{role} {'not' if r['seconds'] is None else format(r['seconds'], ',.0f') + ' s'}"
        f" ({r['behind']:,} behind)"
        for role, r in sorted(caught["roles"].items(), key=lambda kv: -(kv[1]["seconds"] or 1e9))
    ]
    left = f"; still behind: {caught['left']}" if caught["left"] else ""
    console.print(f"    caught up after {caught['seconds']:,.0f} s: {', '.join(parts)}{left}")


async def at_rest(
    hub: RunningHub, seconds: float, snapshots: Path | None, watch: LagWatch | None = None
) -> dict[str, Any]:
    """Once every role has caught up and the hub is idle: each process's lowest RSS over
    `seconds` (MB), sampled every s (the batch roles give malloc's free pages back every 30 s:
    `seconds` should pass two)."""
    caught = None
    if watch is not None:
        caught = await catch_up(watch, REST_LIMIT, time.perf_counter)
        show_catch_up(caught)
    busy = await wait_idle(hub, REST_LIMIT)
    pids = hub_pids(hub)
    if snapshots is not None:
        ask_snapshots(snapshots)
    floors: dict[str, float] = {}
    end = time.perf_counter() + seconds
    while time.perf_counter() < end:
        for name, found in pids.items():
            rss = sum(rss_bytes(pid) or 0 for pid in found) / MB
            if rss:
                floors[name] = min(rss, floors.get(name, rss))
        await asyncio.sleep(1.0)
    return {"caught_up": caught, "busy_seconds": busy, "seconds": seconds, "floor_mb": floors}


def show_rest(before: dict[str, Any], after: dict[str, Any], orders: int) -> dict[str, Any]:
    """Each process's floor at rest before → after, and the change per 100,000 orders."""
    growth: dict[str, Any] = {}
    for name, mb in after["floor_mb"].items():
        first = before["floor_mb"].get(name)
        if first is None:
            continue
        per = (mb - first) * 100_000 / orders if orders else 0.0
        growth[name] = {"before": first, "after": mb, "per_100k_orders": per}
        console.print(
            f"    at rest {name}: {first:,.1f} → {mb:,.1f} MB "
            f"({(mb - first) / first:+.1%}; {per:+,.1f} MB per 100,000 orders)"
        )
    return growth


async def rest_after(
    hub: RunningHub,
    seconds: float,
    snapshots: Path | None,
    before: dict[str, Any],
    watch: LagWatch | None = None,
) -> dict[str, Any]:
    """The rest after the soak, beside `before`: the floors and their growth per order."""
    after = await at_rest(hub, seconds, snapshots, watch)
    decided = len(hub.seen.routed) + len(hub.seen.held)
    growth = show_rest(before, after, decided)
    return {"before": before, "after": after, "decided": decided, "growth": growth}
