"""How long the supply view takes to start after a long history: a full rebuild from the log vs
its newest checkpoint and the log after it.

Run:  python -m benchmarks.supply_restart [--postgres] [--orders 54000] [--tail-orders 6000]
                                          [--rounds 3]

The network of `route_history` (100 sources, 10,000 SKUs each at 2-6 of them, deep stock, orders
of 1-7 lines), orders placed and routed in chunks of 50 in one process on the event store, as
the orchestrator follower does: `--orders` of history (54,000: about 420,000 events in the log,
200,000 of them about supply), a checkpoint of the view, then `--tail-orders` more (6,000:
about the EVERY_EVENTS supply events after which the routing process writes its next one, so
the worst tail a start meets). Then, `--rounds` times (medians printed), on a store opened
afresh as a starting process does: the view rebuilt from the log; started from the checkpoint
behind the tail; started from a checkpoint at the end (as after a clean stop). And what a
checkpoint costs the process that writes it: the copy made under the view's lock (what routing
may wait for), the encoding, the write, the bytes.
"""

import argparse
import random
import statistics
import tempfile
import time
from collections.abc import Callable
from datetime import UTC, datetime
from pathlib import Path
from uuid import UUID

from aggregates.stock import StockItem
from benchmarks.route_history import DEEP, SKUS, route
from benchmarks.route_profile import NOW, build_network, sku_name
from benchmarks.services import drop_database, fresh_database, postgres_server
from hub.bootstrap import Hub, bootstrap
from hub.services.supply_checkpoint import FORMAT, VIEW, SupplyCheckpoints, decode, encode
from hub.services.supply_view import SupplyView
from hub.settings import Settings
from hub.store import OrderStore
from hub.view_checkpoints import CheckpointTable, StoredCheckpoint, checkpoint_table

BATCH = 500  # orders whose stock events are saved together


def history(settings: Settings, orders: int, tail: int, routed: bool) -> tuple[bytes, bytes]:
    """The history written to the store; the checkpoints (bytes) before and after the tail."""
    hub = bootstrap(settings, clock=lambda: NOW)
    try:
        rng = random.Random(11)
        build_network(hub, rng, 100, SKUS, depth=DEEP)
        view = hub.orchestration.supply
        view.refresh()
        write = StockHistory(hub, view.holders([sku_name(s) for s in range(SKUS)]), rng)

        def written(first: int, count: int) -> bytes:
            for done in range(0, count, 10_000):
                part = min(10_000, count - done)
                if routed:
                    rate, _ = route(hub, rng, first + done, part)
                else:
                    rate = write.orders(first + done, part)
                print(f"  {first + done + part:,} orders ({rate:,.0f} orders/s)")
            view.refresh()
            return encode(view.export())  # a checkpoint as the routing process writes it

        return written(0, orders), written(orders, tail)
    finally:
        hub.close()


class StockHistory:
    """What routing and shipping leave on the stock items, written to them directly in large
    saves (routing is 30-150 orders/s on this shared machine: an hour for a long history).
    Per order of 1-7 lines, a reservation of 1-3 units at one holder of each SKU; the batch
    before's reservations then shipped (9 in 10, some short) or released: ~8 events an order."""

    def __init__(self, hub: Hub, holders: dict[str, list[str]], rng: random.Random) -> None:
        self._hub, self._holders, self._rng = hub, holders, rng
        ids = [StockItem.create_id(s, sku) for sku, held in holders.items() for s in held]
        self._items: dict[UUID, StockItem] = {}
        for at in range(0, len(ids), 2_000):
            self._items.update(hub.store.get_many(ids[at : at + 2_000], StockItem))
        self._open: list[tuple[StockItem, str, int]] = []

    def orders(self, first: int, count: int) -> float:
        began = time.perf_counter()
        for start in range(first, first + count, BATCH):
            touched: dict[UUID, StockItem] = {}
            for item, key, quantity in self._open:
                if self._rng.random() < 0.9:
                    item.consume(key, self._rng.randint(1, quantity), at=NOW)
                else:
                    item.release(key, at=NOW, reason="cancelled")
                touched[item.id] = item
            self._open = []
            for n in range(start, min(start + BATCH, first + count)):
                skus = self._rng.sample(range(SKUS), self._rng.randint(1, 7))
                for line, sku in enumerate(skus):
                    item = self._item(sku_name(sku))
                    quantity = self._rng.randint(1, 3)
                    if quantity <= item.available:
                        item.reserve(f"{n}:{line}", quantity, at=NOW)
                        self._open.append((item, f"{n}:{line}", quantity))
                        touched[item.id] = item
            self._hub.store.save(*touched.values())
        return count / (time.perf_counter() - began)

    def _item(self, sku: str) -> StockItem:
        return self._items[StockItem.create_id(self._rng.choice(self._holders[sku]), sku)]


def timed(settings: Settings, start: Callable[[OrderStore], int]) -> tuple[float, int]:
    """Seconds to start a view on a freshly opened store (opening not counted), events read."""
    store = OrderStore(env=settings.eventsourcing_env())
    try:
        began = time.perf_counter()
        read = start(store)
        return time.perf_counter() - began, read
    finally:
        store.close()


def from_checkpoint(table: CheckpointTable, blob: bytes) -> Callable[[OrderStore], int]:
    def start(store: OrderStore) -> int:
        report = SupplyCheckpoints(SupplyView(store), store, table).start_view()
        assert report.checkpoint is not None, "the checkpoint was not used"
        return report.events_read

    table.clear(VIEW)
    position = decode(blob).position
    table.write(StoredCheckpoint(VIEW, FORMAT, position, datetime.now(UTC), blob))
    return start


def write_costs(settings: Settings) -> dict[str, float]:
    """One checkpoint written by a started view: ms under the lock, to encode, to write."""
    store = OrderStore(env=settings.eventsourcing_env())
    try:
        view = SupplyView(store)
        view.refresh()
        table = checkpoint_table(store.recorder)
        assert table is not None
        t0 = time.perf_counter()
        state = view.export()
        t1 = time.perf_counter()
        blob = encode(state)
        t2 = time.perf_counter()
        table.clear(VIEW)
        table.write(StoredCheckpoint(VIEW, FORMAT, state.position, datetime.now(UTC), blob))
        t3 = time.perf_counter()
        return {
            "export": (t1 - t0) * 1000,
            "encode": (t2 - t1) * 1000,
            "write": (t3 - t2) * 1000,
            "bytes": len(blob),
            "rows": len(state.stock),
        }
    finally:
        store.close()


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--postgres", action="store_true", help="a fresh PostgreSQL database")
    parser.add_argument("--orders", type=int, default=50_000, help="orders of history")
    parser.add_argument("--tail-orders", type=int, default=6_000, help="after the checkpoint")
    parser.add_argument("--rounds", type=int, default=3)
    parser.add_argument(
        "--routed", action="store_true", help="route the orders (slow) instead of writing stock"
    )
    args = parser.parse_args()
    server = postgres_server() if args.postgres else None
    url = fresh_database(server) if server else None
    try:
        with tempfile.TemporaryDirectory(prefix="orderhub-supply-restart-") as tmp:
            settings = Settings(data_dir=Path(tmp), kafka_bootstrap=None, database_url=url)
            behind, end = history(settings, args.orders, args.tail_orders, args.routed)
            probe = OrderStore(env=settings.eventsourcing_env())
            table = checkpoint_table(probe.recorder)
            assert table is not None
            events = probe.max_position()
            runs: dict[str, list[tuple[float, int]]] = {}
            for _ in range(args.rounds):
                ways = {
                    "full rebuild from the log": lambda s: SupplyView(s).refresh(),
                    "checkpoint behind the tail + tail": from_checkpoint(table, behind),
                }
                for label, start in ways.items():
                    runs.setdefault(label, []).append(timed(settings, start))
                label = "checkpoint at the end (clean stop)"
                runs.setdefault(label, []).append(timed(settings, from_checkpoint(table, end)))
            costs = [write_costs(settings) for _ in range(args.rounds)]
            probe.close()
        store = "PostgreSQL" if url else "SQLite"
        print(
            f"{store}: {args.orders + args.tail_orders:,} orders, {events:,} events in the log; "
            f"medians of {args.rounds}"
        )
        for label, measured in runs.items():
            seconds = statistics.median(s for s, _ in measured)
            read = measured[0][1]
            print(f"  {label:<38} {seconds:7.2f} s  ({read:,} supply events read)")
        median = {k: statistics.median(c[k] for c in costs) for k in costs[0]}
        print(
            f"  a checkpoint: {median['rows']:,.0f} stock rows, {median['bytes'] / 1e6:.2f} MB; "
            f"copied under the view's lock {median['export']:.1f} ms, encoded "
            f"{median['encode']:.0f} ms, written {median['write']:.0f} ms"
        )
    finally:
        if server and url:
            drop_database(server, url)


if __name__ == "__main__":
    main()
