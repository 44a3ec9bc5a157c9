"""What a traced soak's processes hold (`benchmarks.flow --trace-memory ROLES --trace-dir DIR`):
per process, its RSS, what tracemalloc traces and what glibc's malloc holds, in use and free, at
every snapshot; then what grew between two snapshots by the line that allocated it (with its
callers, `--frames`), the largest first.

Run:  python -m benchmarks.soak_trace_report DIR [--first 1] [--last -1] [--top 25] [--frames 4]
"""

import argparse
import json
import tracemalloc
from pathlib import Path
from typing import Any

MB = 1024 * 1024
HERE = ("soak_tracer.py", "tracemalloc.py", "<frozen importlib._bootstrap")


def load_lines(log: Path) -> list[dict[str, Any]]:
    return [json.loads(line) for line in log.read_text().splitlines() if line.strip()]


def figures(line: dict[str, Any]) -> dict[str, float]:
    """One snapshot's figures in MB: RSS, traced by Python, malloc's total, in use and free."""
    malloc = line.get("malloc") or {}
    return {
        "rss": line["rss"] / MB,
        "traced": line.get("traced", 0) / MB,
        "tracing": line.get("tracing_overhead", 0) / MB,
        "malloc": (malloc.get("arena", 0) + malloc.get("hblkhd", 0)) / MB,
        "in_use": (malloc.get("uordblks", 0) + malloc.get("hblkhd", 0)) / MB,
        "free": malloc.get("fordblks", 0) / MB,
    }


def grown(
    before: tracemalloc.Snapshot, after: tracemalloc.Snapshot, frames: int, top: int
) -> list[tracemalloc.StatisticDiff]:
    """What grew from `before` to `after` by allocating traceback (cut to `frames`)."""
    keep = [tracemalloc.Filter(False, f"*{name}*") for name in HERE]
    a, b = before.filter_traces(keep), after.filter_traces(keep)
    stats = b.compare_to(a, "traceback" if frames > 1 else "lineno")
    stats.sort(key=lambda s: s.size_diff, reverse=True)
    return stats[:top]


def show_process(log: Path, first: int, last: int, top: int, frames: int) -> None:
    name = log.stem
    lines = load_lines(log)
    print(f"\n== {name}: {len(lines)} snapshots")
    print("  n   minute     RSS   traced  tracing   malloc   in use     free  (MB)")
    t0 = lines[0]["wall"] if lines else 0.0
    for line in lines:
        f = figures(line)
        cells = " ".join(f"{f[k]:8.1f}" for k in ("rss", "traced", "tracing", "malloc", "in_use"))
        print(f"  {line['n']:<3} {(line['wall'] - t0) / 60:6.1f} {cells} {f['free']:8.1f}")
    snaps = sorted(log.parent.glob(f"{name}-[0-9]*.snap"))
    if len(snaps) < 2:
        return
    a, b = snaps[first], snaps[last]
    print(f"  grown from {a.name} to {b.name}, by traceback ({frames} frames):")
    before, after = tracemalloc.Snapshot.load(str(a)), tracemalloc.Snapshot.load(str(b))
    for stat in grown(before, after, frames, top):
        where = stat.traceback.format(limit=frames, most_recent_first=True)
        print(f"  {stat.size_diff / MB:+8.2f} MB {stat.count_diff:+9,d} blocks  {where[0].strip()}")
        for caller in where[2::2]:
            print(f"  {'':31} <- {caller.strip()}")


def main(argv: list[str] | None = None) -> None:
    parser = argparse.ArgumentParser(description=__doc__)
    parser.add_argument("folder", type=Path)
    parser.add_argument("--first", type=int, default=1, help="snapshot diffed from (0: "
                        "taken as tracing started, before the bounded caches fill)")  # fmt: skip
    parser.add_argument("--last", type=int, default=-1)
    parser.add_argument("--top", type=int, default=25)
    parser.add_argument("--frames", type=int, default=4)
    args = parser.parse_args(argv)
    for log in sorted(args.folder.glob("*.jsonl")):
        show_process(log, args.first, args.last, args.top, args.frames)


if __name__ == "__main__":
    main()
