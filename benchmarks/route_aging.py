"""The orchestration role against a long history, on PostgreSQL, in process: what grows.

Run:  python -m benchmarks.route_aging [--orders 200000] [--window 10000] [--block 1000]
                                       [--ship 1.0] [--restock 2] [--cancel-after 10]
                                       [--sweep 5] [--stock-scale 1] [--census]

What the quiet soak does (benchmarks/README.md, "The seventh wave of 2026-12-05 merged", item
5), without a broker or HTTP: the flow benchmark's network (benchmarks.network: 100 sources in
seven countries, 10,000 SKUs at 2-6 of them) and its orders, placed a `--block` at a time
through the intake and routed by the embedded delivery's orchestrator follower (chunks of 50,
as a worker's consumer hands them over); after each block the sources report `--ship` of the
requested shipments shipped, every `--restock` blocks the rows shipped from are counted back up
to their first count (whose events wake waiting orders), every `--sweep` blocks the backorder
sweep runs, and orders still waiting or held `--cancel-after` blocks after they were placed
are cancelled (the service desk). The clock is fixed (one day, as the soak's 22 minutes).
`--ship 0 --stock-scale 1000` is the soak without shipping (`benchmarks.flow --stock-scale`):
every order's reservations stay open.

Measured per window of `--window` new orders: the orchestration role's CPU (its follower's
`apply`, wake-ups included, and the sweep) per new order, the orders it decided (new, woken,
swept) per new order, and what it keeps: the waiting orders it remembers, the inputs records it
knows, the supply view's raised positions, this process's RSS (which holds every read model
too) and malloc's bytes in use. `--census` also counts the live objects by type at each
window's end (gc), and prints the types that grew most between the first window and the last.
"""

import argparse
import gc
import os
import tempfile
import time
from collections import Counter
from pathlib import Path
from typing import Any
from uuid import UUID

import psycopg

from aggregates.errors import DomainError
from benchmarks.flow_history import Shipper
from benchmarks.network import (
    OrderMaker,
    generate_network,
    with_capacity_scaled,
    with_stock_scaled,
)
from benchmarks.procstats import rss_bytes
from benchmarks.route_batches import Backends, load_network
from benchmarks.route_profile import NOW
from benchmarks.services import scratch_database
from benchmarks.soak_trace.soak_tracer import _mallinfo
from hub.bootstrap import Hub, bootstrap
from hub.services.intake import SubmitOrder
from hub.settings import Settings
from schemas.fulfillment import FulfillmentUpdate
from schemas.sources import StockSnapshot
from schemas.submission import OrderSubmission

WAITS = ("backordered", "held")


class Meter:
    """The orchestration role's CPU and decisions, counted around its follower and service."""

    def __init__(self, hub: Hub) -> None:
        self.cpu = 0.0
        self.decided = 0
        self.outcomes: dict[UUID, str] = {}  # the last outcome of each order still waiting
        # Orders decided again, by what decided them (a wake-up, the sweep) and the outcome.
        self.again: Counter[str] = Counter()
        self._phase = "new"
        follower, service = hub.orchestrator, hub.orchestration
        apply, sweep, many = follower.apply, follower.sweep_backorders, service.orchestrate_many
        wake = follower._wake

        def phased_wake(skus: list[str]) -> int:
            self._phase = "wake"
            try:
                return wake(skus)
            finally:
                self._phase = "new"

        def timed_apply(*args: Any) -> None:
            started = time.process_time()
            try:
                apply(*args)
            finally:
                self.cpu += time.process_time() - started

        def timed_sweep() -> int:
            started, self._phase = time.process_time(), "sweep"
            try:
                return sweep()
            finally:
                self.cpu += time.process_time() - started
                self._phase = "new"

        def counted(order_ids: list[UUID]) -> list[Any]:
            results = many(order_ids)
            self.decided += len(results)
            if self._phase != "new":
                self.again.update(f"{self._phase}:{_outcome(r)}" for r in results)
            for r in results:
                if r.outcome in WAITS or (r.outcome == "unchanged" and r.status in WAITS):
                    self.outcomes.setdefault(r.order_id, r.status)
                else:
                    self.outcomes.pop(r.order_id, None)
            return results

        setattr(follower, "apply", timed_apply)  # noqa: B010 (an instance's own, for a while)
        setattr(follower, "sweep_backorders", timed_sweep)  # noqa: B010
        setattr(service, "orchestrate_many", counted)  # noqa: B010
        setattr(follower, "_wake", phased_wake)  # noqa: B010


def _outcome(result: Any) -> str:
    """An outcome, with the status that made a decision skip the order."""
    return f"skipped ({result.status})" if result.outcome == "skipped" else str(result.outcome)


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--orders", type=int, default=200_000)
    parser.add_argument("--window", type=int, default=10_000)
    parser.add_argument("--block", type=int, default=1_000)
    parser.add_argument("--ship", type=float, default=1.0)
    parser.add_argument("--restock", type=int, default=2, help="blocks between restocks")
    parser.add_argument("--cancel-after", type=int, default=10, help="blocks")
    parser.add_argument("--sweep", type=int, default=5, help="blocks between sweeps")
    parser.add_argument(
        "--stock-scale", type=float, default=1.0, help="every row but the scarce SKUs' times this"
    )
    parser.add_argument("--scarce-scale", type=float, default=1.0, help="the scarce SKUs' rows")
    parser.add_argument("--capacity-scale", type=float, default=1.0, help="daily capacities")
    parser.add_argument("--census", action="store_true")
    args = parser.parse_args()
    with scratch_database() as (server, url), tempfile.TemporaryDirectory() as tmp:
        _no_commit_wait(server, url.rsplit("/", 1)[1])
        settings = Settings(data_dir=Path(tmp), kafka_bootstrap=None, database_url=url)
        hub = bootstrap(settings, clock=lambda: NOW)
        hub.orchestrator.sweep_every = 0.0  # its sweeps are the ones this benchmark times
        _only_routing(hub)
        try:
            _run(args, hub, settings, Backends(server, url.rsplit("/", 1)[1]))
        finally:
            hub.close()


def _only_routing(hub: Hub) -> None:
    """Embedded delivery to the orchestrator and the backorder view it asks alone: the read
    models are other roles' (and most of this process's time on a long history)."""
    delivery = hub.delivery
    assert delivery is not None
    views: Any = delivery.views
    work: Any = delivery.work
    views.followers = []
    work.followers = [f for f in work.followers if f in (hub.backorders, hub.orchestrator)]


def _no_commit_wait(server: str, database: str) -> None:
    """Commits not waited for on this scratch database: building a long history on a busy
    machine's disk is otherwise most of the wall time. CPU is what is measured."""
    with psycopg.connect(server, autocommit=True) as conn:
        conn.execute(f'ALTER DATABASE "{database}" SET synchronous_commit = off')


def _run(args: argparse.Namespace, hub: Hub, settings: Settings, backends: Backends) -> None:
    network = with_stock_scaled(
        generate_network(100, 10_000, seed=7), args.stock_scale, args.scarce_scale
    )
    network = with_capacity_scaled(network, args.capacity_scale)
    load_network(hub, network)
    first = {(r.source_id, r.sku): r.on_hand for r in network.stock}
    maker, meter = OrderMaker(network, seed=11), Meter(hub)
    shipper = Shipper(settings, args.ship, seed=3)
    placed: dict[UUID, int] = {}
    shipped_rows: set[tuple[str, str]] = set()
    census: list[Counter[str]] = []
    window = _Window(meter, backends, args.window)
    print(_Window.HEADER)
    for block in range(args.orders // args.block):
        placed.update(_place(hub, maker, block, args.block))
        hub.deliver()  # routed by the orchestrator follower, the views brought up to date
        shipped_rows |= _ship(hub, shipper)
        if (block + 1) % args.restock == 0:
            _restock(hub, first, shipped_rows)
            shipped_rows = set()
        _cancel(hub, meter, placed, block - args.cancel_after)
        hub.deliver()
        if (block + 1) % args.sweep == 0:
            hub.orchestrator.sweep_backorders()
        if ((block + 1) * args.block) % args.window == 0:
            print(window.line((block + 1) * args.block, hub), flush=True)
            print("    decided again per 1,000 new orders:", window.again(), flush=True)
            if args.census:
                census.append(_census())
                if len(census) > 1:  # so far, for a run stopped before its end
                    _print_growth(census[0], census[-1])


def _place(hub: Hub, maker: OrderMaker, block: int, count: int) -> dict[UUID, int]:
    commands = []
    for n in range(block * count, (block + 1) * count):
        body = maker.order("web-shop", f"AGE-{n:08d}", "2026-11-20T08:00:00Z")
        commands.append(
            SubmitOrder(OrderSubmission.model_validate(body), "{}", "channel:web-shop", f"a-{n}")
        )
    hub.intake.place_orders(commands)
    return {c.order_id: block for c in commands}


def _ship(hub: Hub, shipper: Shipper) -> set[tuple[str, str]]:
    """The share of the shipments requested since the last call reported shipped; the rows
    they shipped from (those of the shipments left unshipped are not counted up: with
    `--ship 0` none is)."""
    shipments = shipper.new_shipments()
    bodies = shipper.updates(shipments, NOW)
    updates = [FulfillmentUpdate.model_validate(b) for b in bodies]
    for start in range(0, len(updates), 200):  # a batch at a time, as the fulfillment role
        hub.fulfillment.apply_updates(updates[start : start + 200])
    shipped = {b["shipment_id"] for b in bodies}
    return {(s, sku) for _, ship_id, s, skus in shipments if ship_id in shipped for sku in skus}


def _restock(hub: Hub, first: dict[tuple[str, str], int], rows: set[tuple[str, str]]) -> None:
    counts = [StockSnapshot(source_id=s, sku=k, on_hand=first[(s, k)]) for s, k in sorted(rows)]
    for start in range(0, len(counts), 500):  # as the stock feed applies them
        hub.catalog.apply_stock_many(counts[start : start + 500], "system:bench")


def _cancel(hub: Hub, meter: Meter, placed: dict[UUID, int], before: int) -> None:
    """Orders placed in or before block `before` still waiting or held: cancelled (an order
    that shipped in part has its rest cancelled)."""
    for order_id in [o for o in meter.outcomes if placed.get(o, before + 1) <= before]:
        try:
            hub.fulfillment.cancel_order(order_id, "bench: not served in time", "system:bench")
        except DomainError:
            pass
        meter.outcomes.pop(order_id, None)
    for order_id in [o for o, b in placed.items() if b <= before]:
        del placed[order_id]


class _Window:
    HEADER = (
        "orders | orch ms/order | decided/order | PG ms/order | waiting known | inputs known "
        "| raised rows | RSS MB | malloc in use MB"
    )

    def __init__(self, meter: Meter, backends: Backends, window: int) -> None:
        self._meter, self._backends, self._window = meter, backends, window
        self._again: Counter[str] = Counter()
        self._at = (0, meter.cpu, meter.decided, backends.cpu())

    def again(self) -> str:
        """The window's decisions of waiting orders by what made them and their outcome."""
        counts, self._again = self._meter.again - self._again, Counter(self._meter.again)
        per = 1000 / self._window
        return ", ".join(f"{k} {v * per:.1f}" for k, v in sorted(counts.items()))

    def line(self, orders: int, hub: Hub) -> str:
        meter, backend = self._meter, self._backends.cpu()
        n0, cpu0, decided0, backend0 = self._at
        self._at = (orders, meter.cpu, meter.decided, backend)
        new = orders - n0
        service = hub.orchestration
        raised = sum(len(v) for v in service.supply._raised.values())
        rss = (rss_bytes(os.getpid()) or 0) / 2**20
        in_use = _mallinfo().get("uordblks", 0) / 2**20
        return (
            f"{orders:>7,} | {1000 * (meter.cpu - cpu0) / new:6.3f} | "
            f"{(meter.decided - decided0) / new:5.2f} | {1000 * (backend - backend0) / new:6.3f} | "
            f"{len(service.waiting):>6,} | "
            f"{len(service.recorder._known):>6,} | {raised:>6,} | {rss:7.1f} | {in_use:6.1f}"
        )


def _census() -> Counter[str]:
    gc.collect()
    return Counter(type(o).__name__ for o in gc.get_objects())


def _print_growth(first: Counter[str], last: Counter[str]) -> None:
    print("live objects by type (gc), first window's end → last window's end, most grown:")
    grown = sorted(last, key=lambda t: last[t] - first.get(t, 0), reverse=True)
    for name in grown[:8]:
        print(f"  {name:<28} {first.get(name, 0):>9,} → {last[name]:>9,}")


if __name__ == "__main__":
    main()
