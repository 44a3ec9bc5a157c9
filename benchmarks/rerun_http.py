"""A re-run as its user meets it: `POST /v1/orders/{id}/decisions/{n}/rerun` over HTTP.

    python -m benchmarks.rerun_http [--candidates 200] [--orders 30] [--starts 4]

Builds the store of `benchmarks.rerun_api` (that many sources, each holding every one of 20
SKUs, so each decision sees them all; orders of 1-7 lines routed) in a temporary directory,
then starts `orderhub serve` on it (a process of its own, embedded mode as configured by
default, auth off) `--starts` times, waits till it is idle, and times each request with
httpx from this process (wall, connection kept alive: request, routing, re-run, answer, its
JSON read). Per start:

- `first`: the server's first re-run since it started, once the start's warming is done (the
  route table built, the newest recorded decision re-run: `hub.services.rerun.warm_in_background`);
  it reads its own order and inputs, as a cold one does, and meets whatever else is used for
  the first time in the process;
- `cold`: the first re-run of each other order's decision in that process (its inputs record
  read, unpacked and decoded from the store; the definitions it shares with the decisions
  re-run before it are those the process already holds);
- `warm`: the same decision again, right after;
- `..._server_cpu`: each request's time on a CPU in the server, all its threads (from
  /proc/PID/task/*/schedstat): what it cost whatever the load made it wait;
- `server_cpu_per_request`: the server process's CPU (all its threads, from /proc) over all
  of a start's requests but the first, per request.

Prints p50 / p95 / max of each, in ms, over all starts, and each answer is checked
`identical`.
"""

import argparse
import os
import socket
import statistics
import subprocess
import sys
import tempfile
import time
from pathlib import Path
from uuid import UUID

import httpx

from benchmarks.rerun import _p95
from benchmarks.rerun_api import routed_orders
from hub.bootstrap import bootstrap
from hub.settings import Settings


def _free_port() -> int:
    with socket.socket() as probe:
        probe.bind(("127.0.0.1", 0))
        return int(probe.getsockname()[1])


def _serve(data_dir: Path, port: int) -> subprocess.Popen[bytes]:
    env = {**os.environ, "ORDERHUB_DATA_DIR": str(data_dir), "ORDERHUB_LOG_LEVEL": "WARNING"}
    command = [sys.executable, "-m", "hub.cli", "serve", "--port", str(port)]
    return subprocess.Popen(command, env=env, stdout=subprocess.DEVNULL)


def _ready(client: httpx.Client, deadline: float) -> None:
    while time.monotonic() < deadline:
        try:
            if client.get("/healthz").status_code == 200:
                return
        except httpx.TransportError:
            pass
        time.sleep(0.1)
    raise RuntimeError("the server did not answer /healthz")


def _cpu(pid: int) -> float:
    """The server process's CPU seconds so far, all its threads (Linux /proc)."""
    fields = Path(f"/proc/{pid}/stat").read_text().rpartition(")")[2].split()
    return (int(fields[11]) + int(fields[12])) / os.sysconf("SC_CLK_TCK")


def _quiet(pid: int, deadline: float) -> None:
    """Until the server is idle (under 2 % of a core over a second) or the deadline: after
    /healthz answers, a start goes on working for some seconds (the read models and routing
    catching up), which is not what a re-run costs."""
    while time.monotonic() < deadline:
        before = _cpu(pid)
        time.sleep(1.0)
        if _cpu(pid) - before < 0.02:
            return


def _on_cpu(pid: int) -> float:
    """Seconds the server's threads have run (/proc/PID/task/*/schedstat, nanoseconds): per
    request, what it cost the server whatever the machine's load made it wait."""
    total = 0
    for task in os.listdir(f"/proc/{pid}/task"):
        try:
            total += int(Path(f"/proc/{pid}/task/{task}/schedstat").read_text().split()[0])
        except (FileNotFoundError, ProcessLookupError):
            continue  # a thread that ended meanwhile
    return total / 1e9


def _rerun(
    client: httpx.Client, order_id: UUID, pid: int, times: dict[str, list[float]], key: str
) -> None:
    on_cpu = _on_cpu(pid)
    started = time.perf_counter()
    answer = client.post(f"/v1/orders/{order_id}/decisions/1/rerun")
    body = answer.json()
    seconds = time.perf_counter() - started
    times.setdefault(key, []).append(seconds)
    times.setdefault(f"{key}_server_cpu", []).append(_on_cpu(pid) - on_cpu)
    assert answer.status_code == 200 and body["identical"] is True, (answer.status_code, body)


def one_start(data_dir: Path, orders: list[UUID], settle: float) -> dict[str, list[float]]:
    """One server process: its first re-run, then each other decision cold and warm."""
    port = _free_port()
    server = _serve(data_dir, port)
    try:
        with httpx.Client(base_url=f"http://127.0.0.1:{port}", timeout=30) as client:
            _ready(client, time.monotonic() + 60)
            _quiet(server.pid, time.monotonic() + settle)
            times: dict[str, list[float]] = {}
            _rerun(client, orders[0], server.pid, times, "first")
            cpu = _cpu(server.pid)
            for order_id in orders[1:]:
                _rerun(client, order_id, server.pid, times, "cold")
                _rerun(client, order_id, server.pid, times, "warm")
            # The server's CPU (clock ticks: per request only as a mean) after the first.
            times["server_cpu_per_request"] = [(_cpu(server.pid) - cpu) / (2 * len(orders) - 2)]
            return times
    finally:
        server.terminate()
        server.wait(timeout=30)


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--candidates", type=int, default=200)
    parser.add_argument("--orders", type=int, default=30)
    parser.add_argument("--starts", type=int, default=4)
    parser.add_argument(
        "--settle", type=float, default=30.0, help="at most this many seconds after /healthz"
    )
    parser.add_argument("--seed", type=int, default=7)
    args = parser.parse_args()
    with tempfile.TemporaryDirectory() as tmp:
        data_dir = Path(tmp)
        hub = bootstrap(Settings(data_dir=data_dir, kafka_bootstrap=None, database_url=None))
        try:
            orders = routed_orders(hub, args.candidates, args.orders, args.seed)
        finally:
            hub.close()
        times: dict[str, list[float]] = {}
        for start in range(args.starts):
            # Each start begins with another order, so that no start re-runs the same first.
            turn = start % len(orders)
            for key, found in one_start(
                data_dir, orders[turn:] + orders[:turn], args.settle
            ).items():
                times.setdefault(key, []).extend(found)
    print(f"candidates: {args.candidates}\norders: {args.orders}\nstarts: {args.starts}")
    for key, found in times.items():
        ms = [t * 1000 for t in found]
        if len(ms) < 20:  # one a start: no percentile to speak of
            shown = " / ".join(f"{m:.2f}" for m in ms)
            print(f"http_{key}_ms each start: {shown} (mean {statistics.mean(ms):.2f})")
            continue
        print(
            f"http_{key}_ms p50 / p95 / max: {statistics.median(ms):.2f} / {_p95(ms):.2f} / "
            f"{max(ms):.2f} (n={len(ms)})"
        )


if __name__ == "__main__":
    main()
