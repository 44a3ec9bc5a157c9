"""What `GET /v1/orders/{id}` costs when the order status view has the order, and when it has
not read it yet and the order's stored events are folded instead (hub.services.order_reads).

    python -m benchmarks.order_reads [--candidates 20 --orders 200 --rounds 3]

On PostgreSQL (`ORDERHUB_BENCH_DATABASE_URL` or `infra/postgres.sh`'s cluster), a fresh
database: `benchmarks.rerun_api`'s network (every source holding each of 20 SKUs) and orders of
1-7 lines placed and routed, the views caught up; then the route's own function (no HTTP) for
every order: from the view, from the events (the view emptied, as when it is far behind), and
for ids nothing holds. Rounds alternate the three; prints p50 / p95 of wall and CPU µs per read.
"""

import argparse
import asyncio
import statistics
import tempfile
import time
import uuid
from pathlib import Path
from uuid import UUID

from benchmarks.rerun import _p95
from benchmarks.rerun_api import routed_orders
from benchmarks.services import drop_database, fresh_database, postgres_server
from hub.api.problems import ProblemError
from hub.api.routes.orders import get_order
from hub.bootstrap import Hub, bootstrap
from hub.services.access import Principal
from hub.settings import Settings
from schemas.channels import Role

OPS = Principal(Role.OPS, "bench")


async def _read(hub: Hub, order_id: UUID) -> str:
    try:
        return (await get_order(order_id, hub, OPS)).status
    except ProblemError:
        return "404"


async def _reads(hub: Hub, ids: list[UUID], into: list[tuple[float, float]]) -> list[str]:
    statuses: list[str] = []
    for order_id in ids:
        started, cpu = time.perf_counter(), time.process_time()
        statuses.append(await _read(hub, order_id))
        into.append((time.perf_counter() - started, time.process_time() - cpu))
    return statuses


def _timed(hub: Hub, ids: list[UUID], into: list[tuple[float, float]]) -> list[str]:
    """Each id read alone (one event loop for all, as the API's), its (wall, cpu) seconds
    added to `into`: the answers' statuses."""
    return asyncio.run(_reads(hub, ids, into))


def measure(hub: Hub, args: argparse.Namespace) -> dict[str, list[tuple[float, float]]]:
    order_ids = routed_orders(hub, args.candidates, args.orders, args.seed)
    unknown = [uuid.uuid4() for _ in order_ids]
    figures: dict[str, list[tuple[float, float]]] = {"view": [], "events": [], "unknown": []}
    for _ in range(args.rounds):
        hub.deliver()  # the view holds every order (again)
        from_view = _timed(hub, order_ids, figures["view"])
        hub.order_status.reset()
        from_events = _timed(hub, order_ids, figures["events"])
        assert from_events == from_view, "the events fold to the view's answers"
        assert set(_timed(hub, unknown, figures["unknown"])) == {"404"}
    return figures


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    for name, default in (("--candidates", 20), ("--orders", 200), ("--rounds", 3), ("--seed", 7)):
        parser.add_argument(name, type=int, default=default)
    args = parser.parse_args()
    server = postgres_server()
    url = fresh_database(server)
    with tempfile.TemporaryDirectory() as tmp:
        hub = bootstrap(Settings(data_dir=Path(tmp), kafka_bootstrap=None, database_url=url))
        try:
            figures = measure(hub, args)
        finally:
            hub.close()
            drop_database(server, url)
    for name, pairs in figures.items():
        wall, cpu = [w * 1e6 for w, _ in pairs], [c * 1e6 for _, c in pairs]
        print(
            f"{name:<8} n={len(pairs):>5}  wall p50 {statistics.median(wall):7.0f}  p95 "
            f"{_p95(wall):7.0f}  cpu p50 {statistics.median(cpu):7.0f}  p95 {_p95(cpu):7.0f} µs"
        )


if __name__ == "__main__":
    main()
