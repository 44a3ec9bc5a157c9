"""Where the flow's CPU goes: `benchmarks.flow` with py-spy on every hub process.

Run:  python -m benchmarks.flow_profile [--mode embedded] [--rate 20 --seconds 40 --warmup 10]
          [--skus 10000] [--out DIR]
      python -m benchmarks.flow_profile --summarise DIR      # the tables again, from the files

Runs one step of `benchmarks.flow` (distributed by default) at the given rate and, once its
warm-up is over, records each hub process (`serve`, `relay`, one per worker role; embedded: the
one `serve`, its threads' ids kept: `--threads`) with py-spy (`-f raw`, 100 Hz)
for the measured seconds. Printed: CPU ms per routed order of every process (the flow's own CPU
window, PostgreSQL and the broker included) and per unit of each process's own work (captured
order, routed order, store event, record on the order events topic), then per hub process the
functions with the most busy samples, by self and by cumulative count. Samples whose innermost
frame is a wait (a selector or uvloop's C loop, a lock, a queue, a database round trip) are idle
and left out: py-spy counts a thread as active while it waits on some of them. py-spy must be
on the PATH.
"""

import argparse
import json
import re
import subprocess
import sys
import time
from collections import Counter
from pathlib import Path
from typing import Any

from benchmarks.procstats import children, role_of

RESULTS = Path(__file__).parent / "results"
# Innermost frames that are waiting, not working. `_release_while` (hub.free_memory) sleeps in
# `time.sleep`, which shows no frame of its own: it was 38-50 % of the embedded children's
# "busy" samples, asleep (embed3). `ExistingChecks._run` (hub.services.existing_checks) waits
# in a C queue's `get` and its gather's `time.sleep`, its work in `_answer` below it: it was 49 %
# of serve's "busy" samples at 300/s offered, waiting. uvloop waits in C, below the frame that
# runs its loop: `Runner.run` (the relay, serve) or mode's `Worker.execute_from_commandline`
# (each worker role since uv22); its own C work shows there too and is left out with the wait.
_IDLE = re.compile(
    r"^(Condition\.wait|EpollSelector\.select|_PollLikeSelector\.select|Connection\.wait|"
    r"Thread\._wait_for_tstate_lock|_release_while|ExistingChecks\._run|"
    r"Event\.wait|select|poll|_worker|Queue\.get|sleep|Lock\.acquire|wait|Runner\.run|"
    r"Worker\.execute_from_commandline|Worker\.stop_and_shutdown) "
)
_PY_SPY = ("py-spy", "record", "-r", "100", "-f", "raw")
_OURS = re.compile(r"^.*?/(?=(hub|connectors|projections|aggregates|orchestration_policies)/)")
_NOISE = re.compile(r"typer/|runpy|hub/cli/|threading\.py|asyncio/(runners|base_events)|mode/")


def hub_processes(root: int) -> dict[str, int]:
    """The hub's processes under the benchmark, named `serve`, `relay`, `worker-<role>`."""
    found: dict[str, int] = {}
    todo = [root]
    while todo:
        for pid in children(todo.pop()):
            todo.append(pid)
            try:
                args = [a.decode() for a in Path(f"/proc/{pid}/cmdline").read_bytes().split(b"\0")]
            except OSError:
                continue
            if any("spawn_main" in a for a in args):  # embedded: a lane's process
                found[f"serve-{role_of(pid)}"] = pid
                continue
            if "hub.cli" not in args or args.index("hub.cli") + 1 >= len(args):
                continue
            name = args[args.index("hub.cli") + 1]
            if "--role" in args:
                found[f"{name}-{args[args.index('--role') + 1]}"] = pid
            elif name != "worker":  # the supervisor of the roles does no work of its own
                found[name] = pid
    return found


def run(args: argparse.Namespace) -> None:
    out: Path = args.out
    out.mkdir(parents=True, exist_ok=True)
    log_path = out / "flow.log"
    with log_path.open("w") as log:
        flow = subprocess.Popen(
            [sys.executable, "-m", "benchmarks.flow", "--mode", args.mode,
             "--rates", str(args.rate), "--seconds", str(args.seconds),
             "--warmup", str(args.warmup), "--skus", str(args.skus),
             "--json", str(out / "flow.json")],
            stdout=log, stderr=subprocess.STDOUT,
        )  # fmt: skip
        while flow.poll() is None and "step:" not in log_path.read_text():
            time.sleep(0.5)
        time.sleep(args.warmup + 1)
        seconds = str(max(5, int(args.seconds) - 3))
        spies = [
            subprocess.Popen(
                [
                    *_PY_SPY,
                    *(["--threads"] if args.mode == "embedded" else []),
                    "-p",
                    str(pid),
                    "-o",
                    str(out / f"{name}.txt"),
                    "-d",
                    seconds,
                ],
                stdout=subprocess.DEVNULL,
                stderr=subprocess.DEVNULL,
            )
            for name, pid in hub_processes(flow.pid).items()
        ]
        for spy in spies:
            spy.wait()
        flow.wait()
    summarise(out, args.top)


def cpu_table(flow_json: Path) -> list[str]:
    report = json.loads(flow_json.read_text())
    lines = []
    warmup = float(report["args"]["warmup"])
    for step in report["runs"][0]["steps"]:
        step = {**step, "warmup": warmup}
        decided = step["routed_per_s"]
        cpu = {k: v for k, v in step["cpu"].items() if k != "load generator" and v > 0.001}
        total = sum(cpu.values())
        lines.append(
            f"offered {step['offered_per_s']}/s, routed {decided:.1f}/s, "
            f"capture -> Routed p50 {step['routed_ms']['50']:.0f} ms, "
            f"{step['backlog_step']} undecided"
        )
        for name, share in sorted(cpu.items(), key=lambda kv: -kv[1]):
            lines.append(f"  {name:24s} {share:5.2f} core  {1000 * share / decided:6.1f} ms/order")
        lines.append(f"  {'all':24s} {total:5.2f} core  {1000 * total / decided:6.1f} ms/order")
        lines += per_unit(step)
    return lines


# Each process's own unit of work: robust when the hub falls behind (then intake, the API and
# the relay work for more orders than are routed).
_UNITS = {
    "serve": "captured",
    "worker intake": "captured",
    "worker orchestration": "routed",
    "worker fulfillment": "routed",
    "worker projections": "order record",
    "relay": "store event",
    "postgres (this db)": "store event",
    "kafka broker": "order record",
}


def per_unit(step: dict[str, Any]) -> list[str]:
    offered = (step["sent_rest"] + step["sent_kafka"]) / (step["seconds"] + step["warmup"])
    rates = {
        "captured": offered,
        "routed": step["routed_per_s"],
        "store event": step["store_events_per_s"],
        "order record": step["order_records_per_s"],  # records on orderhub.orders.events
    }
    lines = ["  per unit of each process's own work:"]
    for name, unit in _UNITS.items():
        if rates[unit] and name in step["cpu"]:
            ms = 1000 * step["cpu"][name] / rates[unit]
            lines.append(f"    {name:24s} {ms:6.2f} ms per {unit}")
    return lines


def _short(frame: str) -> str:
    match = re.match(r"(.*) \((.*?):\d+\)$", frame)
    if not match:
        return frame
    function, path = match.groups()
    path = re.sub(r".*/site-packages/|.*/lib/python3\.\d+/", "", path)
    return f"{function} ({_OURS.sub('', path)})"


def profile_table(path: Path, top: int) -> list[str]:
    own, cumulative = Counter[str](), Counter[str]()
    busy = idle = 0
    for line in path.read_text().splitlines():
        stack, _, count = line.rpartition(" ")
        frames = stack.split(";")
        if not stack or _IDLE.search(frames[-1]):
            idle += int(count or 0)
            continue
        busy += int(count)
        own[_short(frames[-1])] += int(count)
        for frame in {_short(f) for f in frames}:
            cumulative[frame] += int(count)
    lines = [f"== {path.stem}: {busy} busy samples ({idle} idle left out)", "  self:"]
    lines += [f"    {100 * n / busy:5.1f}% {f}" for f, n in own.most_common(top)]
    lines.append("  cumulative:")
    kept = [(f, n) for f, n in cumulative.most_common() if not _NOISE.search(f)]
    lines += [f"    {100 * n / busy:5.1f}% {f}" for f, n in kept[:top]]
    return lines


def summarise(out: Path, top: int) -> None:
    lines = cpu_table(out / "flow.json") if (out / "flow.json").exists() else []
    for path in sorted(p for p in out.glob("*.txt") if p.name != "summary.txt"):
        lines += profile_table(path, top)
    (out / "summary.txt").write_text("\n".join(lines) + "\n")
    print("\n".join(lines))
    print(f"summary: {out / 'summary.txt'}")


def main(argv: list[str] | None = None) -> None:
    parser = argparse.ArgumentParser(
        description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter
    )
    parser.add_argument("--mode", choices=["distributed", "embedded"], default="distributed")
    parser.add_argument("--rate", type=int, default=20, help="offered orders/s")
    parser.add_argument("--seconds", type=float, default=40, help="measured (and sampled) seconds")
    parser.add_argument("--warmup", type=float, default=10)
    parser.add_argument("--skus", type=int, default=2_000, help="10000: the issue's network")
    parser.add_argument("--top", type=int, default=25, help="functions per table")
    parser.add_argument("--out", type=Path, help="folder for the samples (default: results/)")
    parser.add_argument("--summarise", type=Path, help="only print the tables of a folder")
    args = parser.parse_args(argv)
    if args.summarise:
        summarise(args.summarise, args.top)
        return
    args.out = args.out or RESULTS / f"flow-profile-{time.strftime('%Y%m%dT%H%M%S')}"
    run(args)


if __name__ == "__main__":
    main()
