"""A soak's series (`benchmarks.flow --orders N --series FILE`) as tables: by window of decided
orders, the orders decided per second and each process's CPU ms per order decided, and each
process's RSS at its floor (the lowest sample in the window: the hub's batch processes give
malloc's free memory back every 30 s, so the floor is what they hold, the rest is where in that
cycle a sample fell).

Run:  python -m benchmarks.flow_soak_report FILE [--window 10000] [--skip 0]
"""

import argparse
import json
from pathlib import Path
from typing import Any

from rich.console import Console
from rich.table import Table

MB = 1024 * 1024
COUNTS = {"t", "wall", "sent", "routed", "held", "requested"}


def load(path: Path) -> list[dict[str, Any]]:
    return [json.loads(line) for line in path.read_text().splitlines() if line.strip()]


def decided(sample: dict[str, Any]) -> int:
    return int(sample["routed"]) + int(sample["held"])


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


def floors(window: list[dict[str, Any]], names: list[str]) -> dict[str, float | None]:
    found: dict[str, float | None] = {}
    for name in names:
        rss = [s[name]["rss"] for s in window if name in s and s[name]["rss"]]
        found[name] = min(rss) / MB if rss else None
    return found


def table(title: str, rows: list[dict[str, Any]], names: list[str], fmt: str) -> Table:
    t = Table(title=title)
    for column in ("orders", *names):
        t.add_column(column, justify="right")
    for row in rows:
        cells = [f"{row['from']:,}-{row['to']:,}"]
        cells += ["—" if row.get(n) is None else format(row[n], fmt) for n in names]
        t.add_row(*cells)
    return t


def main(argv: list[str] | None = None) -> None:
    parser = argparse.ArgumentParser(description=__doc__)
    parser.add_argument("series", type=Path)
    parser.add_argument("--window", type=int, default=10_000, help="decided orders a row")
    parser.add_argument("--skip", type=int, default=0, help="decided orders left out first")
    args = parser.parse_args(argv)
    series = load(args.series)
    names = [n for n in processes(series) if n != "load generator"] + ["load generator"]
    cut = windows(series, args.window, args.skip)
    console = Console(width=240)
    costs = [cost(w, names) for w in cut]
    console.print(table("CPU ms per decided order", costs, ["per_s", "all", *names], ".2f"))
    rss = [{"from": decided(w[0]), "to": decided(w[-1])} | floors(w, names) for w in cut]
    console.print(table("RSS floor (MB): the lowest sample of the window", rss, names, ".1f"))


if __name__ == "__main__":
    main()
