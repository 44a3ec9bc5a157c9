"""What-if over recorded history: a draft policy re-decides 100,000 recorded decisions.

    python -m benchmarks.what_if [--decisions 100000] [--sources 100] [--skus 10000]

Generates a realistic history first (not timed): the flow benchmark's network (100 sources in
seven countries, every SKU at 2-6 of them, a few scarce), orders of 1-7 lines decided one after
the other by the default policy against live stock, each decision recorded with its inputs in
the stored form (``decision_inputs.to_body``: canonical JSON, source definitions apart), and the
stock movements between them: registrations, the live reservations, shipments (most orders ship
some decisions later), cancellations, and receipts that refill the scarce SKUs.

Then, timed: the recorded inputs are read back from their stored JSON (as the hub's service
reads them; source definitions once each) and the what-if engine re-decides every decision with
a draft that weighs cost over distance, carrying its own reservations forward. Prints the
decode and engine shares, decisions per second and the report's headline figures.
"""

from __future__ import annotations

import argparse
import base64
import gc
import hashlib
import json
import os
import pickle
import random
import time
import zlib
from collections.abc import Iterator
from datetime import UTC, datetime, timedelta
from decimal import Decimal
from pathlib import Path
from typing import Any

from benchmarks.network import Network, OrderMaker, generate_network
from orchestration_policies import (
    LineToRoute,
    OrderToRoute,
    StockLevel,
    decide,
    default_policy,
    load_policy,
)
from orchestration_policies.decision_inputs import (
    DecisionInputs,
    PolicyRef,
    candidate_from,
    canonical_json,
    to_body,
)
from orchestration_policies.what_if import (
    MovementKind,
    RecordedDecision,
    StockMovement,
    run_what_if,
)
from orchestration_policies.what_if_inputs import InputsDecoder
from schemas.decision_record import DecisionRecord

START = datetime(2026, 11, 1, tzinfo=UTC)
RESULTS = Path(__file__).parent / "results"
CHANNELS = ("web", "pos", "marketplace")
DRAFT = """
id: default
version: 2
name: Cost first (draft)
ranking:
  weights: {distance_km: 0.3, shipping_cost: 2.0, lead_time_days: 0.2}
split: {allowed: true, max_shipments: 3, split_penalty: 0.5}
allocation:
  - demand_class: vip
    share: 0.10
"""

Stored = tuple[str, int, str, datetime, dict[str, Any], str]  # order, n, channel, at, record, body


def _order(plain: dict[str, Any], order_id: str, at: datetime) -> OrderToRoute:
    ship_to = plain["ship_to"]
    return OrderToRoute(
        order_id=order_id,
        channel=plain["channel"],
        country=ship_to["country"],
        demand_class=plain["customer"]["demand_class"],
        delivery_method=plain["delivery_method"],
        total=sum(
            (Decimal(li["unit_price"]) * li["quantity"] for li in plain["lines"]), Decimal(0)
        ),
        currency="EUR",
        lines=tuple(LineToRoute(li["line_id"], li["sku"], li["quantity"]) for li in plain["lines"]),
        placed_at=at,
        ship_to_lat=ship_to["lat"],
        ship_to_lon=ship_to["lon"],
        promised_by=at + timedelta(days=4),
        payment_state="authorized",
    )


def generate(
    network: Network, decisions: int, seed: int
) -> tuple[list[Stored | StockMovement], dict[str, dict[str, Any]]]:
    """The live history: decisions (stored form) and stock movements, in log order."""
    rng = random.Random(seed)
    maker = OrderMaker(network, seed=seed)
    live = default_policy()
    definitions_by_id = {s["source_id"]: s for s in network.sources}
    holders = network.holders()
    stock = {(r.source_id, r.sku): [r.on_hand, 0] for r in network.stock}
    used: dict[tuple[str, str], int] = {}
    before = START - timedelta(days=1)
    timeline: list[Stored | StockMovement] = [
        StockMovement(MovementKind.REGISTERED, r.source_id, r.sku, before, r.on_hand)
        for r in network.stock
    ]
    definitions: dict[str, dict[str, Any]] = {}
    open_keys: list[tuple[str, str, str, int]] = []  # reservations waiting to ship
    for i in range(decisions):
        at = START + timedelta(seconds=30 * i)
        channel = CHANNELS[i % len(CHANNELS)]
        order_id = f"order-{i:06d}"
        to_route = _order(maker.order(channel, order_id, at.isoformat()), order_id, at)
        day = at.date().isoformat()
        ids = sorted({h for line in to_route.lines for h in holders.get(line.sku, ())})
        skus = {line.sku for line in to_route.lines}
        candidates = tuple(
            candidate_from(
                definitions_by_id[sid],
                True,
                {sku: StockLevel(*stock[(sid, sku)]) for sku in skus if (sid, sku) in stock},
                used.get((day, sid), 0),
            )
            for sid in ids
        )
        decision = decide(to_route, candidates, live, at)
        inputs = DecisionInputs(to_route, candidates, PolicyRef(live.id, live.version), at)
        body, defs = to_body(inputs)
        definitions.update(defs)
        timeline.append(
            (order_id, 1, channel, at, decision.to_dict(), canonical_json(body).decode())
        )
        for source_id, lines in decision.shipments.items():
            used[(day, source_id)] = used.get((day, source_id), 0) + 1
            for line in lines:
                key = f"{order_id}:s-{source_id}:{line.line_id}"
                stock[(source_id, line.sku)][1] += line.quantity
                timeline.append(
                    StockMovement(
                        MovementKind.RESERVED,
                        source_id,
                        line.sku,
                        at,
                        quantity=line.quantity,
                        key=key,
                    )
                )
                open_keys.append((key, source_id, line.sku, line.quantity))
        # Shipments leave some decisions later; one in fifty is cancelled instead.
        while len(open_keys) > 40:
            key, source_id, sku, quantity = open_keys.pop(rng.randrange(len(open_keys)))
            held = stock[(source_id, sku)]
            held[1] -= quantity
            if rng.random() < 0.02:
                timeline.append(
                    StockMovement(
                        MovementKind.RELEASED, source_id, sku, at, quantity=quantity, key=key
                    )
                )
            else:
                held[0] -= quantity
                timeline.append(
                    StockMovement(
                        MovementKind.CONSUMED, source_id, sku, at, quantity=quantity, key=key
                    )
                )
        if i % 200 == 199:  # receipts refill the scarce SKUs
            for sku in rng.sample(sorted(network.scarce), min(20, len(network.scarce))):
                for source_id in holders.get(sku, ()):
                    stock[(source_id, sku)][0] += 3
                    timeline.append(
                        StockMovement(MovementKind.ADJUSTED, source_id, sku, at, delta=3)
                    )
    return timeline, definitions


def read_back(
    timeline: list[Stored | StockMovement], definitions: dict[str, dict[str, Any]]
) -> Iterator[RecordedDecision | StockMovement]:
    """The history as the service gives it to the engine: inputs unpacked and decoded from
    their stored form (zlib + base64 of the canonical JSON, checked against the digest)."""
    decoder = InputsDecoder(definitions.__getitem__)
    for item in timeline:
        if isinstance(item, StockMovement):
            yield item
            continue
        order_id, n, channel, at, record, packed = item
        text = zlib.decompress(base64.b64decode(packed, validate=True))
        hashlib.sha256(text).hexdigest()  # the service checks each body against its digest
        inputs, candidates = decoder.decode_compact(json.loads(text))
        # as the store's mapper gives it to the service: read into the typed record
        decision = DecisionRecord.from_plain(record)
        yield RecordedDecision(order_id, n, channel, at, decision, inputs, candidates)


def history(
    decisions: int, sources: int, skus: int, seed: int, keep: bool
) -> tuple[list[Stored | StockMovement], dict[str, dict[str, Any]]]:
    """The generated history, from benchmarks/results/ when it was kept."""
    cache = RESULTS / f"what_if_history_{decisions}_{sources}_{skus}_{seed}.pickle"
    if cache.exists():  # generating is slow (every live decision is decided); reuse it
        with cache.open("rb") as stored:
            found: tuple[list[Stored | StockMovement], dict[str, dict[str, Any]]]
            found = pickle.load(stored)
            return found
    network = generate_network(sources, skus, seed=seed)
    timeline, definitions = generate(network, decisions, seed)
    if keep:
        RESULTS.mkdir(parents=True, exist_ok=True)
        with cache.open("wb") as stored:
            pickle.dump((timeline, definitions), stored, protocol=5)
    return timeline, definitions


def packed(timeline: list[Stored | StockMovement]) -> list[Stored | StockMovement]:
    """As the hub stores inputs (hub/services/recorded_inputs.py): compressed, base64."""
    return [
        item
        if isinstance(item, StockMovement)
        else (*item[:5], base64.b64encode(zlib.compress(item[5].encode(), 1)).decode())
        for item in timeline
    ]


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--decisions", type=int, default=100_000)
    parser.add_argument("--sources", type=int, default=100)
    parser.add_argument("--skus", type=int, default=10_000)
    parser.add_argument("--seed", type=int, default=7)
    parser.add_argument(
        "--keep", action="store_true", help="keep the generated history in benchmarks/results/"
    )
    args = parser.parse_args()

    began = time.perf_counter()
    timeline, definitions = history(args.decisions, args.sources, args.skus, args.seed, args.keep)
    movements = sum(isinstance(item, StockMovement) for item in timeline)
    print(
        f"history: {args.decisions:,} decisions, {movements:,} stock movements, "
        f"{len(definitions)} source definitions; generated in {time.perf_counter() - began:.1f} s"
    )
    draft = load_policy(DRAFT)
    timeline = packed(timeline)  # not timed

    # The whole history is held in memory here (the service streams it from the store, a page
    # at a time): keep the collector from walking its millions of objects again and again.
    gc.collect()
    gc.freeze()

    began, cpu = time.perf_counter(), time.process_time()
    for _ in read_back(timeline, definitions):
        pass
    decode_s, decode_cpu = time.perf_counter() - began, time.process_time() - cpu

    began, cpu = time.perf_counter(), time.process_time()
    report = run_what_if(read_back(timeline, definitions), draft, START)
    total_s, total_cpu = time.perf_counter() - began, time.process_time() - cpu

    load = ", ".join(f"{x:.1f}" for x in os.getloadavg())
    print(f"machine load average (1, 5, 15 min): {load} on {os.cpu_count()} cores")
    print(f"read back the recorded inputs only: {decode_s:.1f} s (CPU {decode_cpu:.1f} s)")
    print(
        f"what-if (read back + re-decide + report): {total_s:.1f} s wall, {total_cpu:.1f} s CPU; "
        f"{args.decisions / total_s:,.0f} decisions/s wall, {args.decisions / total_cpu:,.0f} "
        f"per CPU second; goal < 60 s for 100,000: "
        f"{'met' if total_s < 60 * args.decisions / 100_000 else 'NOT met'} (wall), "
        f"{'met' if total_cpu < 60 * args.decisions / 100_000 else 'NOT met'} (CPU)"
    )
    figures = report.to_dict()["total"]
    for side in ("live", "draft"):
        f = figures[side]
        print(
            f"  {side:5}: routed {f['routed']:,}, split {f['split']:,}, backordered "
            f"{f['backordered']:,}, held {f['held']:,}, unroutable {f['unroutable']:,}; "
            f"shipments/order {f['shipments_per_order']}, mean km {f['mean_distance_km']}, "
            f"cost {f['cost']}, promise misses {f['promise_misses']:,}"
        )
    print(f"  changed decisions: {figures['changed']:,} of {report.redecided:,}")


if __name__ == "__main__":
    main()
