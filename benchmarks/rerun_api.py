"""What the API adds to a re-run: reading the order's decisions before re-running one.

    python -m benchmarks.rerun_api [--candidates 200] [--orders 50]

In a SQLite event store in a temporary directory: registers that many sources through the
catalog, every one holding each of 20 SKUs (so each decision sees them all as candidates),
places and routes orders of 1-7 lines as the embedded API does, then re-runs each order's
decision as `POST /v1/orders/{id}/decisions/{n}/rerun` does (the route's own function: the
order's events read, its decisions listed, the one asked for re-run; HTTP and the answer's
model not included) and, apart, the re-run alone (`RerunService.rerun`); cold (definitions
read from the store, as in a new process) and warm. Prints p50 / p95 of wall and CPU ms.
"""

import argparse
import functools
import random
import statistics
import tempfile
import time
from collections.abc import Callable
from pathlib import Path
from uuid import UUID

from aggregates.stock import StockItem
from benchmarks.rerun import _forget, _p95
from benchmarks.route_profile import NOW, order_command, sku_name, source_definition
from hub.api.routes.decisions import _rerun as api_rerun
from hub.bootstrap import Hub, bootstrap
from hub.services.access import Principal
from hub.services.rerun import RerunService
from hub.settings import Settings
from schemas.channels import Role

SKUS = 20


def _network(hub: Hub, rng: random.Random, sources: int) -> None:
    for n in range(sources):
        hub.catalog.register_source(source_definition(rng, n), actor="system:bench")
    hub.store.save(
        *[
            StockItem(f"src-{n:03d}", sku_name(s), rng.randint(0, 40), 0, NOW)
            for n in range(sources)
            for s in range(SKUS)
        ]
    )


def _timed(run: Callable[[], object], cold: bool) -> tuple[float, float]:
    if cold:
        _forget()
    started, cpu = time.perf_counter(), time.process_time()
    run()
    return time.perf_counter() - started, time.process_time() - cpu


def routed_orders(hub: Hub, candidates: int, orders: int, seed: int) -> list[UUID]:
    """The benchmark's network and orders, routed as the embedded API routes them: the ids."""
    rng = random.Random(seed)
    _network(hub, rng, candidates)
    commands = [order_command(rng, n, SKUS) for n in range(orders)]
    hub.intake.place_orders(commands)
    for command in commands:
        hub.orchestration.orchestrate(command.order_id)
    return [command.order_id for command in commands]


def measure(hub: Hub, candidates: int, orders: int, seed: int) -> dict[str, float]:
    order_ids = routed_orders(hub, candidates, orders, seed)
    auditor = Principal(Role.AUDITOR, "bench")
    service = RerunService(hub.store, hub.policies)
    figures: dict[str, list[tuple[float, float]]] = {}
    for order_id in order_ids:
        found = service.decisions(order_id)
        assert found is not None and found[1], order_id
        decision = found[1][0]
        for cold in (True, False):
            runs: tuple[tuple[str, Callable[[], object]], ...] = (
                (
                    "api",
                    functools.partial(api_rerun, hub.store, hub.policies, order_id, 1, auditor),
                ),
                ("rerun", functools.partial(service.rerun, decision, order_id)),
            )
            for name, run in runs:
                key = f"{name}_{'cold' if cold else 'warm'}"
                figures.setdefault(key, []).append(_timed(run, cold))
    result = api_rerun(hub.store, hub.policies, order_ids[0], 1, auditor)
    assert result.identical, result.differences
    out: dict[str, float] = {"candidates": candidates, "orders": orders}
    for key, pairs in figures.items():
        wall, cpu = [w for w, _ in pairs], [c for _, c in pairs]
        out[f"{key}_ms_p50"] = statistics.median(wall) * 1000
        out[f"{key}_ms_p95"] = _p95(wall) * 1000
        out[f"{key}_cpu_ms_p50"] = statistics.median(cpu) * 1000
        out[f"{key}_cpu_ms_p95"] = _p95(cpu) * 1000
    return out


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--candidates", type=int, default=200)
    parser.add_argument("--orders", type=int, default=50)
    parser.add_argument("--seed", type=int, default=7)
    args = parser.parse_args()
    with tempfile.TemporaryDirectory() as tmp:
        hub = bootstrap(Settings(data_dir=Path(tmp), kafka_bootstrap=None, database_url=None))
        try:
            row = measure(hub, args.candidates, args.orders, args.seed)
        finally:
            hub.close()
    for key, value in row.items():
        print(f"{key}: {value:.2f}" if isinstance(value, float) else f"{key}: {value}")


if __name__ == "__main__":
    main()
