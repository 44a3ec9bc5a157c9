"""PostgreSQL's cost per order against a long history: the same short workload on a database
holding a short history and on one holding a long one, per statement.

Run:  python -m benchmarks.pg_history [--history 10000,200000] [--orders 1000] [--rounds 2]
          [--keep] [--chunk 50] [--batch 500]

A seed history (benchmarks.projection_events: 100 sources, 10,000 SKUs, orders of 1-7 lines
routed, a fifth shipped) is recorded once by the hub's own code in PostgreSQL, and the views
are fed its records. Each history length is a copy of that database whose orders are repeated
in SQL until it holds that many: every stored event of an order and of its recorded decision
inputs, and every view row keyed by an order, again under a new order id, an hour older per
copy, ended as the soak ends its orders (shipped; what waited, cancelled). The network's events
(sources, stock items) are not repeated: the supply view would take them for new stock. The
copy is then vacuumed and analysed, as autovacuum would have over the soak's hours (`--keep`
keeps the databases, pghist_*, for the next run: building 200,000 orders takes minutes).

The workload is the same on each: `--orders` new orders placed and routed in chunks of
`--chunk` as the orchestrator does, a fifth shipped, the soak's service-desk search for waiting
orders (oldest first, pages of 500) once per `--search-every` orders, and the projections
role's consumer fed the new records in batches of `--batch`; not measured: the supply view's
catch-up and a first chunk. Measured (benchmarks.pg_window): the CPU of the database's backends
from /proc (and this process's) per order, and from pg_stat_statements per statement: calls, ms,
shared blocks hit and read. Lengths alternate round by round. The server must load
pg_stat_statements (`ORDERHUB_PG_STAT_STATEMENTS=1 infra/postgres.sh start` on a cluster of its
own) with the extension created in template1 (as the superuser).
"""

import argparse
import asyncio
import json
import random
import secrets
import statistics
import tempfile
import time
import uuid
from pathlib import Path
from typing import Any
from uuid import UUID

import psycopg

from benchmarks.pg_window import Window
from benchmarks.projection_events import projection_records, record_history, shipped_updates
from benchmarks.projections_batch import decode_once, hub_on
from benchmarks.route_profile import order_command
from benchmarks.services import drop_database, fresh_database, postgres_server
from hub.bootstrap import Hub
from projections.order_query import OrderQuery
from schemas.event_types import EventType
from schemas.fulfillment import FulfillmentUpdate

RESULTS = Path(__file__).parent / "results"
CHUNK = 50
SEARCH = OrderQuery(status=("backordered", "held"), descending=False, limit=500)
# Stored events of these aggregates are repeated per order (their ids are the order's, or a
# decision's); the rest (sources, stock items, policies) describe the network, not the history.
ORDER_TOPICS = ("aggregates.order:%", "aggregates.decision_inputs:RecordedInputs%")


def db_name(url: str) -> str:
    return url.rsplit("/", 1)[1]


def prepare(server: str, seed: int, tmp: Path, name: str | None) -> str:
    """The template: the seed history recorded and applied to the views."""
    template = fresh_database(server) if name is None else database(server, name)
    hub = hub_on(template, tmp)
    try:
        record_history(hub, seed)
        asyncio.run(decode_once(hub, projection_records(hub), 2000))
    finally:
        hub.close()
    return template


def database(server: str, name: str, template: str | None = None) -> str:
    """A database of this name (a copy of `template`'s) made on the server."""
    with psycopg.connect(server, autocommit=True) as conn:
        copied = f' TEMPLATE "{db_name(template)}"' if template else ""
        conn.execute(f'CREATE DATABASE "{name}"{copied}')
    return server.rsplit("/", 1)[0] + f"/{name}"


def kept(server: str, name: str) -> str | None:
    with psycopg.connect(server, autocommit=True) as conn:
        found = conn.execute("SELECT 1 FROM pg_database WHERE datname = %s", (name,)).fetchone()
    return server.rsplit("/", 1)[0] + f"/{name}" if found else None


def histories(server: str, args: argparse.Namespace, tmp: Path) -> dict[int, str]:
    """A database per history length, kept ones reused with `--keep`."""
    grown = _kept(server, args)
    missing = [h for h in args.lengths if h not in grown]
    if not missing:
        return grown
    seed_name = f"pghist_{args.seed}" if args.keep else None
    template = (seed_name and kept(server, seed_name)) or prepare(server, args.seed, tmp, seed_name)
    for h in missing:
        grown[h] = database(server, _name(args, h), template)
        t0 = time.perf_counter()
        grow(grown[h], args.seed, h)
        print(f"  history {h:,} built in {time.perf_counter() - t0:.0f} s")
    if not args.keep:
        drop_database(server, template)
    return grown


def _kept(server: str, args: argparse.Namespace) -> dict[int, str]:
    found = {h: kept(server, _name(args, h)) for h in args.lengths} if args.keep else {}
    return {h: url for h, url in found.items() if url}


def _name(args: argparse.Namespace, history: int) -> str:
    return (
        f"pghist_{args.seed}_{history}" if args.keep else f"orderhub_bench_{uuid.uuid4().hex[:8]}"
    )


def order_tables(conn: psycopg.Connection[Any]) -> dict[str, list[str]]:
    """The views' tables keyed by order (the event store's apart) and their columns."""
    rows = conn.execute(
        "SELECT table_name, column_name FROM information_schema.columns "
        "WHERE table_schema = 'public' AND table_name IN (SELECT table_name "
        "FROM information_schema.columns WHERE column_name = 'order_id') "
        "ORDER BY table_name, ordinal_position"
    ).fetchall()
    tables: dict[str, list[str]] = {}
    for table, column in rows:
        tables.setdefault(table, []).append(column)
    return tables


_NEW_ID = "md5({0}::text || '/' || k)::uuid"
# Copy k of the seed is k hours older, and its orders have ended as the soak's do: everything
# shipped, what waited cancelled by the service desk; its exceptions resolved.
_SHIFTED = (
    "to_char({0}::timestamptz - k * interval '1 hour', 'YYYY-MM-DD\"T\"HH24:MI:SS') "
    "|| substr({0}, 20)"
)
_COPIED = {
    "order_id": _NEW_ID,
    "exception_id": _NEW_ID,
    "placed_at": _SHIFTED,
    "updated_at": _SHIFTED,
    "opened_at": _SHIFTED,
    "status": "CASE WHEN {0} IN ('held', 'backordered') THEN 'cancelled' "
    "WHEN {0} IN ('routed', 'accepted') THEN 'shipped' ELSE {0} END",
    "is_open": "false",
}
# Cancelled orders wait for nothing; ended orders have no open promise for the jeopardy clock
# to hear of (and the clock deletes its news within a tick: a long history holds none).
_NOT_COPIED = ("backorder_lines", "order_promise_news")


def grow(url: str, seed: int, history: int) -> None:
    """Repeat the seed's orders until the database holds `history` orders."""
    copies = max(0, -(-history // seed) - 1)
    if not copies:
        return
    with psycopg.connect(url, autocommit=True) as conn:
        conn.execute("SET TimeZone = 'UTC'")
        topics = " OR ".join("topic LIKE %s" for _ in ORDER_TOPICS)
        conn.execute(
            "INSERT INTO orderhub_events (originator_id, originator_version, topic, state) "
            f"SELECT {_NEW_ID.format('originator_id')}, originator_version, topic, state "
            f"FROM orderhub_events, generate_series(%s, 1, -1) k WHERE {topics} "
            "ORDER BY k DESC, notification_id",
            (copies, *ORDER_TOPICS),
        )
        for table, columns in order_tables(conn).items():
            if table in _NOT_COPIED:
                continue
            chosen = ", ".join(_COPIED.get(c, "{0}").format(c) for c in columns)
            conn.execute(
                f"INSERT INTO {table} ({', '.join(columns)}) "
                f"SELECT {chosen} FROM {table}, generate_series(%s, 1, -1) k",
                (copies,),
            )
        conn.execute("VACUUM ANALYZE")


def shipments_of(hub: Hub, after: int) -> list[FulfillmentUpdate]:
    """A fifth of the orders recorded after `after` shipped (by order id)."""
    return [
        update
        for _, env in hub.store.read_envelopes(after, 1 << 30)
        if env.type == EventType.ORDER_FULFILLMENT_REQUESTED and UUID(env.subject).int % 5 == 0
        for update in shipped_updates(env)
    ]


def place_and_route(hub: Hub, commands: list[Any], search_every: int, size: int = CHUNK) -> int:
    """Orders placed and routed in chunks as the orchestrator does, the service desk's search
    for waiting orders (oldest first) now and then; returns the searches made."""
    searches = 0
    for first in range(0, len(commands), size):
        chunk = commands[first : first + size]
        hub.intake.place_orders(chunk)
        hub.orchestration.orchestrate_many([c.order_id for c in chunk])
        if (first + size) % search_every < size:
            hub.order_status.search(SEARCH)
            searches += 1
    return searches


def workload(hub: Hub, window: Window, args: argparse.Namespace, round_no: int) -> int:
    """New orders placed, routed, a fifth shipped, searched for, their records applied to the
    views; returns the searches made. The orders are the same each round of a run (new ids)."""
    last = _last_id(str(hub.settings.database_url))
    rng, start = random.Random(round_no), 10_000_000 + secrets.randbelow(10**9)
    commands = [order_command(rng, start + n, 10_000) for n in range(args.orders)]
    searches: int = window.run(place_and_route, hub, commands, args.search_every, args.chunk)
    updates = shipments_of(hub, last)
    window.run(hub.fulfillment.apply_updates, updates)
    records = projection_records(hub, last, next_offsets(hub.settings.database_url))
    window.run(lambda: asyncio.run(decode_once(hub, records, args.batch)))
    return searches


def measure(
    server: str, url: str, history: int, args: argparse.Namespace, round_no: int
) -> dict[str, Any]:
    """One round of the workload on the database holding `history` orders."""
    hub = hub_on(url, args.tmp)
    try:
        # Not measured: the supply view's catch-up over the history written behind its back,
        # and a first chunk of orders (the pool's connections, the caches).
        hub.orchestration.supply.refresh()
        warm, start = random.Random(-round_no), secrets.randbelow(10**9)
        place_and_route(hub, [order_command(warm, start + n, 10_000)
                              for n in range(CHUNK)], 1 << 30)  # fmt: skip
        window = Window(server, url)
        wall = time.perf_counter()
        searches = workload(hub, window, args, round_no)
        wall = time.perf_counter() - wall
    finally:
        hub.close()
    return {
        "history": history,
        "round": round_no,
        "wall_s": wall,
        "pg_ms_per_order": window.pg / args.orders * 1000,
        "hub_ms_per_order": window.hub / args.orders * 1000,
        "searches": searches,
        "statements": sorted(window.statements.values(), key=lambda r: -r["ms"]),
        "sizes": sizes(url),
    }


def next_offsets(url: Any) -> dict[tuple[str, int], int]:
    """Where the workload's records carry on per topic-partition: past every position the
    views have saved (a record at or below one would be taken for one seen already)."""
    with psycopg.connect(url) as conn:
        rows = conn.execute("SELECT stream, max(position) FROM orderhub_positions GROUP BY 1")
        found = {}
        for stream, position in rows:
            topic, _, partition = str(stream).rpartition(":")
            if partition.isdigit():
                found[(topic, int(partition))] = int(position) + 1
    return found


def _last_id(url: str) -> int:
    with psycopg.connect(url) as conn:
        row = conn.execute("SELECT max(notification_id) FROM orderhub_events").fetchone()
    return int(row[0]) if row and row[0] is not None else 0


def sizes(url: str) -> list[tuple[str, int]]:
    with psycopg.connect(url) as conn:
        rows = conn.execute(
            "SELECT relname, pg_relation_size(oid) FROM pg_class WHERE relkind IN ('r', 'i') "
            "AND relnamespace = 'public'::regnamespace ORDER BY 2 DESC LIMIT 12"
        ).fetchall()
    return [(r[0], int(r[1])) for r in rows]


def report(runs: list[dict[str, Any]], args: argparse.Namespace) -> None:
    lengths = sorted({r["history"] for r in runs})
    print(f"{args.orders} orders per round; PostgreSQL's backends' CPU ms per order (rounds):")
    for h in lengths:
        report_cpu(h, [r for r in runs if r["history"] == h])
    for h in lengths:
        report_statements(h, [r for r in runs if r["history"] == h][-1], args)


def report_cpu(history: int, runs: list[dict[str, Any]]) -> None:
    def figures(key: str) -> str:
        values = [r[key] for r in runs]
        listed = ", ".join(f"{x:.2f}" for x in values)
        return f"{statistics.median(values):6.2f} ms/order ({listed})"

    pg, hub = figures("pg_ms_per_order"), figures("hub_ms_per_order")
    print(f"  history {history:>9,}: PostgreSQL {pg}; hub process {hub}")


def report_statements(history: int, run: dict[str, Any], args: argparse.Namespace) -> None:
    """Per order: calls, ms (wall time in the server: a busy machine's waits in it), shared
    blocks found in PostgreSQL's buffers and read into them (from the OS or the disk)."""
    n = args.orders
    print(f"\n  history {history:,}, last round, statements by time (per order):")
    print("     calls     ms    hit   read  rows/call  statement")
    for s in run["statements"][: args.top]:
        print(
            f"  {s['calls'] / n:8.2f} {s['ms'] / n:6.3f} {s['hit'] / n:6.1f} "
            f"{s['read'] / n:6.1f} {s['rows'] / max(1, s['calls']):9.1f}  {s['query']}"
        )
    sizes = ", ".join(f"{name} {size / 1e6:.0f}" for name, size in run["sizes"])
    print(f"  largest relations (MB): {sizes}")


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--history", default="10000,200000", help="orders held, comma-separated")
    parser.add_argument("--orders", type=int, default=1000, help="orders per measured round")
    parser.add_argument("--rounds", type=int, default=2)
    parser.add_argument("--seed", type=int, default=2000, help="orders recorded by the hub")
    parser.add_argument("--chunk", type=int, default=CHUNK, help="orders routed per batch")
    parser.add_argument("--batch", type=int, default=500, help="records per views' batch")
    parser.add_argument("--search-every", type=int, default=250, help="orders per search")
    parser.add_argument("--top", type=int, default=15)
    parser.add_argument("--keep", action="store_true", help="keep the databases (pghist_*) "
                        "and reuse them: each round adds its orders to their history")  # fmt: skip
    parser.add_argument("--out", type=Path, default=RESULTS / "pg_history.json")
    args = parser.parse_args()
    args.lengths = [int(x) for x in args.history.split(",")]
    server = postgres_server()
    runs = []
    with tempfile.TemporaryDirectory(prefix="orderhub-pghistory-") as tmp:
        args.tmp = Path(tmp)
        grown = histories(server, args, args.tmp)
        try:
            for n in range(args.rounds):
                for h in args.lengths if n % 2 == 0 else reversed(args.lengths):
                    runs.append(measure(server, grown[h], h, args, n))
                    print(f"  round {n + 1}, history {h:,}: {runs[-1]['pg_ms_per_order']:.2f} ms")
        finally:
            for url in grown.values() if not args.keep else ():
                drop_database(server, url)
    given = {k: v for k, v in vars(args).items() if k not in ("tmp", "out")}
    args.out.write_text(json.dumps({"args": given, "runs": runs}))
    report(runs, args)


if __name__ == "__main__":
    main()
