"""Loading orders from the event store: CPU per order of the store's multi-get, by its parts.

Run:  python -m benchmarks.order_loads [--orders 2000] [--rounds 3] [--chunk 50] [--passes 5]
                                       [--base /path/to/other/tree]

Every role that works on an order loads it first (the orchestration role each order it
routes, fulfillment those a source reports on, the API those it is asked for), through the
store's multi-get (`OrderStore.get_many`: one query for a chunk of orders, each order's
events mapped to domain events and projected). This records, once, in a fresh PostgreSQL
database, orders on the flow benchmark's network of 100 sources (`benchmarks.network`),
half of them accepted only (`Placed`, `Accepted`: what the orchestration role loads) and
half routed (their `Routed` and `FulfillmentRequested` too: what fulfillment loads). Then,
per round and tree (this one, and `--base` when given, alternating which goes first), a
process running that tree's code loads every order `--passes` times in chunks of
`--chunk`, and reports µs of its CPU per order: the whole `get_many`, and apart (passes of
their own) the select of the rows, their mapping to domain events, and the projection. The
stored events are the same bytes for both trees (what is compared is the read path).
Medians over the passes, then over the rounds.
"""

import argparse
import json
import statistics
import subprocess
import sys
import tempfile
from pathlib import Path
from typing import Any
from uuid import UUID

from aggregates import Order
from benchmarks.route_batches import network_router
from benchmarks.services import drop_database, fresh_database, postgres_server

HERE = Path(__file__).resolve().parent.parent
KINDS = ("accepted", "routed")
PARTS = ("get_many", "select", "map", "project")

# Run in a process of its own, with the code of the tree it is run in (`PYTHONPATH`): only
# what every tree has (the store, its multi-get, its mapper).
CHILD = """
import gc, json, statistics, sys, tempfile, time
from pathlib import Path
from uuid import UUID

from aggregates import Order
from hub.multi_get import project_events, select_events_of_many
from hub.settings import Settings
from hub.store import OrderStore

given = json.loads(sys.argv[1])
tmp = tempfile.mkdtemp()
settings = Settings(data_dir=Path(tmp), kafka_bootstrap=None, database_url=given["database"])
store = OrderStore(env=settings.eventsourcing_env())
mapper, recorder = store.mapper, store.recorder


def each_chunk(ids, work):
    spent = 0.0
    for start in range(0, len(ids), given["chunk"]):
        chunk = ids[start : start + given["chunk"]]
        rows = select_events_of_many(recorder, dict.fromkeys(chunk, 0))
        stored = [rows[i] for i in chunk]
        events = [list(map(mapper.to_domain_event, s)) for s in stored]
        cpu = time.process_time()
        work(chunk, stored, events)
        spent += time.process_time() - cpu
    return spent


WORK = {
    "get_many": lambda chunk, stored, events: store.get_many(chunk, Order),
    "select": lambda chunk, stored, events: select_events_of_many(
        recorder, dict.fromkeys(chunk, 0)
    ),
    "map": lambda chunk, stored, events: [
        mapper.to_domain_event(e) for s in stored for e in s
    ],
    "project": lambda chunk, stored, events: [project_events(None, e) for e in events],
}
found = {}
for kind, ids in given["ids"].items():
    ids = [UUID(i) for i in ids]
    loaded = store.get_many(ids, Order)
    assert len(loaded) == len(ids) and all(type(o) is Order for o in loaded.values())
    found[kind] = {"events": sum(o.version for o in loaded.values()) / len(ids)}
gc.collect()
gc.freeze()  # what was read so far is not walked again by the passes' collections
for kind, ids in given["ids"].items():
    ids = [UUID(i) for i in ids]
    for part, work in WORK.items():
        times = [each_chunk(ids, work) / len(ids) * 1e6 for _ in range(given["passes"])]
        found[kind][part] = statistics.median(times)
store.close()
print(json.dumps(found))
"""


def record_orders(server: str, database: str, orders: int) -> dict[str, list[str]]:
    """`orders` orders on the network, the second half of them routed; their ids by kind."""
    with tempfile.TemporaryDirectory(prefix="orderhub-loads-") as tmp:
        router = network_router(server, database, tmp, sources=100)
        try:
            accepted = []
            for start in range(0, orders, 200):
                accepted += router.accepted(min(200, orders - start))
            routed = accepted[orders // 2 :]
            router.timed([routed[i : i + 50] for i in range(0, len(routed), 50)])
            versions = {
                str(order_id): order.version
                for order_id, order in router.hub.store.get_many(
                    (UUID(e.subject) for e in accepted), Order
                ).items()
            }
            return {  # the orders held or left waiting are left out
                "accepted": [e.subject for e in accepted[: orders // 2]],
                "routed": [e.subject for e in routed if versions[e.subject] >= 4],
            }
        finally:
            router.hub.close()


def load_in(tree: Path, given: dict[str, Any]) -> dict[str, dict[str, float]]:
    """The loads' CPU per order in a process running `tree`'s code."""
    out = subprocess.run(
        [sys.executable, "-c", CHILD, json.dumps(given)],
        cwd=tree,
        env={"PYTHONPATH": str(tree), "PATH": "/usr/bin:/bin"},
        check=True,
        capture_output=True,
        text=True,
    )
    found: dict[str, dict[str, float]] = json.loads(out.stdout.strip().splitlines()[-1])
    return found


Rounds = dict[str, list[dict[str, dict[str, float]]]]


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--orders", type=int, default=2000)
    parser.add_argument("--rounds", type=int, default=3)
    parser.add_argument("--chunk", type=int, default=50, help="orders per multi-get")
    parser.add_argument("--passes", type=int, default=5, help="loads of every order per round")
    parser.add_argument("--base", type=Path, help="another tree to run the same way (A/B)")
    args = parser.parse_args()
    trees = {"this": HERE} | ({"base": args.base.resolve()} if args.base else {})
    server = postgres_server()
    database = fresh_database(server)
    try:
        ids = record_orders(server, database, args.orders)
        given = {"database": database, "ids": ids, "chunk": args.chunk, "passes": args.passes}
        results = _rounds(trees, given, args.rounds)
    finally:
        drop_database(server, database)
    print(f"PostgreSQL, {args.orders} orders, chunks of {args.chunk}; µs of CPU per order,")
    print("medians of the rounds (each the median of its passes):")
    for name, rounds in results.items():
        print(f"  {name} ({trees[name]}):")
        for kind in KINDS:
            median = {part: statistics.median(r[kind][part] for r in rounds) for part in PARTS}
            parts = ", ".join(f"{part} {median[part]:.1f}" for part in PARTS)
            print(f"    {kind} ({rounds[0][kind]['events']:.1f} events an order): {parts}")


def _rounds(trees: dict[str, Path], given: dict[str, Any], rounds: int) -> Rounds:
    """Each tree's loads, round by round, which tree goes first alternating."""
    results: Rounds = {name: [] for name in trees}
    for n in range(rounds):
        for name in list(trees) if n % 2 == 0 else list(trees)[::-1]:
            results[name].append(load_in(trees[name], given))
            print(f"  round {n + 1}, {name}: {_line(results[name][-1])}", flush=True)
    return results


def _line(found: dict[str, dict[str, float]]) -> str:
    return "; ".join(
        f"{kind} " + ", ".join(f"{part} {found[kind][part]:.1f}" for part in PARTS)
        for kind in KINDS
    )


if __name__ == "__main__":
    main()
