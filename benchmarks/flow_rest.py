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

The rest before the soak is taken before the first order: a role's caches, its connections'
buffers and malloc's heap fill in its first tens of thousands of orders, so "before → after"
counts that warm-up with what the history adds. `--soak-rest-at N,...` rests midway too, once
N orders are decided (`Rests`): the offering held, the hub caught up and idle, the floors taken
as at the end; a rest after the warm-up against the one after the soak is what the history
added. Unlike the rest at the end, the network's rounds go on through one midway (with
`--cancel-after` alone, the cancels of what waited too long: a few a second), so its floors are
those of a hub idle but for them. The series marks the idle part of each rest (`rest`: "start",
the samples in it, "end", each mark written as it comes, those still unwritten when the series
is stopped written then), and its report leaves that part's time and CPU out of the
windows (`benchmarks.flow_soak_report`); the hold before it (the catch-up, at least 3 quiet
seconds) stays in them, a few seconds a rest.
"""

import asyncio
import time
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from benchmarks.flow_hub import RunningHub
from benchmarks.flow_report import console
from benchmarks.flow_watch import wait_idle
from benchmarks.procstats import anon_bytes, rss_bytes, with_roles
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


@dataclass
class Rests:
    """A soak's rests: the orders decided at which it rests midway (`--soak-rest-at`), whether
    the offering is held for one, and the idle part of each for the series: "start" once the
    hub is idle, "idle" while the floors are taken, "end" (`next`: the series writes a sample
    at each mark, not up to a sampling period later)."""

    at: list[int] = field(default_factory=list)
    holding: bool = False
    phase: str | None = None
    taken: list[dict[str, Any]] = field(default_factory=list)
    _marks: list[str] = field(default_factory=list)
    _marked: asyncio.Event = field(default_factory=asyncio.Event)

    def mark(self, phase: str) -> None:
        self._marks.append(phase)
        self._marked.set()
        self.phase = "idle" if phase == "start" else None

    async def next(self, every: float) -> str | None:
        """The next mark, or after `every` s without one the phase then. Not `wait_for` on a
        queue: in Python 3.11 a cancel that comes as the item does is lost (the item is
        returned), and the series, cancelled right after a rest's last mark, went on."""
        if not self._marks:
            self._marked.clear()
            try:
                async with asyncio.timeout(every):
                    await self._marked.wait()
            except TimeoutError:
                pass
        return self.pending() or self.phase

    def pending(self) -> str | None:
        """A mark not yet taken by `next`, if any (taken now)."""
        return self._marks.pop(0) if self._marks else None


async def at_rest(
    hub: RunningHub,
    seconds: float,
    snapshots: Path | None,
    watch: LagWatch | None = None,
    rests: Rests | None = None,
) -> dict[str, Any]:
    """Once every role has caught up and the hub is idle: each process's lowest RSS over
    `seconds` (MB), sampled every s (the batch roles give malloc's free pages back every 30 s:
    `seconds` should pass two)."""
    caught = None
    if watch is not None:
        caught = await catch_up(watch, REST_LIMIT, time.perf_counter)
        show_catch_up(caught)
    busy = await wait_idle(hub, REST_LIMIT)
    if rests is not None:
        rests.mark("start")
    pids = hub_pids(hub)
    if snapshots is not None:
        ask_snapshots(snapshots)
    floors: dict[str, float] = {}
    anon: dict[str, float] = {}  # without file pages, which a machine short of cache takes
    try:
        end = time.perf_counter() + seconds
        while time.perf_counter() < end:
            for name, found in pids.items():
                rss = sum(rss_bytes(pid) or 0 for pid in found) / MB
                if rss:
                    floors[name] = min(rss, floors.get(name, rss))
                own = sum(anon_bytes(pid) or 0 for pid in found) / MB
                if own:
                    anon[name] = min(own, anon.get(name, own))
            await asyncio.sleep(1.0)
    finally:
        if rests is not None:
            rests.mark("end")
    rest = {"caught_up": caught, "busy_seconds": busy, "seconds": seconds, "floor_mb": floors}
    return rest | {"anon_floor_mb": anon}


def decided_by(hub: RunningHub) -> int:
    return len(hub.seen.routed) + len(hub.seen.held)


async def rest_midway(
    hub: RunningHub,
    seconds: float,
    snapshots: Path | None,
    watch: LagWatch | None,
    rests: Rests,
) -> None:
    """At each of `rests.at` orders decided: the offering held, a rest as at the end (the
    traced processes asked for a snapshot), the offering resumed. A rest that fails is said
    and ends the rests midway (the soak goes on)."""
    for mark in rests.at:
        while decided_by(hub) < mark:
            await asyncio.sleep(1.0)
        rests.holding = True
        try:
            console.print(f"    resting at {decided_by(hub):,} orders decided")
            found = await at_rest(hub, seconds, snapshots, watch, rests)
        except Exception as error:
            console.print(f"    the rest at {mark:,} orders failed: {error!r}")
            return
        finally:
            rests.holding = False
        found["decided"] = decided_by(hub)
        rests.taken.append(found)
        shown = ", ".join(f"{n} {mb:,.1f}" for n, mb in found["floor_mb"].items())
        console.print(f"    at rest at {found['decided']:,} orders (MB): {shown}")
        shown = ", ".join(f"{n} {mb:,.1f}" for n, mb in found["anon_floor_mb"].items())
        console.print(f"    anonymous (MB): {shown}")


def show_rest(
    before: dict[str, Any], after: dict[str, Any], orders: int, key: str = "floor_mb"
) -> dict[str, Any]:
    """Each process's floor at rest before → after, and the change per 100,000 orders (`key`:
    "anon_floor_mb", without file pages)."""
    growth: dict[str, Any] = {}
    label = "anonymous " if key == "anon_floor_mb" else ""
    for name, mb in after.get(key, {}).items():
        first = before.get(key, {}).get(name)
        if not first:
            continue
        per = (mb - first) * 100_000 / orders if orders else 0.0
        growth[name] = {"before": first, "after": mb, "per_100k_orders": per}
        console.print(
            f"    at rest {label}{name}: {first:,.1f} → {mb:,.1f} MB "
            f"({(mb - first) / first:+.1%}; {per:+,.1f} MB per 100,000 orders)"
        )
    return growth


async def rest_after(
    hub: RunningHub,
    seconds: float,
    snapshots: Path | None,
    before: dict[str, Any],
    watch: LagWatch | None = None,
    rests: Rests | None = None,
) -> dict[str, Any]:
    """The rest after the soak, beside `before` (and the first rest midway, if any): the
    floors and their growth per order."""
    after = await at_rest(hub, seconds, snapshots, watch, rests)
    decided = decided_by(hub)
    growth = show_rest(before, after, decided)
    anon = show_rest(before, after, decided, "anon_floor_mb")
    found = {"before": before, "after": after, "decided": decided, "growth": growth}
    found["anon_growth"] = anon
    if rests is not None and len(rests.taken) < len(rests.at):
        missed = rests.at[len(rests.taken) :]
        console.print(f"    no rest at {', '.join(f'{m:,}' for m in missed)} orders decided")
    if rests is not None and rests.taken:
        # What the history added: the first rest midway (after the warm-up) against the end.
        first = rests.taken[0]
        console.print(f"    from the rest at {first['decided']:,} orders decided:")
        later = show_rest(first, after, decided - first["decided"])
        anon_later = show_rest(first, after, decided - first["decided"], "anon_floor_mb")
        found |= {"midway": rests.taken, "growth_from_midway": later}
        found["anon_growth_from_midway"] = anon_later
    return found
