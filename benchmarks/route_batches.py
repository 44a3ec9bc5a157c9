"""The orchestration role's batch path alone, on PostgreSQL: CPU per order by batch size.

Run:  python -m benchmarks.route_batches [--sizes 1,5,20,50] [--orders 200] [--rounds 3]
                                         [--idle 200] [--json out.json] [--digests FILE]
                                         [--stored-forms] [--network 20,100,500]

What the worker's consumer hands the orchestrator, without Kafka: the `OrderAccepted` events of
new orders (decoded envelopes, as the plain consumer's feed gives them) in batches of each size,
each batch one `OrchestrationFollower.apply` with its positions (decide, reserve, record, save,
positions). Measured per size: the router's own CPU (process time) and the CPU of this run's
PostgreSQL backends (read from /proc), per routed order. Cost per order against 1/size is a
line: its slope is what each batch costs whatever it holds (commits, reads per chunk,
positions), its intercept what each order costs. `--idle N` batches without a trigger (a batch
of the stock events the role reads: reservations, which wake nobody) give that fixed cost
alone. Sizes and idle batches alternate within each round, on fresh orders, so a busy machine
affects all alike; medians over the rounds. The network is `benchmarks.route_profile`'s
(100 sources, 10,000 SKUs). Orders, network and clock are seeded and fixed: `--digests FILE`
writes each decision's order, type, decision digest and inputs digest, in the log's order, to
compare (`cmp`) the decisions of two versions of the code. `--stored-forms` routes each size
twice a round, the orchestrator's events written straight to their stored form and through
their aggregates, in turns, in one process: what those writers save, apart from the machine's
drift between runs. `--network N,...` routes on the flow benchmark's network instead
(benchmarks.network: N sources in seven countries, stores serving their own country, same-day
orders; the same seeds as `benchmarks.route_aging`), one network after the other: what routing
costs per order as the network grows (issue 10: cost must not grow with the network's size).
"""

import argparse
import gc
import json
import random
import statistics
import tempfile
import time
from collections.abc import Callable
from pathlib import Path
from typing import Any

import psycopg

from aggregates.stock import StockItem
from benchmarks.network import Network, OrderMaker, generate_network
from benchmarks.procstats import CpuTotal
from benchmarks.route_profile import NOW, build_network, order_command
from benchmarks.services import drop_database, fresh_database, postgres_server
from hub.bootstrap import Hub, bootstrap
from hub.services.intake import SubmitOrder
from hub.settings import Settings
from schemas.event_types import EventType
from schemas.sources import SourceDefinition
from schemas.submission import OrderSubmission

STREAM = "bench.orders:0"


class Backends:
    """CPU of the PostgreSQL backends of one database (this run's), closed ones included."""

    def __init__(self, server: str, database: str) -> None:
        self._server, self._database = server, database
        self._total = CpuTotal()

    def cpu(self) -> float:
        with psycopg.connect(self._server, autocommit=True) as conn:
            rows = conn.execute(
                "SELECT pid FROM pg_stat_activity WHERE datname = %s", (self._database,)
            ).fetchall()
        return self._total.of([pid for (pid,) in rows])


class Collector:
    """The cyclic collector's work while batches are applied: its CPU and its full passes (a
    full pass walks the whole heap, the supply view's ~40,000 holdings included: ~0.1 s each
    here, so one landing in a size's round was most of that round's difference)."""

    def __init__(self) -> None:
        self.seconds, self.full = 0.0, 0
        self._started = 0.0
        gc.callbacks.append(self._seen)

    def _seen(self, phase: str, info: dict[str, int]) -> None:
        if phase == "start":
            self._started = time.process_time()
            return
        self.seconds += time.process_time() - self._started
        self.full += info["generation"] == 2

    def taken(self) -> tuple[float, int]:
        return self.seconds, self.full


class Router:
    def __init__(
        self, hub: Hub, backends: Backends, make: Callable[[int], SubmitOrder] | None = None
    ) -> None:
        self.hub, self.backends = hub, backends
        self.rng = random.Random(7)
        self.make = make or (lambda n: order_command(self.rng, n, 10_000))
        self.next_order = 0
        self.offset = 0

    def accepted(self, count: int) -> list[Any]:
        """`count` new orders placed; their OrderAccepted envelopes."""
        start = self.hub.store.max_position()
        commands = [self.make(self.next_order + i) for i in range(count)]
        self.next_order += count
        self.hub.intake.place_orders(commands)
        found = self.hub.store.read_envelopes(start, 100 * count)
        return [env for _, env in found if env.type == EventType.ORDER_ACCEPTED]

    def positions(self) -> dict[str, int]:
        self.offset += 10
        return {STREAM: self.offset}

    def timed(self, batches: list[list[Any]]) -> tuple[float, float]:
        """Router CPU and backend CPU (seconds) of applying these batches."""
        apply = self.hub.orchestrator.apply
        positions = [self.positions() for _ in batches]
        backend, cpu = self.backends.cpu(), time.process_time()
        for batch, moved in zip(batches, positions, strict=True):
            apply(batch, moved)
        return time.process_time() - cpu, self.backends.cpu() - backend


def _digests(hub: Hub) -> list[str]:
    kinds = (EventType.ORDER_ROUTED, EventType.ORDER_HELD)
    lines, after = [], None
    while batch := hub.store.read_envelopes(after, 5_000):
        after = batch[-1][0]
        for _, env in batch:
            if env.type in kinds:
                data = env.data
                digests = f"{data.get('decision_digest')} {data.get('inputs_digest')}"
                lines.append(f"{env.subject} {env.type} {digests}\n")
    return lines


def load_network(hub: Hub, network: Network) -> None:
    """Sources through the catalog; stock saved in large batches (setup, not measured)."""
    for source in network.sources:
        hub.catalog.register_source(SourceDefinition.model_validate(source), "system:bench")
    items = [StockItem(r.source_id, r.sku, r.on_hand, 0, NOW) for r in network.stock]
    for start in range(0, len(items), 2000):
        hub.store.save(*items[start : start + 2000])
    hub.deliver()


def _as_on_a_worker(hub: Hub) -> None:
    """The orchestrator as a worker runs it (this hub has no broker, so `bootstrap` made it as
    embedded delivery does): its positions written as often as a worker writes them, and no
    backorder sweep of its own before a batch (a worker's runs on a timer)."""
    if hasattr(hub.orchestrator, "sweep_every"):
        hub.orchestrator.sweep_every = 0.0
    try:
        from hub.services.followers import WORKER_POSITIONS_SECONDS
    except ImportError:  # code from before they were written less often: every batch
        return
    sparse = getattr(hub.orchestrator, "_positions", None)
    if sparse is not None:  # projections.positions.SparsePositions
        sparse.every = WORKER_POSITIONS_SECONDS
    else:
        hub.orchestrator._positions_every = WORKER_POSITIONS_SECONDS  # type: ignore[attr-defined]


def network_router(server: str, url: str, tmp: str, sources: int = 0) -> Router:
    """A hub on the database at `url` (files in `tmp`) holding the network, its orchestrator
    as a worker runs it, and the router that hands it orders. `sources`: the flow benchmark's
    network of that many sources and its orders, else route_profile's of 100."""
    settings = Settings(data_dir=Path(tmp), kafka_bootstrap=None, database_url=url)
    hub = bootstrap(settings, clock=lambda: NOW)
    _as_on_a_worker(hub)
    backends = Backends(server, url.rsplit("/", 1)[1])
    if not sources:
        build_network(hub, random.Random(7), 100, 10_000)
        hub.deliver()
        return Router(hub, backends)
    network = generate_network(sources, 10_000, seed=7)
    load_network(hub, network)
    maker = OrderMaker(network, seed=11)

    def make(n: int) -> SubmitOrder:
        body = maker.order("web-shop", f"NET-{n:08d}", "2026-11-20T08:00:00Z")
        submission = OrderSubmission.model_validate(body)
        return SubmitOrder(submission, "{}", "channel:web-shop", f"net-{n}")

    return Router(hub, backends, make)


Figures = dict[str, list[tuple[float, float]]]
Collected = dict[int, list[tuple[float, int]]]


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--sizes", default="1,5,20,50")
    parser.add_argument("--orders", type=int, default=200, help="orders per size and round")
    parser.add_argument("--rounds", type=int, default=3)
    parser.add_argument("--idle", type=int, default=200, help="batches without a trigger")
    parser.add_argument("--json", type=Path)
    parser.add_argument("--digests", type=Path)
    parser.add_argument(
        "--stored-forms",
        action="store_true",
        help="each size twice a round: events written straight to their stored form, and "
        "through their aggregates (hub.services.routed_events, reserved_events), alternated "
        "(this benchmark's store writes plain JSON, so both ways are open to it)",
    )
    parser.add_argument(
        "--network",
        default="",
        help="sources of the flow benchmark's network, e.g. 20,100,500 (one after the other); "
        "default: route_profile's network of 100",
    )
    args = parser.parse_args()
    server = postgres_server()
    digests, out = args.digests, args.json
    for sources in [int(n) for n in args.network.split(",")] if args.network else [0]:
        url = fresh_database(server)
        if args.network:  # a file per network: FILE.20, FILE.100, ...
            args.digests = digests and digests.with_name(f"{digests.name}.{sources}")
            args.json = out and out.with_name(f"{out.name}.{sources}")
        try:
            figures, collected = _measure(args, server, url, sources)
        finally:
            drop_database(server, url)
        if sources:
            print(f"The flow benchmark's network of {sources} sources:")
        _report(args, figures, collected)


def _measure(
    args: argparse.Namespace, server: str, url: str, sources: int = 0
) -> tuple[Figures, Collected]:
    sizes = [int(s) for s in args.sizes.split(",")]
    figures: Figures = {}
    collected: Collected = {}
    collector = Collector()
    with tempfile.TemporaryDirectory(prefix="orderhub-batches-") as tmp:
        router = network_router(server, url, tmp, sources)
        hub = router.hub
        warm = router.accepted(40)
        router.timed([warm[:20], warm[20:]])  # imports, the compiled policy, the caches
        for n in range(args.rounds):
            for size in sizes:
                for way in _ways(args.stored_forms, n):
                    _stored_forms(hub, way)
                    accepted = router.accepted(args.orders)
                    batches = [accepted[i : i + size] for i in range(0, len(accepted), size)]
                    seconds, full = collector.taken()
                    cpu, backend = router.timed(batches)
                    count = len(accepted)
                    seconds, full = collector.taken()[0] - seconds, collector.taken()[1] - full
                    collected.setdefault(size, []).append((1000 * seconds / count, full))
                    figures.setdefault(f"batches of {size}{way}", []).append(
                        (1000 * cpu / count, 1000 * backend / count)
                    )
            if args.idle:
                cpu, backend = router.timed([[] for _ in range(args.idle)])
                figures.setdefault("batch without a trigger", []).append(
                    (1000 * cpu / args.idle, 1000 * backend / args.idle)
                )
        if args.digests:
            args.digests.write_text("".join(_digests(hub)))
        hub.close()
    return figures, collected


def _ways(both: bool, round_number: int) -> list[str]:
    """The ways a size is routed in a round: as the code does, or both, in turns first."""
    if not both:
        return [""]
    ways = [", stored straight", ", aggregates"]
    return ways if round_number % 2 == 0 else ways[::-1]


def _stored_forms(hub: Hub, way: str) -> None:
    """Routings and reservations written straight to their stored form, or not (code before
    those writers has neither, and is left as it is)."""
    orchestration = hub.orchestrator._orchestration
    writers = [getattr(orchestration, "_routed", None)]
    writers.append(getattr(getattr(orchestration, "_items", None), "_reserved", None))
    for writer in writers:
        if writer is not None and way:
            writer.usable = way == ", stored straight"


def _report(args: argparse.Namespace, figures: Figures, collected: Collected) -> None:
    print(f"PostgreSQL, {args.orders} orders x {args.rounds} rounds; medians:")
    summary = {}
    for way, runs in figures.items():
        router_ms = statistics.median(r for r, _ in runs)
        backend_ms = statistics.median(b for _, b in runs)
        unit = "batch" if "without" in way else "order"
        summary[way] = {"router_ms": router_ms, "postgres_ms": backend_ms, "per": unit}
        print(
            f"  {way:>24}: router {router_ms:6.3f} ms CPU/{unit}, "
            f"PostgreSQL {backend_ms:6.3f} ms CPU/{unit}, both {router_ms + backend_ms:6.3f}"
        )
    for size, passes in collected.items():
        print(
            f"  {'collector, batches of ' + str(size):>24}: "
            f"{' '.join(f'{ms:.3f}' for ms, _ in passes)} ms CPU/order by round, "
            f"{sum(full for _, full in passes)} full passes"
        )
    if args.json:
        args.json.write_text(
            json.dumps(
                {"args": vars(args), "figures": summary, "collector": collected}, default=str
            )
        )


if __name__ == "__main__":
    main()
