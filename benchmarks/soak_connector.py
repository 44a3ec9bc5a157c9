"""The network beside a soak (`benchmarks.flow --orders N`): what its sources' connectors
send while orders flow (shipped updates, stock counted back up, receipts) and what its service
desk does with orders that wait too long, in rounds every SOAK_SHIP_EVERY s."""

import asyncio
import json
import time
from datetime import UTC, datetime, timedelta
from typing import Any

import aiohttp
from aiokafka import AIOKafkaProducer

from benchmarks.flow_history import SOAK_SHIP_CONCURRENCY, SOAK_SHIP_EVERY, UPDATES, Shipper
from benchmarks.flow_hub import RunningHub, post_all
from benchmarks.network import Network

CANCEL_PAGE = 500  # oldest waiting orders looked at per round
SPREAD_CHUNK = 50  # messages sent between two pauses with --spread
BULK = "/v1/stock/bulk"  # receipts over REST, this many rows a request:
BULK_ROWS = 5_000


def count(source: str, sku: str, on_hand: int) -> dict[str, Any]:
    return {"kind": "snapshot", "source_id": source, "sku": sku, "on_hand": on_hand}


def receipt(source: str, sku: str, units: int) -> dict[str, Any]:
    return {"kind": "delta", "source_id": source, "sku": sku, "delta": units, "reason": "receipt"}


class Connector:
    """What a source's connector sends: shipped updates, and stock counted back up."""

    def __init__(self, hub: RunningHub, network: Network, args: Any) -> None:
        self._hub = hub
        self._via_kafka = args.updates_via == "kafka"
        self._restock = args.restock
        self._first = {(r.source_id, r.sku): r.on_hand for r in network.stock}
        self._shipped_rows: set[tuple[str, str]] = set()
        self._last_restock = time.perf_counter()
        self.shipper = Shipper(hub.settings, args.ship, args.seed + 2)
        self._receive = args.receive
        self._last_receipt = time.perf_counter()
        self.restocked = self.cancelled = self.received = self.receipts_failed = 0
        self._cancel_after = args.cancel_after
        # Requests in flight: an update's answer waits for routing to act on it (embedded,
        # hub.api.settling), so a busy hub answers each in a second or more, and 8 at a time
        # shipped a fraction of what was requested (esoak17, benchmarks/README.md).
        self._concurrency = getattr(args, "ship_concurrency", SOAK_SHIP_CONCURRENCY)
        self._producer: AIOKafkaProducer | None = None
        # With `--spread` a round's updates, then its counts, go out each paced over a third of
        # the round, not at once: a burst of counts every minute made the hub's pace swing.
        self._pace = 0.35 * SOAK_SHIP_EVERY if args.spread else 0.0

    async def start(self) -> None:
        if self._via_kafka:
            self._producer = AIOKafkaProducer(
                bootstrap_servers=self._hub.settings.kafka_bootstrap,
                acks="all",
                enable_idempotence=True,
                linger_ms=5,
            )
            await self._producer.start()

    async def stop(self) -> None:
        if self._producer is not None:
            await self._producer.stop()
        self.shipper.close()

    async def round(self) -> None:
        """Ships what was requested since the last round; restocks every `--restock` s."""
        shipments = await asyncio.to_thread(self.shipper.new_shipments)
        bodies = self.shipper.updates(shipments, datetime.now(UTC))
        chosen = {b["shipment_id"] for b in bodies}
        for _, shipment_id, source_id, lines in shipments:
            if shipment_id in chosen:
                self._shipped_rows.update((source_id, sku) for sku in lines)
        if self._via_kafka:
            await self._send(
                self._hub.settings.topic("fulfillment_updates"),
                [(b["order_id"], b) for b in bodies],
            )
            self.shipper.shipped += len(bodies)
        else:
            updates = [(UPDATES, b) for b in bodies]
            failed, _ = await post_all(self._hub.base, updates, self._concurrency)
            self.shipper.shipped += len(bodies) - failed
            self.shipper.failed += failed
        if self._restock and time.perf_counter() - self._last_restock >= self._restock:
            await self.restock()
        if self._receive and time.perf_counter() - self._last_receipt >= self._receive:
            await self.receive()
        if self._cancel_after:
            await self.cancel_waiting()

    async def cancel_waiting(self) -> None:
        """What a service desk does with orders that cannot be served: the oldest backordered or
        held ones, placed more than `--cancel-after` s ago, cancelled over REST (a line no
        eligible source will ever hold, e.g. same-day where no source near has it, waits for
        ever otherwise, and the waiting orders grow with the history); an order that shipped in
        part has its rest cancelled."""
        cutoff = datetime.now(UTC) - timedelta(seconds=self._cancel_after)
        search = "/v1/ops/orders?status=backordered&status=held&sort=placed_at&order=asc"
        old: list[str] = []
        after = ""
        async with aiohttp.ClientSession(self._hub.base) as client:
            # Page by page, as a service desk would work the list; a cursor met twice ends it.
            seen: set[str] = set()
            while True:
                async with client.get(f"{search}&limit={CANCEL_PAGE}{after}") as response:
                    page = await response.json()
                rows = page["orders"]
                placed = [
                    datetime.fromisoformat(r["placed_at"].replace("Z", "+00:00")) for r in rows
                ]
                old += [r["order_id"] for r, at in zip(rows, placed, strict=True) if at < cutoff]
                cursor = page.get("next")
                if not cursor or cursor in seen or not rows or placed[-1] >= cutoff:
                    break
                seen.add(cursor)
                after = f"&after={cursor}"
        reason = {"reason": "soak: not served in time"}
        cancels = [(f"/v1/orders/{order_id}/cancel", reason) for order_id in old]
        failed, _ = await post_all(self._hub.base, cancels, self._concurrency)
        self.cancelled += len(old) - failed

    async def restock(self) -> None:
        """Every row shipped from since the last restock counted back up to its first count."""
        rows, self._shipped_rows = self._shipped_rows, set()
        self._last_restock = time.perf_counter()
        counts = [
            (f"{source}/{sku}", count(source, sku, self._first[(source, sku)]))
            for source, sku in sorted(rows)
            if (source, sku) in self._first
        ]
        if self._via_kafka:
            await self._send(self._hub.settings.topic("inventory_snapshots"), counts)
            self.restocked += len(counts)
            return
        failed = await self._bulk([body for _, body in counts])
        self.restocked += len(counts)
        self.receipts_failed += failed

    async def receive(self) -> None:
        """Every row receives (a delta) the units requested from it since the last receipt:
        a source restocked at the pace it sells. Without shipping nothing is ever released, so
        without receipts the rows sell out one by one and more orders wait with the history
        (soak13, benchmarks/README.md); with them each row's available count stays near its
        first, the scarce rows' included, and the soak keeps the shape it started with."""
        units = self.shipper.take_units()
        self._last_receipt = time.perf_counter()
        receipts = [(source, sku, n) for (source, sku), n in sorted(units.items())]
        if self._via_kafka:
            keyed = [(f"{src}/{sku}", receipt(src, sku, n)) for src, sku, n in receipts]
            await self._send(self._hub.settings.topic("inventory_snapshots"), keyed)
            self.received += len(receipts)
            return
        failed = await self._bulk([receipt(*r) for r in receipts])
        self.received += len(receipts)
        self.receipts_failed += failed

    async def _bulk(self, rows: list[dict[str, Any]]) -> int:
        """Stock rows over REST (the embedded hub has no topics), BULK_ROWS a request, one
        request at a time; returns the requests refused in whole or in part."""
        bodies = [
            (BULK, {"rows": rows[at : at + BULK_ROWS]}) for at in range(0, len(rows), BULK_ROWS)
        ]
        failed, _ = await post_all(self._hub.base, bodies, 1)
        return failed

    async def _send(self, topic: str, keyed: list[tuple[str, dict[str, Any]]]) -> None:
        assert self._producer is not None
        pause = self._pace * SPREAD_CHUNK / len(keyed) if keyed else 0.0
        for n, (key, body) in enumerate(keyed, 1):
            await self._producer.send(topic, json.dumps(body).encode(), key=key.encode())
            if pause and n % SPREAD_CHUNK == 0:
                await asyncio.sleep(pause)
        await self._producer.flush()


async def rounds(net: Connector, stop: asyncio.Event) -> None:
    """The network's rounds until `stop`: every SOAK_SHIP_EVERY s from the start (a round's
    own time not added to it)."""
    due = time.perf_counter()
    while not stop.is_set():
        due += SOAK_SHIP_EVERY
        try:
            await asyncio.wait_for(stop.wait(), max(0.0, due - time.perf_counter()))
        except TimeoutError:
            try:
                await net.round()
            except aiohttp.ClientError:  # dropped: the round's rest stays open; go on
                net.shipper.failed += 1
