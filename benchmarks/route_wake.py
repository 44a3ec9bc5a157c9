"""The orchestration role's wake path on PostgreSQL: what a restock costs as orders wait.

Run:  python -m benchmarks.route_wake [--orders 3000] [--rounds 6] [--rows 40]

The flow benchmark's network (benchmarks.network: 100 sources in seven countries, stores that
ship to their own country only, same-day at stores only, 10,000 SKUs at 2-6 sources, 2 %
scarce) and its orders: `--orders` new orders routed in batches of 50 as the worker's consumer
hands them over, the backorder view brought up to date. Then `--rounds` restock rounds of each
kind, alternated: `--rows` stock rows of SKUs that orders wait for counted up by one unit, and
their stock events handed to the orchestrator as the worker's consumer hands them over (the
wake path), one batch per round:
- `excluded`: rows at sources that may ship none of the orders waiting for the SKU (a country
  they do not ship to, a delivery method they do not offer): a raise that can move nobody;
- `eligible`: rows at sources that may ship some of them (the units may still not be enough);
- `any`: rows of the waited SKUs drawn as they come (what restocking counts).
Per kind: the median per round of the orders decided again, the router's CPU and this run's
PostgreSQL backends' CPU, and the CPU per order decided again.
"""

import argparse
import random
import statistics
import tempfile
import time
from pathlib import Path
from typing import Any
from uuid import UUID

from aggregates.order import Order
from benchmarks.network import Network, OrderMaker, generate_network
from benchmarks.route_batches import Backends, _as_on_a_worker, load_network
from benchmarks.route_profile import NOW
from benchmarks.services import scratch_database
from hub.bootstrap import Hub, bootstrap
from hub.services.intake import SubmitOrder
from hub.settings import Settings
from schemas.event_types import EventType
from schemas.sources import StockSnapshot
from schemas.submission import OrderSubmission

KINDS = ("excluded", "eligible", "any")
Row = tuple[int, float, float]  # decided again, router ms, PostgreSQL ms


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--orders", type=int, default=3000)
    parser.add_argument("--rounds", type=int, default=6)
    parser.add_argument("--rows", type=int, default=40, help="stock rows counted up per round")
    args = parser.parse_args()
    with scratch_database() as (server, url):
        waiting, rows = _measure(args, server, url)
    _report(args, waiting, rows)


def _report(args: argparse.Namespace, waiting: int, rows: dict[str, list[Row]]) -> None:
    print(f"PostgreSQL, 100 sources, {args.orders} orders routed, {waiting} waiting;")
    print(f"per restock round of {args.rows} rows counted up (median of {args.rounds}):")
    for kind in KINDS:
        decided = statistics.median(r[0] for r in rows[kind])
        cpu = statistics.median(r[1] for r in rows[kind])
        backend = statistics.median(r[2] for r in rows[kind])
        per = (cpu + backend) / decided if decided else 0.0
        print(
            f"  {kind:<9} {decided:7.1f} decided again, router {cpu:7.1f} ms CPU, "
            f"PostgreSQL {backend:6.1f} ms CPU, {per:5.2f} ms per order decided again"
        )


def _measure(args: argparse.Namespace, server: str, url: str) -> tuple[int, dict[str, list[Row]]]:
    network = generate_network(100, 10_000, seed=7)
    with tempfile.TemporaryDirectory(prefix="orderhub-wake-") as tmp:
        settings = Settings(data_dir=Path(tmp), kafka_bootstrap=None, database_url=url)
        hub = bootstrap(settings, clock=lambda: NOW)
        _as_on_a_worker(hub)
        load_network(hub, network)
        backends = Backends(server, url.rsplit("/", 1)[1])
        _route(hub, OrderMaker(network, seed=11), args.orders)
        hub.deliver()  # the backorder view (and every other follower) up to date
        rows = _rows_by_kind(hub, network)
        rng = random.Random(5)
        figures: dict[str, list[Row]] = {kind: [] for kind in KINDS}
        for n in range(args.rounds):
            for kind in KINDS:
                chosen = rng.sample(rows[kind], min(args.rows, len(rows[kind])))
                figures[kind].append(_restock(hub, backends, chosen, 1000 * (n + 1)))
                hub.deliver()  # what a routed order changed, into the backorder view
        waiting = len(hub.backorders.all_waiting({}))
        hub.close()
    return waiting, figures


def _route(hub: Hub, maker: OrderMaker, count: int) -> None:
    """`count` orders placed and routed as the worker's consumer hands them over."""
    start = hub.store.max_position()
    commands = []
    for n in range(count):
        body = maker.order("web-shop", f"WAKE-{n:07d}", "2026-11-20T08:00:00Z")
        submission = OrderSubmission.model_validate(body)
        commands.append(SubmitOrder(submission, "{}", "channel:web-shop", f"wake-{n}"))
    hub.intake.place_orders(commands)
    found = hub.store.read_envelopes(start, 100 * count)
    accepted = [env for _, env in found if env.type == EventType.ORDER_ACCEPTED]
    for at in range(0, len(accepted), 50):
        hub.orchestrator.apply(accepted[at : at + 50], {"bench": at + 1})


def _rows_by_kind(hub: Hub, network: Network) -> dict[str, list[tuple[str, str]]]:
    """The stock rows of the SKUs orders wait for, by whether their source may ship some of
    the orders waiting for the SKU (by the sources' countries and delivery methods)."""
    sources = {s["source_id"]: s for s in network.sources}
    holders = network.holders()
    wanted: dict[str, list[tuple[str, str]]] = {}
    for order_id, skus in hub.backorders.all_waiting({}):
        order: Order = hub.store.repository.get(UUID(order_id))
        sub = order.submission
        for sku in skus:
            wanted.setdefault(sku, []).append((sub.ship_to.country, sub.delivery_method))
    rows: dict[str, list[tuple[str, str]]] = {kind: [] for kind in KINDS}
    for sku, orders in wanted.items():
        for source_id in holders.get(sku, []):
            source = sources[source_id]
            usable = any(
                country in source["ships_to"] and method in source["delivery_methods"]
                for country, method in orders
            )
            rows["eligible" if usable else "excluded"].append((source_id, sku))
            rows["any"].append((source_id, sku))
    return rows


def _restock(hub: Hub, backends: Backends, chosen: list[tuple[str, str]], offset: int) -> Row:
    """The rows counted up by a unit; their events applied to the orchestrator, timed."""
    view = hub.orchestration.supply
    start = hub.store.max_position()
    for source_id, sku in chosen:
        held = view.holding(source_id, sku)
        on_hand = (held.on_hand if held is not None else 0) + 1
        hub.catalog.apply_stock(StockSnapshot(source_id=source_id, sku=sku, on_hand=on_hand), "b")
        view.refresh()  # the next row's count from what this one left
    events = [env for _, env in hub.store.read_envelopes(start, 10 * len(chosen) + 100)]
    counted = [env for env in events if env.type == EventType.STOCK_ITEM_COUNTED]
    decided = _Counted(hub)
    backend, cpu = backends.cpu(), time.process_time()
    hub.orchestrator.apply(counted, {"bench": offset})
    cpu, backend = time.process_time() - cpu, backends.cpu() - backend
    return decided.stop(), 1000 * cpu, 1000 * backend


class _Counted:
    """Counts the orders the orchestrator is asked to decide (its results keep only 100)."""

    def __init__(self, hub: Hub) -> None:
        self._service = hub.orchestration
        self.count = 0
        method = self._service.orchestrate_many

        def counting(order_ids: list[UUID]) -> list[Any]:
            self.count += len(set(order_ids))
            return method(order_ids)

        self._service.orchestrate_many = counting  # type: ignore[method-assign]

    def stop(self) -> int:
        del self._service.orchestrate_many
        return self.count


if __name__ == "__main__":
    main()
