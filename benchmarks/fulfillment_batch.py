"""The fulfillment role's consumers alone on PostgreSQL: shipped updates and stock counts.

Run:  python -m benchmarks.fulfillment_batch [--orders 1000 --rounds 2 --skus 2000 --batch 500]
                                             [--history 10000,200000] [--rest] [--billing]
                                             [--concurrency 32 [--ungrouped]] [--sqlite]
                                             [--json out.json]

What the worker's fulfillment role does with a backlog, without Kafka: per round, `--orders`
new orders are routed by the orchestrator (setup, not measured: a network of 100 sources and
`--skus` SKUs at 2-6 of them, `benchmarks.route_profile`'s), then every shipment they were
given is reported shipped (carrier, tracking) on messages as the updates topic carries them,
handed to the role's `FulfillmentUpdatesConsumer.handle` in batches of `--batch` (what a
consumer that lags is given), and then every stock row those shipments moved is counted back to
what it held before the round (snapshots as the stock feed carries them, through
`StockFeedConsumer.handle`, the same batches). Measured for each: this process's CPU, the CPU
of this run's PostgreSQL backends (from /proc), per update or count, and the wall time of the
drain (updates/s). Fewer SKUs give the stock items longer histories (the soak's 10,000 SKUs
saw each row counted every minute). The file runs unchanged on code before the batched
updates (the consumers' interface is the same), so two worktrees' runs make the pairs. With
`--rest` the shipped updates are applied one at a time as the API's route applied a source's
update (`apply_raw_update`), in this process; `--concurrency N` keeps N in flight, grouped as the
route now groups concurrent ones (`hub.updates`), or each alone in a thread (`--ungrouped`).
With `--billing` billing's follower is then handed
the events the round's updates recorded, in batches of `--batch` (as the projections role's
consumer or the embedded routing process hands them), timed as "billing", and every shipment is
checked invoiced once; the envelopes are read beforehand, untimed (the consumer decodes each
record once for all its followers).

With `--history H1,H2,...` the rounds are measured at each history in turn: a history's
rounds are routed first, the stock rows they ship from are grown to what H orders that ship
leave them (benchmarks.fulfillment_history: written straight to the items, so that 200,000
orders' worth takes minutes, not the hours routing them would), and the role's kept stock items
are refilled as a soak's would be by then (every row read once, the kept ones the last read);
printed per history: the figures, this process's RSS (the orchestrator's included) and the bytes
a kept item holds.
"""

import argparse
import asyncio
import json
import random
import statistics
import subprocess
import sys
import tempfile
import time
from collections.abc import Callable, Sequence
from pathlib import Path
from typing import Any
from uuid import UUID

from aggregates import Order
from aggregates.stock import StockItem
from benchmarks.fulfillment_history import History
from benchmarks.rest_updates import in_flight, one_by_one, rest_label
from benchmarks.route_batches import Backends, Router, _as_on_a_worker
from benchmarks.route_profile import NOW, build_network, order_command
from benchmarks.services import drop_database, fresh_database, postgres_server
from connectors.consumed import ConsumedMessage
from connectors.publisher import RecordingPublisher
from hub.bootstrap import Hub, bootstrap
from hub.services.lookup import find_many
from hub.settings import Settings
from hub.streaming.edge_handlers import FulfillmentUpdatesConsumer, StockFeedConsumer
from schemas.event_types import EventType

UPDATES = "orderhub.fulfillment.updates"
FEED = "orderhub.inventory.snapshots"
Figures = dict[str, list[tuple[float, float, float]]]


def consumed(topic: str, offset: int, value: dict[str, Any]) -> ConsumedMessage:
    return ConsumedMessage(
        topic=topic, partition=0, offset=offset, key=None, value=json.dumps(value).encode()
    )


class Orders(Router):
    """The route benchmark's router, its orders' lines drawn from the network's SKUs."""

    def __init__(self, hub: Hub, backends: Backends, skus: int) -> None:
        super().__init__(hub, backends)
        self.skus = skus

    def accepted(self, count: int) -> list[Any]:
        start = self.hub.store.max_position()
        commands = [order_command(self.rng, self.next_order + i, self.skus) for i in range(count)]
        self.next_order += count
        self.hub.intake.place_orders(commands)
        found = self.hub.store.read_envelopes(start, 100 * count)
        return [env for _, env in found if env.type == EventType.ORDER_ACCEPTED]


class Role:
    """The fulfillment role's two consumers on one hub, and what they were handed so far."""

    def __init__(self, hub: Hub, backends: Backends) -> None:
        self.hub, self.backends = hub, backends
        settings, publisher = hub.settings, RecordingPublisher()
        self.updates = FulfillmentUpdatesConsumer(hub.fulfillment, hub.intake, publisher, settings)
        self.feed = StockFeedConsumer(hub.catalog, publisher, settings, hub.intake)
        self.offsets = {UPDATES: 0, FEED: 0}
        self.contended: Path | None = None  # the rows file of `--contention`'s writer

    def messages(self, topic: str, values: list[dict[str, Any]]) -> list[ConsumedMessage]:
        start = self.offsets[topic]
        self.offsets[topic] += len(values)
        return [consumed(topic, start + n, v) for n, v in enumerate(values)]

    def timed(self, handle: Callable[[Sequence[ConsumedMessage]], Any], batches: list[Any]) -> Any:
        """This process's CPU, the backends' CPU and the wall time (s) of handling these."""

        async def drain() -> None:
            for batch in batches:
                await handle(batch)

        backend, cpu, wall = self.backends.cpu(), time.process_time(), time.perf_counter()
        asyncio.run(drain())
        return (
            time.process_time() - cpu,
            self.backends.cpu() - backend,
            time.perf_counter() - wall,
        )


def shipped(orders: dict[UUID, Order]) -> tuple[list[dict[str, Any]], set[tuple[str, str]]]:
    """A shipped update for every shipment of these orders, and the stock rows they move."""
    updates: list[dict[str, Any]] = []
    rows: set[tuple[str, str]] = set()
    for order in orders.values():
        for shipment_id, shipment in order.shipments.items():
            updates.append(
                {
                    "order_id": str(order.id),
                    "shipment_id": shipment_id,
                    "source_id": shipment.source_id,
                    "kind": "shipped",
                    "at": "2026-11-20T12:00:00Z",
                    "carrier": "DHL",
                    "tracking": f"JD{len(updates):08d}",
                }
            )
            rows.update((shipment.source_id, line.sku) for line in shipment.lines)
    return updates, rows


def counts(rows: set[tuple[str, str]], before: dict[str, int]) -> list[dict[str, Any]]:
    """Each row counted back up to what it held before the round."""
    return [
        {
            "kind": "snapshot",
            "source_id": source_id,
            "sku": sku,
            "on_hand": before[f"{source_id}/{sku}"],
            "counted_at": "2026-11-20T13:00:00Z",
        }
        for source_id, sku in sorted(rows)
    ]


def on_hand(hub: Hub, rows: set[tuple[str, str]]) -> dict[str, int]:
    items = [hub.catalog.find_stock(s, k) for s, k in rows]
    return {f"{i.source_id}/{i.sku}": i.on_hand for i in items if isinstance(i, StockItem)}


Routed = tuple[list[UUID], list[dict[str, Any]], set[tuple[str, str]]]


def routed(router: Orders, count: int) -> Routed:
    """`count` new orders routed (setup): their ids, a shipped update for each of their
    shipments, and the stock rows those move."""
    accepted = router.accepted(count)
    router.timed([accepted[i : i + 50] for i in range(0, len(accepted), 50)])
    ids = [UUID(str(env.subject).rsplit(":", 1)[-1]) for env in accepted]
    return (ids, *shipped(find_many(router.hub.store, ids, Order)))


def one_round(router: Orders, role: Role, args: argparse.Namespace, figures: Figures) -> None:
    measured(router, role, args, figures, routed(router, args.orders))


def measured(
    router: Orders, role: Role, args: argparse.Namespace, figures: Figures, round_: Routed
) -> None:
    """The round's shipped updates, then its rows counted back up, each timed."""
    ids, updates, rows = round_
    before = on_hand(router.hub, rows)
    if role.contended is not None:  # the writer meanwhile moves to this round's rows
        role.contended.write_text(json.dumps(sorted(rows)))
        time.sleep(1.2)
    size = args.batch
    start = router.hub.store.max_position()
    messages = role.messages(UPDATES, updates)
    handle: Callable[[Sequence[ConsumedMessage]], Any] = role.updates.handle
    if args.rest:
        handle = one_by_one(router.hub) if args.concurrency <= 1 else in_flight(router.hub, args)
    cpu, backend, wall = role.timed(
        handle, [messages[i : i + size] for i in range(0, len(messages), size)]
    )
    figures.setdefault("shipped updates", []).append(
        (1000 * cpu / len(updates), 1000 * backend / len(updates), len(updates) / wall)
    )
    if args.billing:
        figures.setdefault("billing", []).append(billed(role, start, len(updates), size))
    snapshots = role.messages(FEED, counts(rows, before))
    cpu, backend, wall = role.timed(
        role.feed.handle, [snapshots[i : i + size] for i in range(0, len(snapshots), size)]
    )
    figures.setdefault("stock counts", []).append(
        (1000 * cpu / len(snapshots), 1000 * backend / len(snapshots), len(snapshots) / wall)
    )
    after = find_many(router.hub.store, ids, Order)
    left = sum(s.state != "shipped" for o in after.values() for s in o.shipments.values())
    assert not left, f"{left} shipped updates not applied"
    if args.billing:
        unbilled = sum(i not in o.invoices for o in after.values() for i in o.shipments)
        assert not unbilled, f"{unbilled} shipments not invoiced"


def billed(role: Role, start: int, shipped: int, size: int) -> tuple[float, float, float]:
    """Billing's follower handed the events recorded after `start`: CPU per shipped update of
    this process and of the backends, and shipped updates per second of its wall time."""
    hub = role.hub
    envelopes = [env for _, env in hub.store.read_envelopes(start, 1_000_000)]
    backend, cpu, wall = role.backends.cpu(), time.process_time(), time.perf_counter()
    for i in range(0, len(envelopes), size):
        hub.billing.apply(envelopes[i : i + size], {})
    return (
        1000 * (time.process_time() - cpu) / shipped,
        1000 * (role.backends.cpu() - backend) / shipped,
        shipped / (time.perf_counter() - wall),
    )


def at_histories(router: Orders, role: Role, args: argparse.Namespace, figures: Figures) -> None:
    """The rounds measured at each history of `--history`: all of a history's rounds routed,
    the rows they ship from grown to that history, the kept items refilled, then each round
    measured."""
    history = History(router.hub)
    for orders in sorted(int(h) for h in args.history.split(",")):
        rounds = [routed(router, args.orders) for _ in range(args.rounds)]
        history.grow({row for _, _, rows in rounds for row in rows}, orders)
        at: Figures = {}
        for round_ in rounds:
            measured(router, role, args, at, round_)
        figures |= {f"{what} @{orders:,}": runs for what, runs in at.items()}
        figures[f"memory @{orders:,}"] = [history.memory()]


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--orders", type=int, default=1000, help="orders per round")
    parser.add_argument("--rounds", type=int, default=2)
    parser.add_argument("--skus", type=int, default=2000)
    parser.add_argument("--batch", type=int, default=500)
    parser.add_argument(
        "--history",
        default="",
        help="comma-separated orders of history (e.g. 10000,200000): the rounds measured at each",
    )
    parser.add_argument(
        "--contention",
        type=float,
        default=0.0,
        help="rows/s another process saves meanwhile among the round's rows, as orchestration's "
        "reservations do (benchmarks.fulfillment_contention; its backend's CPU is in "
        "PostgreSQL's figure)",
    )
    parser.add_argument(
        "--rest",
        action="store_true",
        help="the shipped updates applied one at a time as the REST route does, not in batches",
    )
    parser.add_argument(
        "--concurrency",
        type=int,
        default=1,
        help="with --rest: this many updates in flight, as a source's connector posting several "
        "at once: grouped as the route groups them (`hub.updates`), or each alone with --ungrouped",
    )
    parser.add_argument(
        "--ungrouped",
        action="store_true",
        help="with --rest --concurrency: each update applied alone in a thread of its own, as the "
        "route did before it grouped them",
    )
    parser.add_argument(
        "--sqlite",
        action="store_true",
        help="the embedded hub's store (SQLite in a temporary folder) instead of PostgreSQL",
    )
    parser.add_argument(
        "--billing",
        action="store_true",
        help="then billing's follower handed the events the updates recorded, timed",
    )
    parser.add_argument("--json", type=Path)
    args = parser.parse_args()
    server = None if args.sqlite else postgres_server()
    url = None if server is None else fresh_database(server)
    figures: Figures = {}
    try:
        with tempfile.TemporaryDirectory(prefix="orderhub-fulfil-") as tmp:
            settings = Settings(data_dir=Path(tmp), kafka_bootstrap=None, database_url=url)
            hub = bootstrap(settings, clock=lambda: NOW)
            if server is not None:
                _as_on_a_worker(hub)
            build_network(hub, random.Random(7), 100, args.skus)
            hub.deliver()
            backends: Any = NoBackends()
            if server is not None and url is not None:
                backends = Backends(server, url.rsplit("/", 1)[1])
            router, role = Orders(hub, backends, args.skus), Role(hub, backends)
            writer = contending(role, url or "", Path(tmp), args.contention if url else 0.0)
            try:
                if args.history:
                    at_histories(router, role, args, figures)
                for _ in range(0 if args.history else args.rounds):
                    one_round(router, role, args, figures)
            finally:
                if writer is not None:
                    writer.terminate()
                    writer.wait()
            hub.close()
    finally:
        if server is not None and url is not None:
            drop_database(server, url)
    report(args, figures)


class NoBackends:
    """`--sqlite`: the store is in this process; no server's CPU to add."""

    def cpu(self) -> float:
        return 0.0


def contending(role: Role, url: str, tmp: Path, rate: float) -> "subprocess.Popen[bytes] | None":
    """`--contention`'s writer, started in a process of its own (its CPU is not this one's)."""
    if rate <= 0:
        return None
    role.contended = tmp / "contended-rows.json"
    role.contended.write_text("[]")
    command = [sys.executable, "-m", "benchmarks.fulfillment_contention", url]
    return subprocess.Popen([*command, str(role.contended), str(rate)])


def report(args: argparse.Namespace, figures: Figures) -> None:
    print(
        f"{'SQLite' if args.sqlite else 'PostgreSQL'}, 100 sources, {args.skus} SKUs, "
        f"{args.orders} orders x {args.rounds} "
        f"rounds, batches of {args.batch}{rest_label(args)}; "
        "medians:"
    )
    summary: dict[str, Any] = {}
    for what, runs in figures.items():
        if what.startswith("memory"):
            rss, kept, per_item = runs[0]
            summary[what] = {"rss_mb": rss, "kept": kept, "bytes_per_kept": per_item}
            print(f"  {what}: RSS {rss:.1f} MB, {kept:,.0f} stock items kept, "
                  f"{per_item:,.0f} bytes each")  # fmt: skip
            continue
        cpu = statistics.median(r[0] for r in runs)
        backend = statistics.median(r[1] for r in runs)
        rate = statistics.median(r[2] for r in runs)
        summary[what] = {"role_ms": cpu, "postgres_ms": backend, "per_second": rate}
        print(
            f"  {what:>16}: role {cpu:6.3f} ms CPU each, PostgreSQL {backend:6.3f}, "
            f"both {cpu + backend:6.3f}; drained at {rate:8.0f}/s "
            f"(rounds: {' '.join(f'{r[0] + r[1]:.3f}' for r in runs)} ms)"
        )
    if args.json:
        args.json.write_text(json.dumps({"args": vars(args), "figures": summary}, default=str))


if __name__ == "__main__":
    main()
