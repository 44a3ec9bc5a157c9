"""`benchmarks.flow --orders N --soak-rest S`: each process's RSS at rest, before the soak and
after it, once the hub has caught up with everything it was sent.

A floor taken while the soak runs counts what a role holds because it is behind (the records
its consumer fetched and buffered, the batch in hand and the free memory its peak left in
malloc's arenas) with what it keeps for good: a role that lags more as the soak goes on shows
a floor that grows, whatever the history. At rest (offering stopped, the hub idle) what is left
is what it keeps; the traced processes (`--trace-memory`) are asked for a tracemalloc snapshot
then, so the first and the last snapshots at rest diff what was kept.
"""

import asyncio
import time
from pathlib import Path
from typing import Any

from benchmarks.flow_hub import RunningHub
from benchmarks.flow_report import console
from benchmarks.flow_watch import wait_idle
from benchmarks.procstats import rss_bytes, with_roles
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


async def at_rest(hub: RunningHub, seconds: float, snapshots: Path | None) -> dict[str, Any]:
    """Once the hub is idle: each process's lowest RSS over `seconds` (MB), sampled every s
    (the batch roles give malloc's free pages back every 30 s: `seconds` should pass two)."""
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
    return {"busy_seconds": busy, "seconds": seconds, "floor_mb": floors}


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
    hub: RunningHub, seconds: float, snapshots: Path | None, before: dict[str, Any]
) -> dict[str, Any]:
    """The rest after the soak, beside `before`: the floors and their growth per order."""
    after = await at_rest(hub, seconds, snapshots)
    decided = len(hub.seen.routed) + len(hub.seen.held)
    growth = show_rest(before, after, decided)
    return {"before": before, "after": after, "decided": decided, "growth": growth}
