"""The `orderhub relay` process alone over a backlog: its CPU per store event, A/B between trees.

Run:  python -m benchmarks.relay_process [--orders 1000] [--rounds 3] [--base /path/to/other/tree]

A realistic history (benchmarks.projection_events: 100 sources, 10,000 SKUs, orders of 1-7
lines routed, a fifth shipped) is recorded once in a fresh PostgreSQL database. Then, per round
and tree (this one, and `--base` when given, alternating), the relay's position is set back to
just before the first `Order.Placed`, and `python -m hub.cli relay` of that tree is started
against fresh topics on the real broker. Its CPU (all threads, from /proc) is counted from its
"relay started" log line, once it has bootstrapped, until its saved position reaches the end of
the log: reading the log, encoding, producing (acks=all) and saving positions, as it runs in
the hub, with the process's own heap and event loop. Printed: CPU µs per store event per round,
and the medians.
"""

import argparse
import asyncio
import os
import statistics
import subprocess
import sys
import tempfile
import threading
import time
import uuid
from pathlib import Path

from benchmarks.projection_events import record_history
from benchmarks.services import drop_database, fresh_database, kafka_bootstrap, postgres_server
from connectors.relay import STREAM
from connectors.topics import ensure_topics
from hub.bootstrap import Hub, bootstrap
from hub.settings import Settings

HERE = Path(__file__).resolve().parent.parent


def _cpu(pid: int) -> float:
    with open(f"/proc/{pid}/stat") as f:
        fields = f.read().rsplit(")", 1)[1].split()
    return (int(fields[11]) + int(fields[12])) / os.sysconf("SC_CLK_TCK")


def _one(tree: Path, env: dict[str, str], positions: object, end: int) -> float:
    """CPU seconds the relay of `tree` spent publishing the backlog."""
    started = threading.Event()
    process = subprocess.Popen(
        [sys.executable, "-m", "hub.cli", "relay"],
        cwd=tree,
        env={**os.environ, **env, "PYTHONPATH": str(tree)},
        stderr=subprocess.PIPE,
        stdout=subprocess.DEVNULL,
        text=True,
    )

    def watch() -> None:
        assert process.stderr is not None
        for line in process.stderr:
            if "relay started" in line:
                started.set()

    threading.Thread(target=watch, daemon=True).start()
    try:
        if not started.wait(120):
            raise RuntimeError("the relay did not start")
        first = _cpu(process.pid)
        while (positions.get(STREAM) or 0) < end:  # type: ignore[attr-defined]
            if process.poll() is not None:
                raise RuntimeError(f"the relay exited with {process.returncode}")
            time.sleep(0.02)
        return _cpu(process.pid) - first
    finally:
        process.terminate()
        process.wait(30)


def _rewind(hub: Hub, start: int) -> None:
    """The relay's position back to `start` (a saved position only ever moves forward)."""
    with hub.views_db.transaction() as cur:
        cur.execute("DELETE FROM orderhub_positions WHERE follower = 'relay'")
    hub.relay_positions().set(STREAM, start)


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--orders", type=int, default=1000)
    parser.add_argument("--rounds", type=int, default=3)
    parser.add_argument("--base", type=Path, help="another tree to run the same way (A/B)")
    args = parser.parse_args()
    trees = {"this": HERE} | ({"base": args.base.resolve()} if args.base else {})
    bootstrap_address = kafka_bootstrap()
    server = postgres_server()
    database = fresh_database(server)
    results: dict[str, list[float]] = {name: [] for name in trees}
    try:
        with tempfile.TemporaryDirectory() as tmp:
            settings = Settings(
                _env_file=None,  # type: ignore[call-arg]
                data_dir=Path(tmp),
                database_url=database,
            )
            hub = bootstrap(settings)
            try:
                record_history(hub, args.orders)
                start = next(
                    n.id - 1
                    for n in hub.store.recorder.select_notifications(start=None, limit=10**8)
                    if n.topic.endswith("Order.Placed")
                )
                end = hub.store.max_position()
                positions = hub.relay_positions()
                for _ in range(args.rounds):
                    for name, tree in trees.items():
                        prefix = f"rproc{uuid.uuid4().hex[:6]}."
                        topics = settings.model_copy(update={"topic_prefix": prefix})
                        asyncio.run(
                            ensure_topics(
                                bootstrap_address,
                                {t: topics.topic_partitions for t in topics.all_topics()},
                            )
                        )
                        _rewind(hub, start)
                        env = {
                            "ORDERHUB_DATA_DIR": tmp,
                            "ORDERHUB_DATABASE_URL": database,
                            "ORDERHUB_KAFKA_BOOTSTRAP": bootstrap_address,
                            "ORDERHUB_TOPIC_PREFIX": prefix,
                            "ORDERHUB_LOG_LEVEL": "info",
                        }
                        cpu = _one(tree, env, positions, end)
                        results[name].append(cpu / (end - start) * 1e6)
                        print(f"  {name}: {results[name][-1]:.1f} µs per store event", flush=True)
            finally:
                hub.close()
    finally:
        drop_database(server, database)
    print(
        f"{args.orders} orders, {end - start} store events; {args.rounds} rounds;"
        f" load average {os.getloadavg()[0]:.1f}"
    )
    lines = [
        f"  {name:>5} ({trees[name]}): relay CPU {statistics.median(runs):.1f} µs per store"
        f" event, median of {', '.join(f'{r:.1f}' for r in runs)}"
        for name, runs in results.items()
    ]
    print("\n".join(lines))


if __name__ == "__main__":
    main()
