"""What a distributed hub with nothing to do costs: CPU of each process while no order arrives.

Run:  python -m benchmarks.idle_hub [--settle 40] [--seconds 30] [--rounds 1]

Starts a distributed hub as `benchmarks.flow` does (API, relay and the worker roles on the real
broker and a fresh PostgreSQL database), waits `--settle` seconds for start-up and the consumer
groups to settle, then reads each process's CPU time (/proc) over `--seconds`, `--rounds`
times. Printed: ms of CPU per second per process (the PostgreSQL backends of this database and
the broker included), and the sum. The cost that every order pays a share of at a low rate.
"""

import argparse
import tempfile
import time
from pathlib import Path

from benchmarks.flow_hub import running_hub
from benchmarks.procstats import cpu_seconds


def _cpu(pids: dict[str, list[int]]) -> dict[str, float]:
    return {name: sum(cpu_seconds(p) or 0.0 for p in found) for name, found in pids.items()}


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--settle", type=float, default=40.0)
    parser.add_argument("--seconds", type=float, default=30.0)
    parser.add_argument("--rounds", type=int, default=1)
    args = parser.parse_args()
    with tempfile.TemporaryDirectory() as tmp, running_hub("distributed", Path(tmp), 500) as hub:
        hub.start_worker()
        time.sleep(args.settle)
        for n in range(args.rounds):
            hub.check_alive()
            pids = hub.pids()
            before, started = _cpu(pids), time.monotonic()
            time.sleep(args.seconds)
            after, took = _cpu(pids), time.monotonic() - started
            per_second = {name: (after[name] - before[name]) / took * 1000 for name in pids}
            print(f"round {n + 1}: ms of CPU per second, {took:.0f} s, nothing offered")
            for name, ms in sorted(per_second.items(), key=lambda item: -item[1]):
                print(f"  {name:24s} {ms:6.1f}")
            print(f"  {'all':24s} {sum(per_second.values()):6.1f}")


if __name__ == "__main__":
    main()
