"""`benchmarks.flow --history N`: the cost of routing on a fresh hub against after N more orders,
and the memory of every process over them; with `--ship SHARE`, the sources report that share
of the shipments shipped as the history goes (the others stay open for good).

Without shipping every reservation stays open: each stock item the history touches holds one
more for every order line routed to it, for ever, which no warehouse network does (issue 10,
benchmarks/README.md). The updates go through the hub's public route for them,
`POST /v1/fulfillment/updates`, a `shipped` update per shipment (all its lines), read from the
`FulfillmentRequested` events in the event store's log; they are sent after each preloaded
batch, outside the two measured windows, and the hub is let settle before the next batch.
"""

import asyncio
import random
from collections import Counter
from datetime import UTC, datetime
from typing import Any, Protocol

import orjson

from benchmarks.flow_hub import RunningHub, post_all
from benchmarks.flow_report import console
from benchmarks.flow_watch import wait_idle
from hub.settings import Settings
from hub.store import OrderStore

REQUESTED_TOPIC = "aggregates.order:Order.FulfillmentRequested"
# A soak with `--ship` reports what was requested this often, with few updates in flight: the
# orders' captures are what it measures, the updates only close what they reserved.
SOAK_SHIP_EVERY = 20.0
SOAK_SHIP_CONCURRENCY = 8
UPDATES = "/v1/fulfillment/updates"
PAGE = 5_000


class Batches(Protocol):
    """What the history needs of the benchmark's session (benchmarks.flow.Session)."""

    hub: RunningHub

    async def closed_batch(self, count: int) -> dict[str, Any]: ...

    async def step(self, rate: int, warmup: float, seconds: float) -> dict[str, Any]: ...


class Shipper:
    """Reports a share of the requested shipments shipped, the rest never."""

    def __init__(self, settings: Settings, share: float, seed: int) -> None:
        self._store = OrderStore(env=settings.eventsourcing_env())
        self._share = share
        self._rng = random.Random(seed)
        self._position = 0
        self.requested = self.shipped = self.failed = 0
        # Units requested per (source, SKU) since `take_units`: what `--receive` restocks.
        self.units: Counter[tuple[str, str]] = Counter()

    def new_shipments(self) -> list[tuple[str, str, str, list[str]]]:
        """(order id, shipment id, source id, SKUs) of the shipments requested since the last
        call."""
        found = []
        while True:
            page = self._store.recorder.select_notifications(
                start=self._position,
                limit=PAGE,
                topics=(REQUESTED_TOPIC,),
                inclusive_of_start=False,
            )
            for n in page:
                state = orjson.loads(n.state)
                skus = [line["sku"] for line in state["lines"]]
                for line in state["lines"]:
                    self.units[(state["source_id"], line["sku"])] += int(line["quantity"])
                found.append((str(n.originator_id), state["shipment_id"], state["source_id"], skus))
            if page:
                self._position = page[-1].id
            if len(page) < PAGE:
                self.requested += len(found)
                return found

    def take_units(self) -> Counter[tuple[str, str]]:
        """The units requested per (source, SKU) since the last call."""
        units, self.units = self.units, Counter()
        return units

    def updates(
        self, shipments: list[tuple[str, str, str, list[str]]], at: datetime
    ) -> list[dict[str, Any]]:
        """`shipped` updates (every line as requested) for the share of `shipments` chosen."""
        return [
            {
                "order_id": order_id,
                "shipment_id": shipment_id,
                "source_id": source_id,
                "kind": "shipped",
                "at": at.isoformat(),
                "carrier": "bench-post",
                "tracking": f"T-{shipment_id}",
            }
            for order_id, shipment_id, source_id, _ in shipments
            if self._rng.random() < self._share
        ]

    async def ship(self, base: str, concurrency: int) -> None:
        """Ships the share of what was requested since the last call, over REST."""
        shipments = await asyncio.to_thread(self.new_shipments)
        bodies = self.updates(shipments, datetime.now(UTC))
        failed, _ = await post_all(base, [(UPDATES, b) for b in bodies], concurrency)
        self.shipped += len(bodies) - failed
        self.failed += failed

    def close(self) -> None:
        self._store.close()


async def history(s: Batches, args: Any, rss: list[Any]) -> dict[str, Any]:
    console.print(f"  history: first {args.history_window:,} orders, closed loop …")
    first = await s.closed_batch(args.history_window)
    console.print(f"    {first['routed_per_s']:.1f} orders/s; preloading {args.history:,} …")
    rss.clear()  # memory followed from here to the end of the second window: a soak of its own
    shipper = Shipper(s.hub.settings, args.ship, args.seed + 2) if args.ship else None
    try:
        for done in range(0, args.history, 10_000):
            await s.closed_batch(min(10_000, args.history - done))
            shipped = ""
            if shipper is not None:
                await shipper.ship(s.hub.base, args.concurrency)
                await wait_idle(s.hub, args.stall)  # the updates' effects stay out of the windows
                shipped = f"; shipments shipped {shipper.shipped:,} of {shipper.requested:,}"
            console.print(f"    preloaded {min(done + 10_000, args.history):,}{shipped}")
        after = await s.closed_batch(args.history_window)
    finally:
        if shipper is not None:
            shipper.close()
    console.print(f"    after the history: {after['routed_per_s']:.1f} orders/s")
    result = {"preloaded": args.history, "first": first, "after": after, "rss": list(rss)}
    if shipper is not None:
        result["shipping"] = {
            "share": args.ship,
            "requested": shipper.requested,
            "shipped": shipper.shipped,
            "failed": shipper.failed,
        }
    return result
