"""A soak's series (`benchmarks.flow --orders N --series FILE`) as tables: by window of decided
orders, the orders decided per second and each process's CPU ms per order decided, and each
process's RSS at its floor (the lowest sample in the window: the hub's batch processes give
malloc's free memory back every 30 s, so the floor is what they hold, the rest is where in that
cycle a sample fell).

Series with each role's lag (`lag`, `consumed`: benchmarks.soak_lag) give two tables more: the
records each role was behind by window, the role furthest behind (its lag over the records it
consumed per second: seconds of its own work) and the windows where a role stayed more than
`--lag-bound` records behind for `--lag-seconds` (the rule `--soak-lag` paces on): their pace
was not one the hub sustained; and each role's CPU per record it consumed in the window, and per
order's worth of its records (its records per decided order over the whole series, which ends
caught up with `--soak-rest`), so that a lagging role's cost is counted by the work it did, not
spread over orders decided while it fell behind.

Run:  python -m benchmarks.flow_soak_report FILE [--window 10000] [--skip 0]
          [--lag-bound 10000 --lag-seconds 30]
"""

import argparse
import json
import math
from pathlib import Path
from typing import Any

from rich.console import Console
from rich.table import Table

from benchmarks.soak_lag import ROLES, LagBound

MB = 1024 * 1024
# Every key of a series line that is not a process group.
COUNTS = {
    "t",
    "wall",
    "sent",
    "routed",
    "held",
    "requested",
    "shed",
    "failed",
    "lag",
    "consumed",
    "groups",
    "rest",
}


def load(path: Path) -> list[dict[str, Any]]:
    return [json.loads(line) for line in path.read_text().splitlines() if line.strip()]


def decided(sample: dict[str, Any]) -> int:
    return int(sample["routed"]) + int(sample["held"])


def under_load(series: list[dict[str, Any]]) -> list[dict[str, Any]]:
    """The samples taken while orders were being decided: the soak's rests before and after
    (`--soak-rest`) are idle, and their floors are not the floors of the windows they would
    otherwise end up in (the report prints them apart)."""
    counts = [decided(sample) for sample in series]
    if not counts or counts[0] == counts[-1]:
        return series
    first = max(i for i, n in enumerate(counts) if n == counts[0]) + 1
    last = min(i for i, n in enumerate(counts) if n == counts[-1])
    return series[first:last] if last - first > 1 else series


def without_rests(
    series: list[dict[str, Any]],
) -> tuple[list[dict[str, Any]], list[list[dict[str, Any]]]]:
    """The series with the idle part of each rest (`--soak-rest`, `--soak-rest-at`: its samples
    from "start" to "end", `benchmarks.flow_rest.Rests`) taken out, its time and every
    group's CPU taken off the samples after it, so that a window spanning a rest midway counts
    the orders it decided over the time and CPU spent deciding them; and the samples of each
    rest, "start" to "end". A series without marks is as it was."""
    kept: list[dict[str, Any]] = []
    rests: list[list[dict[str, Any]]] = []
    shift_t = 0.0
    shift_cpu: dict[str, float] = {}
    for sample in series:
        mark = sample.get("rest")
        if rests and rests[-1][-1].get("rest") != "end":
            rests[-1].append(sample)  # within a rest (or its end), whatever its mark
            if mark == "end":
                shift_t += sample["t"] - rests[-1][0]["t"]
                for name, used in _cpu_within(rests[-1]).items():
                    shift_cpu[name] = shift_cpu.get(name, 0.0) + used
            continue
        if mark == "start":
            rests.append([sample])
        moved = dict(sample, t=sample["t"] - shift_t) if shift_t else dict(sample)
        for name, used in shift_cpu.items():
            if name in moved:
                moved[name] = dict(moved[name], cpu=moved[name]["cpu"] - used)
        moved.pop("rest", None)
        kept.append(moved)
    return kept, rests


def _cpu_within(rest: list[dict[str, Any]]) -> dict[str, float]:
    """Each group's CPU over a rest: from the first of its samples that has the group to the
    last."""
    used: dict[str, float] = {}
    for name in processes(rest):
        had = [sample[name]["cpu"] for sample in rest if name in sample]
        used[name] = had[-1] - had[0]
    return used


def windows(series: list[dict[str, Any]], size: int, skip: int) -> list[list[dict[str, Any]]]:
    """The samples cut where the decided count crosses each multiple of `size` (after `skip`)."""
    cuts: list[list[dict[str, Any]]] = [[]]
    edge = skip + size
    for sample in series:
        if decided(sample) < skip:
            continue
        cuts[-1].append(sample)
        if decided(sample) >= edge:
            cuts.append([sample])
            edge = (decided(sample) // size + 1) * size
    return [w for w in cuts if len(w) > 1]


def processes(series: list[dict[str, Any]]) -> list[str]:
    names: dict[str, None] = {}
    for sample in series:
        names |= {k: None for k in sample if k not in COUNTS}
    return list(names)


def cost(window: list[dict[str, Any]], names: list[str]) -> dict[str, Any]:
    """Orders/s and CPU ms per decided order of each process over one window; a process whose
    CPU went down (restarted, or a PostgreSQL backend gone) shows None."""
    first, last = window[0], window[-1]
    orders = decided(last) - decided(first)
    row: dict[str, Any] = {
        "from": decided(first),
        "to": decided(last),
        "per_s": orders / max(1e-9, last["t"] - first["t"]),
    }
    total = 0.0
    for name in names:
        a, b = first.get(name), last.get(name)
        used = None if a is None or b is None or b["cpu"] < a["cpu"] else b["cpu"] - a["cpu"]
        row[name] = None if used is None else 1000 * used / max(1, orders)
        total += row[name] or 0.0
    row["all"] = total
    return row


def floors(
    window: list[dict[str, Any]], names: list[str], key: str = "rss"
) -> dict[str, float | None]:
    """Each process's lowest sample of `key` ("rss", or "anon": without file pages) in MB."""
    found: dict[str, float | None] = {}
    for name in names:
        rss = [s[name][key] for s in window if name in s and s[name].get(key)]
        found[name] = min(rss) / MB if rss else None
    return found


def cell(value: Any, fmt: str) -> str:
    if value is None:
        return "—"
    return value if isinstance(value, str) else format(value, fmt)


def table(title: str, rows: list[dict[str, Any]], names: list[str], fmt: str) -> Table:
    t = Table(title=title)
    for column in ("orders", *names):
        t.add_column(column, justify="right")
    for row in rows:
        cells = [f"{row['from']:,}-{row['to']:,}"]
        cells += [cell(row.get(n), fmt) for n in names]
        t.add_row(*cells)
    return t


def process_of(role: str, names: list[str]) -> str | None:
    """The series' process group doing a role's work: `worker <role>`, or the relay."""
    return next((n for n in (f"worker {role}", role) if n in names), None)


def seconds_text(seconds: float) -> str:
    return "∞ (none consumed)" if math.isinf(seconds) else f"{seconds:,.0f} s"


def lag_rows(cut: list[list[dict[str, Any]]], bound: LagBound) -> list[dict[str, Any]]:
    """Per window: each role's records behind at its end, the role furthest behind in seconds
    of its own work, and the roles `bound` found lagging in it (one bound over the whole
    series: a role over it since the window before counts from then)."""
    rows = []
    for window in cut:
        first, last = window[0], window[-1]
        lagging: set[str] = set()
        for sample in window[1:]:
            bound.observe(sample["t"], sample.get("lag", {}))
            lagging.update(bound.lagging())
        row: dict[str, Any] = {"from": decided(first), "to": decided(last)}
        seconds = max(1e-9, last["t"] - first["t"])
        behind: dict[str, float] = {}
        for role in ROLES:
            lag = last.get("lag", {}).get(role)
            done = last.get("consumed", {}).get(role, 0) - first.get("consumed", {}).get(role, 0)
            row[role] = lag
            if lag:  # none consumed in the window: behind without end
                behind[role] = lag * seconds / done if done > 0 else math.inf
        worst = max(behind, key=lambda r: behind[r], default=None)
        row["furthest"] = "—" if worst is None else f"{worst} {seconds_text(behind[worst])}"
        row["lagging"] = ", ".join(sorted(lagging)) or "—"
        rows.append(row)
    return rows


def per_order(series: list[dict[str, Any]]) -> dict[str, float]:
    """Each role's records per decided order over the whole series."""
    first, last = series[0], series[-1]
    orders = max(1, decided(last) - decided(first))
    return {
        role: (last["consumed"].get(role, 0) - first["consumed"].get(role, 0)) / orders
        for role in ROLES
        if role in last.get("consumed", {}) and role in first.get("consumed", {})
    }


def cpu_per_record(window: list[dict[str, Any]], role: str, name: str | None) -> float | None:
    """The role's process's CPU µs per record it consumed over the window (None: none
    consumed, or the process restarted)."""
    first, last = window[0], window[-1]
    done: int = last.get("consumed", {}).get(role, 0) - first.get("consumed", {}).get(role, 0)
    a, b = first.get(name or ""), last.get(name or "")
    if a is None or b is None or b["cpu"] < a["cpu"] or done <= 0:
        return None
    used: float = b["cpu"] - a["cpu"]
    return 1e6 * used / done


def work_rows(
    cut: list[list[dict[str, Any]]], names: list[str], records: dict[str, float]
) -> list[dict[str, Any]]:
    """Per window and role: CPU µs per record it consumed, and ms per order's worth of its
    records (`records`: per decided order); `by work`: those summed with the other processes'
    CPU per decided order (the load generator apart)."""
    rows = []
    for window in cut:
        first, last = window[0], window[-1]
        row: dict[str, Any] = {"from": decided(first), "to": decided(last)}
        per_decided = cost(window, names)
        total = sum(per_decided[n] or 0.0 for n in names if n != "load generator")
        for role in ROLES:
            name = process_of(role, names)
            per_record = cpu_per_record(window, role, name)
            if name is None or per_record is None:
                continue
            row[f"{role} µs/rec"] = per_record
            if records.get(role):
                row[role] = per_record * records[role] / 1000
                total += row[role] - (per_decided[name] or 0.0)
        row["by work"] = total
        rows.append(row)
    return rows


def show_lag(
    console: Console, series: list[dict[str, Any]], cut: list[list[dict[str, Any]]], args: Any
) -> None:
    names = [n for n in processes(series) if n != "load generator"] + ["load generator"]
    bound = LagBound(args.lag_bound, args.lag_seconds)
    lags = lag_rows(cut, bound)
    title = (
        f"Records behind by role at the window's end; lagging: over {args.lag_bound:,} records "
        f"for {args.lag_seconds:,.0f} s in the window (a pace not sustained)"
    )
    console.print(table(title, lags, [*ROLES, "furthest", "lagging"], ","))
    records = per_order([s for s in series if "consumed" in s])
    console.print(
        f"records per decided order, whole series: { {r: round(n, 2) for r, n in records.items()} }"
    )
    columns = [c for r in ROLES for c in (f"{r} µs/rec", r)] + ["by work"]
    work = work_rows(cut, names, records)
    console.print(
        table(
            "CPU by the work done: µs per record consumed, ms per order's worth",
            work,
            columns,
            ".2f",
        )
    )


def main(argv: list[str] | None = None) -> None:
    parser = argparse.ArgumentParser(description=__doc__)
    parser.add_argument("series", type=Path)
    parser.add_argument("--window", type=int, default=10_000, help="decided orders a row")
    parser.add_argument("--skip", type=int, default=0, help="decided orders left out first")
    parser.add_argument("--lag-bound", type=int, default=10_000, help="records behind a role")
    parser.add_argument("--lag-seconds", type=float, default=30.0, help="... for this long")
    args = parser.parse_args(argv)
    series, rests = without_rests(load(args.series))
    names = [n for n in processes(series) if n != "load generator"] + ["load generator"]
    cut = windows(under_load(series), args.window, args.skip)
    console = Console(width=240)
    # Anonymous memory where the series has it: a machine short of page cache takes the
    # mapped pages of idle processes' libraries back, which RSS counts (soak28).
    kinds = [("rss", "RSS"), ("anon", "anonymous RSS")]
    if not any("anon" in s.get(names[0], {}) for s in series):
        kinds = kinds[:1]
    for key, label in kinds if rests else ():
        rows = [
            {"from": decided(r[0]), "to": decided(r[-1])} | floors(r, names, key) for r in rests
        ]
        console.print(
            table(f"{label} at rest (MB): the lowest sample of each rest", rows, names, ".1f")
        )
    costs = [cost(w, names) for w in cut]
    console.print(table("CPU ms per decided order", costs, ["per_s", "all", *names], ".2f"))
    for key, label in kinds:
        rss = [{"from": decided(w[0]), "to": decided(w[-1])} | floors(w, names, key) for w in cut]
        console.print(
            table(f"{label} floor (MB): the lowest sample of the window", rss, names, ".1f")
        )
    if any("lag" in sample for sample in series):
        show_lag(console, series, cut, args)


if __name__ == "__main__":
    main()
