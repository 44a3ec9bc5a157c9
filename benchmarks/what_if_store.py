"""What-if over a real stored history: the same synthetic history, written as the hub's own
events into an event store (SQLite or PostgreSQL), and the hub's service timed reading it.

    python -m benchmarks.what_if --store sqlite|postgres [--decisions 20000]

The history of ``benchmarks.what_if`` (cached in benchmarks/results/) is written as the hub
writes it: per order, ``Placed`` and ``Accepted`` (intake), then what one routing save holds in
the order orchestration saves it (hub/services/orchestration.py ``_save``): the order's
``Routed`` (or ``Held``) and ``FulfillmentRequested`` events, the stock items' ``Reserved``
events, then the ``RecordedInputs`` record and any ``RecordedSource`` not stored yet; stock
items are registered first, and shipments (``Consumed``), cancellations (``Released``) and
receipts (``Adjusted``) follow as the history has them. Order ids and reservation keys are the
hub's (uuid of channel and external id; ``order:shipment:line``), and the in-memory benchmark is
run on the same relabelled history, so both reports must be equal.

The store is kept (benchmarks/results/ for SQLite, a database named after the history for
PostgreSQL) and reused by the next run. Timed: the service's ``timeline()`` read alone, then
``WhatIfService.run`` end to end, with the log read in this process and in a second one
(``--reading``), each process's CPU apart.
"""

from __future__ import annotations

import argparse
import base64
import gc
import hashlib
import json
import os
import resource
import time
import zlib
from collections.abc import Iterator
from datetime import datetime
from pathlib import Path
from typing import Any
from uuid import NAMESPACE_OID, UUID, uuid5

import psycopg

from aggregates.decision_inputs import ZLIB_BASE64, RecordedInputs, RecordedSource
from aggregates.ids import order_id_for
from aggregates.order import Order
from aggregates.order_values import RequestedShipment, ShipmentLine
from aggregates.stock import StockItem
from benchmarks.network import OrderMaker, generate_network
from benchmarks.services import postgres_server
from benchmarks.what_if import DRAFT, RESULTS, START, history, packed, read_back
from hub.services.what_if import WhatIfService, Window
from hub.settings import Settings
from hub.store import OrderStore
from orchestration_policies import load_policy
from orchestration_policies.decision_inputs import canonical_json
from orchestration_policies.what_if import MovementKind, StockMovement, run_what_if
from schemas.decision_record import DecisionRecord
from schemas.submission import OrderSubmission

Stored = tuple[str, int, str, datetime, dict[str, Any], str]
History = list[Stored | StockMovement]
# Events per insert (one transaction), a few routing saves' worth: 20,000 larger events in one
# insert stalled the PostgreSQL recorder's pipeline (both ends waiting to read).
WRITE_EVERY = 2_000
ACTOR = "system:orchestrator"


def relabel(timeline: History) -> History:
    """The history with the hub's order ids and reservation keys (``order:shipment:line``)."""
    ids: dict[str, UUID] = {}
    out: History = []
    for item in timeline:
        if isinstance(item, StockMovement):
            if item.key:
                external, source, line = item.key.split(":", 2)
                order_id = ids[external]
                key = f"{order_id}:{shipment_id(order_id, source.removeprefix('s-'))}:{line}"
                item = StockMovement(
                    item.kind, item.source_id, item.sku, item.at, item.on_hand,
                    item.safety_stock, item.delta, item.quantity, item.freed, key,
                )  # fmt: skip
            out.append(item)
            continue
        external, n, channel, at, record, text = item
        order_id = ids[external] = order_id_for(channel, external)
        out.append((str(order_id), n, channel, at, {**record, "order_id": str(order_id)}, text))
    return out


def shipment_id(order_id: UUID, source_id: str) -> str:
    """As orchestration names a first routing's shipments."""
    return str(uuid5(NAMESPACE_OID, f"{order_id}:0:{source_id}"))


class Writer:
    """Writes the history as stored events, many saves' worth per insert."""

    def __init__(self, store: OrderStore, maker: OrderMaker) -> None:
        self.store = store
        self.maker = maker  # the submissions the history's orders were made from
        self.items: dict[tuple[str, str], StockItem] = {}
        self.sources: set[str] = set()
        self.events: list[Any] = []
        self.records: list[Any] = []  # the routing save's records, written after its items
        self.order = ""  # the order of the last decision (its reservations follow it)
        self.orders = 0
        self.written = 0

    def write(self, timeline: History, definitions: dict[str, dict[str, Any]]) -> None:
        for item in timeline:
            if isinstance(item, StockMovement):
                if item.kind is not MovementKind.RESERVED or not item.key.startswith(self.order):
                    self._end_save()
                self._movement(item)
            else:
                self._end_save()
                self._decision(item, definitions)
            if len(self.events) >= WRITE_EVERY:
                self._end_save()
                self.flush()
        self._end_save()
        self.flush()

    def flush(self) -> None:
        mapper = self.store.mapper
        stored = [mapper.to_stored_event(e) for e in self.events]
        if stored:
            self.store.recorder.insert_events(stored)
        self.written += len(stored)
        self.events = []

    def _end_save(self) -> None:
        self._collect(*self.records)
        self.records = []
        self.order = "\0"

    def _collect(self, *aggregates: Any) -> None:
        for aggregate in aggregates:
            self.events.extend(aggregate.collect_events())

    def _movement(self, m: StockMovement) -> None:
        pair = (m.source_id, m.sku)
        if m.kind is MovementKind.REGISTERED:
            item = self.items[pair] = StockItem(m.source_id, m.sku, m.on_hand, m.safety_stock, m.at)
        else:
            item = self.items[pair]
            if m.kind is MovementKind.RESERVED:
                item.reserve(m.key, m.quantity, m.at)
            elif m.kind is MovementKind.RELEASED:
                item.release(m.key, m.at, "cancelled")
            elif m.kind is MovementKind.CONSUMED:
                item.consume(m.key, m.quantity, m.at)
            elif m.kind is MovementKind.ADJUSTED:
                item.adjust(m.delta, m.at, "receipt")
            else:
                item.count(m.on_hand, m.safety_stock, m.at, "count")
        self._collect(item)

    def _decision(self, stored: Stored, definitions: dict[str, dict[str, Any]]) -> None:
        order_id, _, channel, at, plain_record, text = stored
        plain = self.maker.order(channel, f"order-{self.orders:06d}", at.isoformat())
        self.orders += 1
        payload = json.dumps(plain)
        order = Order(
            channel=channel,
            external_id=plain["external_id"],
            submission=OrderSubmission.model_validate(plain),
            digest=hashlib.sha256(payload.encode()).hexdigest(),
            raw_payload=payload,
            actor=f"channel:{channel}",
            correlation_id=order_id,
            received_at=at,
        )
        assert str(order.id) == order_id, "the history's orders are the maker's"
        order.take_intake_decision(actor="system:intake", now=at)
        record = DecisionRecord.from_plain(plain_record)
        digest = hashlib.sha256(text.encode()).hexdigest()
        if record.held is not None:
            order.put_on_hold(
                record.held.rule, record.held.reason, ACTOR, at,
                decision=record, explanation="", decision_digest=digest, inputs_digest=digest,
            )  # fmt: skip
        else:
            shipments = [
                RequestedShipment(
                    shipment_id(order.id, source),
                    source,
                    tuple(ShipmentLine(*line) for line in lines),
                )
                for source, lines in sorted(record.shipments.items())
            ]
            order.route(
                decision=record, decision_digest=digest, explanation="", inputs_digest=digest,
                shipments=shipments,
                waiting={line.line_id: line.quantity for line in record.backordered},
                unroutable_reason=record.rejected, actor=ACTOR, now=at,
            )  # fmt: skip
        self._collect(order)
        self.order = order_id
        packed = base64.b64encode(zlib.compress(text.encode(), 1)).decode()
        self.records.append(RecordedInputs(digest=digest, body=packed, encoding=ZLIB_BASE64))
        for key in sorted({row["definition"] for row in json.loads(text)["candidates"]}):
            if key not in self.sources:
                self.sources.add(key)
                plain_definition = canonical_json(definitions[key]).decode()
                self.records.append(RecordedSource(digest=key, definition=plain_definition))


def open_store(kind: str, name: str, data_dir: Path) -> tuple[OrderStore, bool]:
    """The kept store of this history (SQLite file or PostgreSQL database); True: written."""
    marker = data_dir / f"{name}.{kind}.written"
    if kind == "sqlite":
        if not marker.exists():
            for stale in data_dir.glob(f"{name}.sqlite3*"):
                stale.unlink()
        env = {
            "PERSISTENCE_MODULE": "eventsourcing.sqlite",
            "SQLITE_DBNAME": str(data_dir / f"{name}.sqlite3"),
            "SQLITE_LOCK_TIMEOUT": "10",
        }
    else:
        server = postgres_server()
        url = f"{server.rsplit('/', 1)[0]}/{name}"
        if not marker.exists():
            with psycopg.connect(server, autocommit=True) as conn:
                conn.execute(f'DROP DATABASE IF EXISTS "{name}" WITH (FORCE)')
                conn.execute(f'CREATE DATABASE "{name}"')
        settings = Settings(data_dir=data_dir, kafka_bootstrap=None, database_url=url)
        env = settings.eventsourcing_env()
    return OrderStore(env=env), marker.exists()


def write_store(
    store: OrderStore, kind: str, name: str, data_dir: Path, maker: OrderMaker,
    timeline: History, definitions: dict[str, dict[str, Any]],
) -> None:  # fmt: skip
    began = time.perf_counter()
    writer = Writer(store, maker)
    writer.write(timeline, definitions)
    took = time.perf_counter() - began
    (data_dir / f"{name}.{kind}.written").write_text(f"{writer.written} events in {took:.0f} s\n")
    print(f"wrote {writer.written:,} events ({writer.orders:,} orders) in {took:.0f} s")


Timed = tuple[dict[str, Any], dict[str, float]]
READINGS = {"one": False, "two": True}  # the log read in this process, or in a second one


def time_store(
    store: OrderStore, window: Window, draft: Any, changes_kept: int, second_process: bool
) -> Timed:
    """The report; timeline() read alone and the whole run: wall, this process's CPU and the
    CPU of the process reading the log (when there is one), seconds."""
    service = WhatIfService(store, second_process=second_process)
    figures: dict[str, float] = {}
    began, cpu, child = time.perf_counter(), time.process_time(), _children_cpu()
    for _ in service.timeline(window):
        pass
    figures["read_s"], figures["read_cpu"] = time.perf_counter() - began, time.process_time() - cpu
    figures["read_child_cpu"] = _children_cpu() - child
    began, cpu, child = time.perf_counter(), time.process_time(), _children_cpu()
    report = service.run(draft, window, changes_kept=changes_kept)
    figures["run_s"], figures["run_cpu"] = time.perf_counter() - began, time.process_time() - cpu
    figures["run_child_cpu"] = _children_cpu() - child
    return report.to_dict(), figures


def _children_cpu() -> float:
    """CPU seconds of this process's ended (joined) children."""
    used = resource.getrusage(resource.RUSAGE_CHILDREN)
    return used.ru_utime + used.ru_stime


def load_line() -> str:
    load = ", ".join(f"{x:.1f}" for x in os.getloadavg())
    return f"machine load average (1, 5, 15 min): {load} on {os.cpu_count()} cores"


def stored_history(timeline: History) -> Iterator[Stored]:
    return (item for item in timeline if not isinstance(item, StockMovement))


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("store", choices=("sqlite", "postgres"))
    parser.add_argument("--decisions", type=int, default=20_000)
    parser.add_argument("--sources", type=int, default=100)
    parser.add_argument("--skus", type=int, default=10_000)
    parser.add_argument("--seed", type=int, default=7)
    parser.add_argument(
        "--reading",
        choices=("one", "two", "both"),
        default="both",
        help="read the log in this process, in a second one, or time both (default)",
    )
    parser.add_argument(
        "--compare", action="store_true", help="also run in memory and check the reports match"
    )
    parser.add_argument(
        "--changes-kept",
        type=int,
        default=None,
        help="changed decisions listed with both explanations (default: every one, for "
        "--compare; the service's own default is 100)",
    )
    args = parser.parse_args()
    name = f"what_if_store_{args.decisions}_{args.sources}_{args.skus}_{args.seed}"
    timeline, definitions = history(args.decisions, args.sources, args.skus, args.seed, True)
    timeline = relabel(timeline)
    RESULTS.mkdir(parents=True, exist_ok=True)
    store, written = open_store(args.store, name, RESULTS)
    if not written:
        network = generate_network(args.sources, args.skus, seed=args.seed)
        write_store(
            store, args.store, name, RESULTS, OrderMaker(network, seed=args.seed),
            timeline, definitions,
        )  # fmt: skip
    last = max(item[3] for item in stored_history(timeline))
    window = Window(START.date(), last.date())
    draft = load_policy(DRAFT)
    # Every changed decision by default: the comparison covers them all.
    kept = args.decisions if args.changes_kept is None else args.changes_kept
    # This process holds the whole generated history (millions of objects, for writing the
    # store and --compare); a hub's process does not: keep the collector from walking it on
    # every full pass of the timed runs, as benchmarks.what_if does.
    gc.collect()
    gc.freeze()
    print(f"store: {args.store}, {store.max_position():,} events; {load_line()}")
    reports = {}
    for reading in ("one", "two") if args.reading == "both" else (args.reading,):
        report, f = time_store(store, window, draft, kept, READINGS[reading])
        reports[reading] = report
        where = "in this process" if reading == "one" else "in a second process"
        print(
            f"log read {where}: timeline() alone {f['read_s']:.1f} s wall, CPU "
            f"{f['read_cpu']:.1f} s here + {f['read_child_cpu']:.1f} s reader; run "
            f"(WhatIfService.run) {f['run_s']:.1f} s wall, CPU {f['run_cpu']:.1f} s here + "
            f"{f['run_child_cpu']:.1f} s reader; {args.decisions / f['run_s']:,.0f} decisions/s; "
            f"goal < 60 s for 100,000: "
            f"{'met' if f['run_s'] < 60 * args.decisions / 100_000 else 'NOT met'}"
        )
        print(f"  {load_line()}")
    report = next(iter(reports.values()))
    total = report["total"]
    print(
        f"  changed decisions: {total['changed']:,} ({len(report['changes']):,} listed with "
        f"their explanations); live {total['live']}; draft {total['draft']}"
    )
    if len(reports) == 2:
        print(f"reports equal, one process and two: {reports['one'] == reports['two']}")
    if args.compare:
        began = time.perf_counter()
        in_memory = run_what_if(
            read_back(packed(timeline), definitions), draft, START, changes_kept=kept
        ).to_dict()
        took = time.perf_counter() - began
        same = all(in_memory == found for found in reports.values())
        print(f"in-memory run on the same history: {took:.1f} s; reports equal: {same}")
        if not same:
            for reading, found in reports.items():
                for key in found:
                    if found[key] != in_memory.get(key):
                        print(f"  differs ({reading}): {key}")
            raise SystemExit(1)


if __name__ == "__main__":
    main()
