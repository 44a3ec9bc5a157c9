"""CPU of the schemas' validation per order, this tree against a base tree, alternating.

Run:  python -m benchmarks.validation_cpu --base /tmp/base-tree [--orders 500] [--rounds 7]

Each round runs one process per tree (the base first), which makes the same realistic
submissions (benchmarks.network: 100 sources, orders of 1-7 lines with prices) and times, in
process CPU µs per order, what the hub's processes do with one:

- capture: the API's `OrderSubmission.model_validate` of the body orjson read;
- write: the submission made JSON values (`model_dump(mode="json")`: the store's mapper, the
  receipt's digest);
- read: the stored JSON values read back into the submission (the mapper's TypeAdapter: the
  relay, orchestration) and made public again (`to_jsonable_python`: the relay's data).

Every process also prints a digest of what it wrote and read back: the trees must agree.
`--child` runs one tree's process (used by the parent; `--repeat 0` runs no pass, so that an
instruction count under valgrind minus that of `--repeat 0` is the passes' own; `--workloads
read` runs one of them).
"""

import argparse
import hashlib
import json
import os
import statistics
import subprocess
import sys
import time
from collections.abc import Callable
from typing import Any

import orjson

WORKLOADS = ("capture", "write", "read")


def _orders(count: int) -> list[bytes]:
    from benchmarks.network import OrderMaker, generate_network

    maker = OrderMaker(generate_network(sources=100, skus=2_000))
    return [
        orjson.dumps(maker.order("web-shop", f"W{i:06d}", "2026-12-05T03:00:00+01:00"))
        for i in range(count)
    ]


def child(count: int, repeat: int, workloads: tuple[str, ...] = WORKLOADS) -> dict[str, Any]:
    from pydantic import TypeAdapter
    from pydantic_core import to_jsonable_python

    from schemas.submission import OrderSubmission

    bodies = _orders(count)
    adapter = TypeAdapter(OrderSubmission)
    parsed = [OrderSubmission.model_validate(orjson.loads(b)) for b in bodies]
    stored = [orjson.loads(orjson.dumps(s.model_dump(mode="json"))) for s in parsed]
    payloads = [orjson.loads(b) for b in bodies]

    def capture() -> None:
        for payload in payloads:
            OrderSubmission.model_validate(payload)

    def write() -> None:
        for submission in parsed:
            submission.model_dump(mode="json")

    def read() -> None:
        for values in stored:
            to_jsonable_python(adapter.validate_python(values))

    passes: dict[str, Callable[[], None]] = {"capture": capture, "write": write, "read": read}
    us: dict[str, float] = {}
    for name in workloads:
        start = time.process_time()
        for _ in range(repeat):
            passes[name]()
        us[name] = (time.process_time() - start) / max(repeat * count, 1) * 1e6
    read_back = [to_jsonable_python(adapter.validate_python(v)) for v in stored]
    digest = hashlib.sha256(orjson.dumps([stored, read_back])).hexdigest()[:16]
    lines = sum(len(s.lines) for s in parsed) / count
    return {"us": us, "digest": digest, "lines": lines}


def _run(tree: str, count: int, repeat: int) -> dict[str, Any]:
    env = {**os.environ, "PYTHONPATH": tree}
    args = ["--child", "--orders", str(count), "--repeat", str(repeat)]
    out = subprocess.run(
        # This file run by its path, so that a base tree without it imports its own schemas.
        [sys.executable, os.path.abspath(__file__), *args],
        cwd=tree,
        env=env,
        check=True,
        capture_output=True,
        text=True,
    ).stdout
    result: dict[str, Any] = json.loads(out.splitlines()[-1])
    return result


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--base", help="a worktree of the base commit")
    parser.add_argument("--orders", type=int, default=500)
    parser.add_argument("--rounds", type=int, default=7)
    parser.add_argument("--repeat", type=int, default=4, help="passes over the orders per run")
    parser.add_argument("--child", action="store_true")
    parser.add_argument("--workloads", default=",".join(WORKLOADS), help="the child's, e.g. read")
    args = parser.parse_args()
    if args.child:
        print(json.dumps(child(args.orders, args.repeat, tuple(args.workloads.split(",")))))
        return
    if not args.base:
        parser.error("--base is required (or --child)")
    trees = {"base": args.base, "new": os.getcwd()}
    runs: dict[str, list[dict[str, Any]]] = {"base": [], "new": []}
    for _ in range(args.rounds):
        for name, tree in trees.items():
            runs[name].append(_run(tree, args.orders, args.repeat))
    digests = {name: {r["digest"] for r in rs} for name, rs in runs.items()}
    print(f"load average {os.getloadavg()[0]:.1f}; {args.orders} orders of")
    print(f"{runs['new'][0]['lines']:.2f} lines; {args.rounds} rounds alternating (base first)")
    print(f"the same JSON written and read back: {digests['base'] == digests['new']} {digests}")
    for workload in WORKLOADS:
        base = [r["us"][workload] for r in runs["base"]]
        new = [r["us"][workload] for r in runs["new"]]
        b, n = statistics.median(base), statistics.median(new)
        each = " ".join(f"{x:.1f}" for x in base) + " | " + " ".join(f"{x:.1f}" for x in new)
        print(
            f"  {workload:>8}: base {b:6.1f} µs, new {n:6.1f} µs per order ({(n - b) / b:+.0%})"
            f"  [{each}]"
        )


if __name__ == "__main__":
    main()
