"""The relay woken by commits' notices on PostgreSQL: commit → publish latency and reads per
notice, caught up and waiting for the next notice (now) against reading again first (before).

Run:  python -m benchmarks.relay_wake [--seconds 8] [--interval 0.02] [--rounds 2]

A fresh database; a thread places one order every `--interval` seconds (a commit and a notice
each), the hub's relay (`hub.streaming.relay.build_relay`, its notices as `orderhub relay` has
them) publishes to a publisher that notes when each order's first record came. Arms alternate
round by round: "quiet" (connectors.relay as it is) and "read again" (`Relay._quiet` never true:
the relay read once more after each batch, as before latency9).
"""

import argparse
import asyncio
import threading
import time
from collections.abc import Sequence
from typing import Any

from benchmarks.services import drop_database, fresh_database, postgres_server
from connectors.codec import OutboundRecord
from connectors.relay import Relay
from hub.bootstrap import Hub, bootstrap
from hub.services.intake import IntakeService
from hub.settings import Settings
from hub.streaming.relay import build_relay, store_notices
from tests.contracts.factories import NOW, fixed_clock, submit_order


def _q(waits: list[float], p: float) -> float:
    return waits[min(len(waits) - 1, int(p * len(waits)))]


class ReadingAgain(Relay):
    def _quiet(self) -> bool:
        return False


class Noting:
    """A publisher noting when each key's first record was published."""

    def __init__(self) -> None:
        self.first: dict[bytes, float] = {}

    async def publish(self, records: Sequence[OutboundRecord]) -> None:
        now = time.perf_counter()
        for record in records:
            if record.key is not None:
                self.first.setdefault(record.key, now)


def place_every(
    hub: Hub, interval: float, stop: threading.Event, placed: dict[bytes, float]
) -> None:
    intake = IntakeService(hub.store, fixed_clock(NOW))
    n = 0
    while not stop.is_set():
        command = submit_order(external_id=f"wake-{time.time_ns()}-{n}")
        intake.place_orders([command])
        placed[str(command.order_id).encode()] = time.perf_counter()
        n += 1
        time.sleep(interval)


async def one_round(hub: Hub, arm: str, seconds: float, interval: float) -> str:
    stop = asyncio.Event()
    notices = await asyncio.to_thread(store_notices, hub)
    assert notices is not None, "no notices: the relay would poll"
    listening = asyncio.create_task(notices.run(stop))
    publisher = Noting()
    relay = build_relay(hub, publisher, notices)  # type: ignore[arg-type]
    if arm == "read again":
        relay.__class__ = ReadingAgain
    reads = [0]
    read = relay._read_events

    def counted(after: int | None, limit: int) -> list[tuple[int, Any]]:
        reads[0] += 1
        return read(after, limit)

    relay._read_events = counted
    running = asyncio.create_task(relay.run(stop))
    await asyncio.sleep(1.0)
    writing, placed = threading.Event(), dict[bytes, float]()
    writer = threading.Thread(target=place_every, args=(hub, interval, writing, placed))
    writer.start()
    await asyncio.sleep(seconds)
    writing.set()
    writer.join()
    await asyncio.sleep(1.0)
    stop.set()
    await running
    listening.cancel()
    waits = sorted(
        1000 * (publisher.first[k] - t) for k, t in placed.items() if k in publisher.first
    )
    p50, p90, p99 = (_q(waits, p) for p in (0.5, 0.9, 0.99))
    return (f"{arm:<10} {len(placed)} orders, {len(waits)} published, {notices.notices} notices, "
            f"{reads[0]} reads ({reads[0] / max(1, notices.notices):.2f} a notice); "
            f"commit → publish p50 {p50:.1f} p90 {p90:.1f} p99 {p99:.1f} ms")  # fmt: skip


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--seconds", type=float, default=8.0)
    parser.add_argument("--interval", type=float, default=0.02)
    parser.add_argument("--rounds", type=int, default=2)
    args = parser.parse_args()
    server = postgres_server()
    database = fresh_database(server)
    hub = bootstrap(Settings(_env_file=None, database_url=database))  # type: ignore[call-arg]
    try:
        for _ in range(args.rounds):
            for arm in ("read again", "quiet"):
                print(asyncio.run(one_round(hub, arm, args.seconds, args.interval)), flush=True)
    finally:
        hub.close()
        drop_database(server, database)


if __name__ == "__main__":
    main()
