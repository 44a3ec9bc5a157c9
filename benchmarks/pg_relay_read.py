"""The relay's read of the log on PostgreSQL, alone: the server's CPU per read with the states
of never-published events sent, and without them (NULL, as `hub.stored_records` reads now).

Run:  python -m benchmarks.pg_relay_read [--orders 300] [--rounds 3]

A fresh database gets `--orders` orders' events of the flow's kinds and sizes (JSON states:
`Routed` 4,434 B, the decision's inputs 3,371 B, two shipment requests 672 B, four
reservations 303 B: 7 events per order, 35 per save), then one backend reads the whole log 40
rows at a time both ways, rounds alternating: its CPU (/proc/PID/schedstat) and the client's
per read, and the state bytes received per read.
"""

import argparse
import json
import random
import statistics
import time
import uuid
from pathlib import Path
from typing import Any

import psycopg

from benchmarks.pg_store_ops import backend_seconds
from benchmarks.services import drop_database, fresh_database, postgres_server

_READ = (
    "SELECT notification_id, originator_id::text, originator_version, topic, {state}"
    " FROM orderhub_events WHERE notification_id>%s ORDER BY notification_id LIMIT %s"
)
_INPUTS = "aggregates.decision_inputs:RecordedInputs.Recorded"
_WAYS = {
    "states sent": (_READ.format(state="state"), False),
    "unpublished as NULL": (
        _READ.format(state="CASE WHEN topic = ANY(%s::text[]) THEN NULL ELSE state END"),
        True,
    ),
}


def _json(rng: random.Random, size: int) -> bytes:
    """JSON of about `size` bytes that compresses as the hub's events do (ids, SKUs, figures)."""
    rows: list[dict[str, Any]] = []
    while len(json.dumps(rows)) < size:
        rows.append(
            {
                "source_id": str(uuid.UUID(int=rng.getrandbits(128))),
                "sku": f"SKU-{rng.randrange(10_000):05d}",
                "score": round(rng.random(), 6),
                "available": rng.randrange(100),
                "reason": rng.choice(["distance", "stock", "cost"]),
            }
        )
    return json.dumps(rows).encode()[:size]


def _order(rng: random.Random) -> list[Any]:
    from eventsourcing.persistence import StoredEvent

    order = uuid.uuid4()
    return [
        StoredEvent(order, 3, "aggregates.order:Order.Routed", _json(rng, 4_434)),
        StoredEvent(uuid.uuid4(), 1, _INPUTS, _json(rng, 3_371)),
        *[
            StoredEvent(order, v, "aggregates.order:Order.FulfillmentRequested", _json(rng, 672))
            for v in (4, 5)
        ],
        *[
            StoredEvent(uuid.uuid4(), 2, "aggregates.stock:StockItem.Reserved", _json(rng, 303))
            for _ in range(4)
        ],
    ]


def _store(url: str, orders: int) -> None:
    from hub.settings import Settings
    from hub.store import OrderStore

    settings = Settings(data_dir=Path("/tmp"), kafka_bootstrap=None, database_url=url)
    store = OrderStore(env=settings.eventsourcing_env())
    rng = random.Random(1)
    try:
        for _ in range(0, orders, 5):
            store.recorder.insert_events([e for _ in range(5) for e in _order(rng)])
    finally:
        store.close()


def _read_all(conn: psycopg.Connection[Any], statement: str, unsent: bool) -> dict[str, float]:
    pid = conn.info.backend_pid
    server, client = backend_seconds(pid), time.process_time()
    reads, received, position = 0, 0, 0
    with conn.cursor(binary=True) as cur:
        while True:
            params = [[_INPUTS], position, 40] if unsent else [position, 40]
            rows = cur.execute(statement, params, prepare=True).fetchall()
            reads += 1
            received += sum(len(row[4] or b"") for row in rows)
            if len(rows) < 40:
                break
            position = rows[-1][0]
    return {
        "server_us": (backend_seconds(pid) - server) * 1e6 / reads,
        "client_us": (time.process_time() - client) * 1e6 / reads,
        "bytes": received / reads,
    }


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__)
    parser.add_argument("--orders", type=int, default=300)
    parser.add_argument("--rounds", type=int, default=3)
    args = parser.parse_args()
    server = postgres_server()
    url = fresh_database(server)
    found: dict[str, list[dict[str, float]]] = {way: [] for way in _WAYS}
    try:
        _store(url, args.orders)
        options = "-c plan_cache_mode=force_generic_plan"  # as the store's connections
        with psycopg.connect(url, autocommit=True, options=options) as conn:
            for _ in range(args.rounds):
                for way, (statement, unsent) in _WAYS.items():
                    found[way].append(_read_all(conn, statement, unsent))
    finally:
        drop_database(server, url)
    print(f"{args.orders} orders, reads of 40 rows, {args.rounds} rounds alternating")
    for way, rounds in found.items():
        med = {k: statistics.median(r[k] for r in rounds) for k in rounds[0]}
        each = ", ".join(f"{r['server_us']:.0f}" for r in rounds)
        print(
            f"  {way:20} server {med['server_us']:6.0f} µs ({each}), client "
            f"{med['client_us']:5.0f} µs, state bytes {med['bytes']:,.0f} per read"
        )


if __name__ == "__main__":
    main()
