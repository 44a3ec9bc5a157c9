"""Routing on a realistic network, in the embedded store: where each routed order's time goes.

    python -m benchmarks.route_profile [--sources 100] [--skus 10000] [--orders 300]

Builds a network in a SQLite event store in a temporary directory (sources in several
countries, each SKU stocked at 2-6 of them, a few SKUs scarce), then:

1. routes orders of 1-7 lines through the orchestration service directly (no HTTP, no
   followers): orders/s, CPU ms per order, event-store loads per order;
2. runs the embedded path (intake, then in-process delivery to every follower, the orchestrator
   among them) for another set of orders: orders/s and CPU ms per order end to end; with
   `--callers N`, also N concurrent callers sharing the delivery thread, as the API under load;
3. measures the stored `Routed` events: bytes per event (the stored JSON of the event);
4. times each part of taking and recording the decisions of step 1 again, in CPU per
   decision (`benchmarks.record_costs`).

No broker and no database server: this isolates the hot path's own cost. The open-loop
benchmark of the whole path on Kafka and PostgreSQL is `benchmarks.flow`.
"""

import argparse
import random
import tempfile
import threading
import time
from collections.abc import Callable, Iterator
from contextlib import contextmanager
from dataclasses import dataclass
from datetime import UTC, datetime
from decimal import Decimal
from pathlib import Path
from typing import Any

from aggregates.decision_inputs import RecordedInputs, RecordedSource
from aggregates.order import Order
from aggregates.stock import StockItem
from benchmarks.record_costs import recorded_inputs, show_record_costs
from hub.bootstrap import Hub, bootstrap
from hub.services.intake import SubmitOrder
from hub.services.supply_view import event_topic
from hub.settings import Settings
from schemas.sources import SourceDefinition
from schemas.submission import OrderSubmission

NOW = datetime(2026, 11, 20, 9, 0, tzinfo=UTC)
# (country, lat, lon) of a few cities; sources and customers are spread around them.
CITIES = [
    ("FR", 48.86, 2.35),
    ("FR", 45.76, 4.84),
    ("DE", 52.52, 13.40),
    ("DE", 48.14, 11.58),
    ("BE", 50.85, 4.35),
    ("NL", 52.37, 4.90),
    ("ES", 40.42, -3.70),
    ("IT", 45.46, 9.19),
]
COUNTRIES = sorted({c for c, _, _ in CITIES})


@dataclass
class Figures:
    orders: int
    seconds: float
    cpu_seconds: float
    loads: int

    def show(self, label: str) -> None:
        n = max(self.orders, 1)
        print(
            f"{label:<28} {self.orders:>6} orders  {self.orders / self.seconds:>8.1f} orders/s  "
            f"{1000 * self.cpu_seconds / n:>8.2f} CPU ms/order  "
            f"{self.loads / n:>8.2f} store loads/order"
        )


def source_definition(rng: random.Random, n: int) -> SourceDefinition:
    country, lat, lon = rng.choice(CITIES)
    kind = rng.choice(["warehouse", "warehouse", "store", "dropship"])
    return SourceDefinition.model_validate(
        {
            "source_id": f"src-{n:03d}",
            "name": f"Source {n}",
            "kind": kind,
            "lat": round(lat + rng.uniform(-1, 1), 4),
            "lon": round(lon + rng.uniform(-1, 1), 4),
            "country": country,
            "ships_to": COUNTRIES,
            "delivery_methods": ["standard", "express"],
            "daily_capacity": 1_000_000,
            "lead_time_days": rng.randint(1, 4),
            "priority": rng.randint(0, 3),
            "cost": {
                "base": f"{rng.uniform(2, 6):.2f}",
                "per_unit": f"{rng.uniform(0.1, 0.8):.2f}",
                "per_km": "0.01",
                "currency": "EUR",
            },
        }
    )


def build_network(hub: Hub, rng: random.Random, sources: int, skus: int, depth: int = 1) -> int:
    """Sources through the catalog service; stock saved in large batches (setup, not measured).
    `depth` multiplies the on-hand of the rows that are not scarce."""
    for n in range(sources):
        hub.catalog.register_source(source_definition(rng, n), actor="system:bench")
    ids = [f"src-{n:03d}" for n in range(sources)]
    rows = 0
    batch: list[StockItem] = []
    for s in range(skus):
        scarce = s % 10 == 0
        for source_id in rng.sample(ids, rng.randint(2, min(6, sources))):
            on_hand = rng.randint(0, 3) if scarce else rng.randint(20, 500) * depth
            batch.append(StockItem(source_id, sku_name(s), on_hand, 0, NOW))
            rows += 1
        if len(batch) >= 2000:
            hub.store.save(*batch)
            batch = []
    if batch:
        hub.store.save(*batch)
    return rows


def sku_name(n: int) -> str:
    return f"SKU-{n:05d}"


def order_command(rng: random.Random, n: int, skus: int) -> SubmitOrder:
    country, lat, lon = rng.choice(CITIES)
    lines = [
        {
            "line_id": str(i + 1),
            "sku": sku_name(s),
            "quantity": rng.randint(1, 3),
            "unit_price": f"{rng.uniform(5, 200):.2f}",
        }
        for i, s in enumerate(rng.sample(range(skus), rng.randint(1, 7)))
    ]
    data: dict[str, Any] = {
        "channel": "web-shop",
        "external_id": f"BENCH-{n:07d}",
        "placed_at": "2026-11-20T08:00:00Z",
        "customer": {"id": f"CUST-{n}", "name": "Bench Customer"},
        "ship_to": {
            "name": "Bench Customer",
            "line1": "1 rue du Test",
            "city": "City",
            "postal_code": "00000",
            "country": country,
            "lat": round(lat + rng.uniform(-0.5, 0.5), 4),
            "lon": round(lon + rng.uniform(-0.5, 0.5), 4),
        },
        "lines": lines,
        "currency": "EUR",
        "payment_state": "authorized",
    }
    return SubmitOrder(
        submission=OrderSubmission.model_validate(data),
        raw_payload="{}",
        actor="channel:web-shop",
        correlation_id=f"bench-{n}",
    )


@contextmanager
def counting_loads(hub: Hub) -> Iterator[Callable[[], int]]:
    """Counts reads of aggregates from the event store: one per aggregate read alone
    (`repository.get`), one per read of many together (`get_many`: one query)."""
    store = hub.store
    # Stock items load through the repository that reads their snapshots.
    repositories = [store.repository, store.repository_for(StockItem)]
    originals, original_many = [r.get for r in repositories], store.get_many
    count = 0

    def counted(original: Callable[..., Any]) -> Callable[..., Any]:
        def get(*args: Any, **kwargs: Any) -> Any:
            nonlocal count
            count += 1
            return original(*args, **kwargs)

        return get

    def get_many(ids: Any, kind: Any = None) -> Any:
        nonlocal count
        wanted = list(ids)
        count += 1 if wanted else 0
        return original_many(wanted, kind)

    for repository, original in zip(repositories, originals, strict=True):
        repository.get = counted(original)  # type: ignore[method-assign]
    store.get_many = get_many  # type: ignore[method-assign]
    try:
        yield lambda: count
    finally:
        for repository, original in zip(repositories, originals, strict=True):
            repository.get = original  # type: ignore[method-assign]
        vars(store).pop("get_many", None)


def route_directly(hub: Hub, rng: random.Random, first: int, count: int, skus: int) -> Figures:
    commands = [order_command(rng, first + i, skus) for i in range(count)]
    hub.intake.place_orders(commands)
    with counting_loads(hub) as loads:
        wall, cpu = time.perf_counter(), time.process_time()
        for command in commands:
            hub.orchestration.orchestrate(command.order_id)
        wall, cpu = time.perf_counter() - wall, time.process_time() - cpu
        return Figures(count, wall, cpu, loads())


def route_embedded(
    hub: Hub, rng: random.Random, first: int, count: int, skus: int, per_call: int
) -> Figures:
    """Intake then delivery, as the embedded API does per request (per_call orders each)."""
    commands = [order_command(rng, first + i, skus) for i in range(count)]
    with counting_loads(hub) as loads:
        wall, cpu = time.perf_counter(), time.process_time()
        for i in range(0, count, per_call):
            hub.intake.place_orders(commands[i : i + per_call])
            hub.deliver()
        wall, cpu = time.perf_counter() - wall, time.process_time() - cpu
        return Figures(count, wall, cpu, loads())


def route_concurrently(
    hub: Hub, rng: random.Random, first: int, count: int, skus: int, callers: int
) -> Figures:
    """As the embedded API under load: `callers` threads each record an order and wait for
    delivery (hub.deliver), sharing the passes of the delivery thread."""
    commands = [order_command(rng, first + i, skus) for i in range(count)]
    assert hub.delivery is not None
    hub.delivery.start()
    per_caller = [commands[i::callers] for i in range(callers)]

    def caller(mine: list[SubmitOrder]) -> None:
        for command in mine:
            hub.intake.place_orders([command])
            hub.deliver()

    with counting_loads(hub) as loads:
        wall, cpu = time.perf_counter(), time.process_time()
        threads = [threading.Thread(target=caller, args=(mine,)) for mine in per_caller]
        for thread in threads:
            thread.start()
        for thread in threads:
            thread.join()
        wall, cpu = time.perf_counter() - wall, time.process_time() - cpu
        hub.delivery.stop()
        return Figures(count, wall, cpu, loads())


def routed_sizes(hub: Hub, aggregate: type = Order, name: str = "Routed") -> list[int]:
    """Bytes of each stored `Routed` event (or another), its serialised state as stored."""
    topic = event_topic(aggregate, name)
    notifications = hub.store.recorder.select_notifications(
        start=None, limit=10_000_000, topics=[topic]
    )
    return [len(n.state) for n in notifications]


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--sources", type=int, default=100)
    parser.add_argument("--skus", type=int, default=10_000)
    parser.add_argument("--orders", type=int, default=300, help="orders routed directly")
    parser.add_argument("--embedded-orders", type=int, default=200)
    parser.add_argument("--per-call", type=int, default=1, help="orders per embedded delivery")
    parser.add_argument(
        "--callers", type=int, default=0, help="also: this many concurrent embedded callers"
    )
    parser.add_argument("--seed", type=int, default=7)
    args = parser.parse_args()
    rng = random.Random(args.seed)
    with tempfile.TemporaryDirectory(prefix="orderhub-route-") as tmp:
        settings = Settings(data_dir=Path(tmp), kafka_bootstrap=None, database_url=None)
        hub = bootstrap(settings, clock=lambda: NOW)
        try:
            started = time.perf_counter()
            rows = build_network(hub, rng, args.sources, args.skus)
            hub.deliver()
            print(
                f"network: {args.sources} sources, {args.skus} SKUs, {rows} stock rows "
                f"(built and delivered in {time.perf_counter() - started:.1f} s)"
            )
            route_directly(hub, rng, 0, 20, args.skus)  # warm-up: imports, compiled policy
            hub.deliver()
            with recorded_inputs(hub) as seen:
                direct = route_directly(hub, rng, 1_000, args.orders, args.skus)
            hub.deliver()  # the followers catch up before the embedded round
            embedded = route_embedded(
                hub, rng, 1_000_000, args.embedded_orders, args.skus, args.per_call
            )
            direct.show("orchestrate() directly")
            embedded.show(f"embedded, {args.per_call}/delivery")
            show_record_costs(hub, seen)
            if args.callers:
                hub.deliver()
                concurrent = route_concurrently(
                    hub, rng, 2_000_000, args.embedded_orders, args.skus, args.callers
                )
                concurrent.show(f"embedded, {args.callers} callers")
            for label, aggregate, name in (
                ("Routed events", Order, "Routed"),
                ("Decision inputs records", RecordedInputs, "Recorded"),
                ("Source definitions records", RecordedSource, "Recorded"),
            ):
                sizes = routed_sizes(hub, aggregate, name)
                if sizes:
                    mean = Decimal(sum(sizes)) / len(sizes)
                    print(
                        f"{label}: {len(sizes)}, bytes each: mean {mean:.0f}, "
                        f"max {max(sizes)}, min {min(sizes)}"
                    )
        finally:
            hub.close()


if __name__ == "__main__":
    main()
