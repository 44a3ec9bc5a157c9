"""The projections role against a long history: its CPU and PostgreSQL's per order, the same
orders applied after a short history and after a long one.

Run:  python -m benchmarks.projections_history [--orders 2000] [--short 10000] [--long 200000]
          [--rounds 2] [--batch 100] [--statements 12] [--save FILE | --load FILE]

A soak cannot reach 200,000 orders on a shared machine, so the history is built directly, by
the role's own path: `benchmarks.projections_batch`'s recorded history (100 sources, 10,000
SKUs, orders of 1-7 lines routed, a fifth shipped) gives the measured orders' records; the
history before them is those records again, copied with every id renamed (order, event,
shipment ids: `clone`) and their day moved back a day per copy, fed to the role's consumer
in batches of 2,000 (billing left out: the copies' orders are not in the event store). The
views' tables then hold `--short` or `--long` orders more (order status and its child rows,
the exception contexts and cases, the backorders, the rejected submissions), their indexes
grown as a live table's, then VACUUM ANALYZE as autovacuum would.

Each round copies each template (CREATE DATABASE … TEMPLATE, file copy) and feeds the
measured orders' records to the role's consumer (every view and billing) in batches of
`--batch`, the two sides alternating, the first side alternating too. Printed per side: the
role's CPU (this process) and the database backends' (/proc) per order, and with
`--statements N` the N statements whose total time differs most (pg_stat_statements: the
cluster must load it, ORDERHUB_PG_STAT_STATEMENTS=1 when infra/postgres.sh starts it).
"""

import argparse
import asyncio
import os
import pickle
import re
import statistics
import tempfile
import time
from collections.abc import Iterator, Sequence
from dataclasses import dataclass
from datetime import date, timedelta
from pathlib import Path

import psycopg

from benchmarks import projections_batch as batch
from benchmarks.procstats import rss_bytes
from benchmarks.projections_wal import backends_cpu
from benchmarks.services import drop_database, postgres_server
from connectors.consumed import ConsumedMessage
from connectors.publisher import RecordingPublisher
from hub.bootstrap import Hub
from hub.streaming.feeds import FeedsConsumer
from hub.streaming.roles import Role, role_topics

_UUID = re.compile(rb"[0-9a-f]{8}(-[0-9a-f]{4}-[0-9a-f]{4}-[0-9a-f]{4}-[0-9a-f]{12})")
_DAY = b"2026-11-20T"  # the recorded history's day (benchmarks.route_profile.NOW)
FILL_BATCH = 2000


def clone(records: Sequence[ConsumedMessage], copy: int, topics: frozenset[str]) -> Iterator[
    ConsumedMessage
]:  # fmt: skip
    """The records of `topics` as another `copy` of the same orders: every UUID's first eight
    hex digits replaced by the copy's number (each id stays unique: the rest of a UUID5 is),
    the external ids numbered by copy, the day moved `copy` days back. Offsets are left to
    the caller."""
    prefix = b"%08x" % (0xC0000000 + copy)
    day = (date(2026, 11, 20) - timedelta(days=copy)).isoformat().encode() + b"T"
    external = b'"BENCH-%04d-' % copy

    def renamed(data: bytes) -> bytes:
        data = _UUID.sub(prefix + rb"\1", data)
        return data.replace(_DAY, day).replace(b'"BENCH-', external)

    for r in records:
        if r.topic in topics:
            headers = tuple((k, renamed(v)) for k, v in r.headers)
            key = renamed(r.key) if r.key is not None else None
            yield ConsumedMessage(r.topic, r.partition, 0, key, renamed(r.value), headers)


class Offsets:
    """Offsets per topic-partition, counted on as the records come: the copies first, then the
    measured records after them, as a live log would hold them."""

    def __init__(self) -> None:
        self.next: dict[tuple[str, int], int] = {}

    def place(self, records: Iterator[ConsumedMessage]) -> list[ConsumedMessage]:
        placed = []
        for r in records:
            offset = self.next.get((r.topic, r.partition), 0)
            self.next[(r.topic, r.partition)] = offset + 1
            placed.append(ConsumedMessage(r.topic, r.partition, offset, r.key, r.value, r.headers))
        return placed


def history_consumer(hub: Hub) -> FeedsConsumer:
    """The role's consumer without billing (it would look for the copies' orders in the event
    store, which holds only the measured ones)."""
    feeds = [f for f in batch.role_feeds(hub) if f.name != "billing"]
    return FeedsConsumer("projections", feeds, RecordingPublisher(), hub.settings)


def fill(url: str, records: Sequence[ConsumedMessage], copies: range, offsets: Offsets,
         tmp: Path) -> None:  # fmt: skip
    hub = batch.hub_on(url, tmp)
    try:
        consumer = history_consumer(hub)
        topics = frozenset(hub.settings.topic(t) for t in ("order_events", "rejected")) & frozenset(
            role_topics(hub.settings, Role.PROJECTIONS)
        )
        started = time.perf_counter()
        for copy in copies:
            placed = offsets.place(clone(records, copy + 1, topics))
            for start in range(0, len(placed), FILL_BATCH):
                asyncio.run(consumer.handle(placed[start : start + FILL_BATCH]))
            if copy % 10 == 9:
                mb = (rss_bytes(os.getpid()) or 0) / 2**20
                print(f"  copy {copy + 1}: {time.perf_counter() - started:.0f} s, RSS {mb:.0f} MB")
    finally:
        hub.close()


def copy_database(server: str, template: str) -> str:
    return batch.copy_database(server, template, file_copy=True)


def vacuum(url: str) -> None:
    with psycopg.connect(url, autocommit=True) as conn:
        conn.execute("VACUUM ANALYZE")


@dataclass
class Prepared:
    templates: dict[str, str]  # side → template database URL
    records: list[ConsumedMessage]  # the measured orders' records, offsets after the history
    orders: int


def prepare(server: str, args: argparse.Namespace, tmp: Path) -> Prepared:
    base, records, orders = batch.prepare(server, args.orders, tmp)
    offsets = Offsets()
    templates = {}
    built, source = 0, base
    for side, size in (("short", args.short), ("long", args.long)):
        url = copy_database(server, source)
        print(f"{side}: {size:,} orders of history into {url.rsplit('/', 1)[1]}")
        fill(url, records, range(built // orders, size // orders), offsets, tmp)
        vacuum(url)
        templates[side], built, source = url, size, url
    drop_database(server, base)
    return Prepared(templates, offsets.place(iter(records)), orders)


class _Unpickler(pickle.Unpickler):
    def find_class(self, module: str, name: str) -> object:
        # Saved by `python -m benchmarks.projections_history`, whose module was __main__.
        if module == "__main__" and name == Prepared.__name__:
            return Prepared
        return super().find_class(module, name)


def load_prepared(path: Path) -> Prepared:
    """What `--save` kept (the templates stay in the cluster until dropped by hand)."""
    with path.open("rb") as file:
        found = _Unpickler(file).load()
    assert isinstance(found, Prepared)
    return found


Stat = tuple[int, float, int, int]  # calls, total ms, shared blocks read (not in the buffers), hit


def statements(server: str, url: str) -> dict[str, Stat]:
    """pg_stat_statements of one database by statement text."""
    name = url.rsplit("/", 1)[1]
    with psycopg.connect(server, autocommit=True) as conn:
        rows = conn.execute(
            "SELECT query, calls, total_exec_time, shared_blks_read, shared_blks_hit "
            "FROM pg_stat_statements s "
            "JOIN pg_database d ON d.oid = s.dbid WHERE d.datname = %s",
            (name,),
        ).fetchall()
    found: dict[str, Stat] = {}
    for query, *figures in rows:
        was = found.get(query, (0, 0.0, 0, 0))
        found[query] = (
            was[0] + int(figures[0]),
            was[1] + float(figures[1]),
            was[2] + int(figures[2]),
            was[3] + int(figures[3]),
        )
    return found


@dataclass
class Round:
    role_ms: float  # per order
    backends_ms: float
    wall_s: float
    statements: dict[str, Stat]


def measure(server: str, template: str, prepared: Prepared, size: int, tmp: Path) -> Round:
    url = copy_database(server, template)
    hub = batch.hub_on(url, tmp)
    try:
        before = backends_cpu(server, url)
        wall, cpu = time.perf_counter(), time.process_time()
        asyncio.run(batch.decode_once(hub, prepared.records, size))
        wall, cpu = time.perf_counter() - wall, time.process_time() - cpu
        after = backends_cpu(server, url)
        used = statements(server, url)
    finally:
        hub.close()
        drop_database(server, url)
    backends = sum(t - before.get(pid, 0.0) for pid, t in after.items())
    per = 1000 / prepared.orders
    return Round(cpu * per, backends * per, wall, used)


def report(rounds: dict[str, list[Round]], prepared: Prepared, top: int) -> None:
    print(f"{prepared.orders} orders measured, {len(prepared.records)} records, per order:")
    for side, runs in rounds.items():
        if not runs:
            continue
        role = ", ".join(f"{r.role_ms:.2f}" for r in runs)
        pg = ", ".join(f"{r.backends_ms:.2f}" for r in runs)
        print(
            f"  {side:>5}: role {statistics.median(r.role_ms for r in runs):.2f} ms ({role}), "
            f"PostgreSQL {statistics.median(r.backends_ms for r in runs):.2f} ms ({pg})"
        )
    if top:
        _statement_report(rounds, prepared.orders, top)


def _statement_report(rounds: dict[str, list[Round]], orders: int, top: int) -> None:
    totals: dict[str, dict[str, float]] = {}
    reads: dict[str, dict[str, tuple[int, int]]] = {}  # blocks read and hit per round
    for side, runs in rounds.items():
        for r in runs:
            for query, (_, ms, read, hit) in r.statements.items():
                totals.setdefault(query, {}).setdefault(side, 0.0)
                totals[query][side] += ms / len(runs) * 1000 / orders
                was = reads.setdefault(query, {}).get(side, (0, 0))
                reads[query][side] = (was[0] + read // len(runs), was[1] + hit // len(runs))
    ranked = sorted(
        totals.items(), key=lambda q: abs(q[1].get("long", 0) - q[1].get("short", 0)), reverse=True
    )
    print(
        "  statements, µs of execution per order short → long (blocks read from outside the "
        "buffers / hit per round, short → long), by difference:"
    )
    for query, by in ranked[:top]:
        text = " ".join(query.split())[:100]
        short, long = reads[query].get("short", (0, 0)), reads[query].get("long", (0, 0))
        print(
            f"    {by.get('short', 0):7.1f} → {by.get('long', 0):7.1f}  "
            f"({short[0]:,} / {short[1]:,} → {long[0]:,} / {long[1]:,})  {text}"
        )


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--orders", type=int, default=2000, help="orders measured")
    parser.add_argument("--short", type=int, default=10_000, help="orders of history before")
    parser.add_argument("--long", type=int, default=200_000)
    parser.add_argument("--rounds", type=int, default=2)
    parser.add_argument("--batch", type=int, default=100, help="records per consumed batch")
    parser.add_argument("--statements", type=int, default=12)
    parser.add_argument("--save", type=Path, help="keep the templates; their names to FILE")
    parser.add_argument("--load", type=Path, help="templates kept by --save")
    args = parser.parse_args()
    server = postgres_server()
    with tempfile.TemporaryDirectory(prefix="orderhub-history-") as tmp:
        prepared = load_prepared(args.load) if args.load else prepare(server, args, Path(tmp))
        if args.save:
            args.save.write_bytes(pickle.dumps(prepared))
        try:
            rounds = run_rounds(server, prepared, args, Path(tmp))
        finally:
            if not (args.save or args.load):
                for url in prepared.templates.values():
                    drop_database(server, url)
    report(rounds, prepared, args.statements)


def run_rounds(server: str, prepared: Prepared, args: argparse.Namespace, tmp: Path) -> dict[
    str, list[Round]
]:  # fmt: skip
    rounds: dict[str, list[Round]] = {side: [] for side in prepared.templates}
    for n in range(args.rounds):
        sides = list(prepared.templates)
        for side in sides if n % 2 == 0 else sides[::-1]:
            r = measure(server, prepared.templates[side], prepared, args.batch, tmp)
            print(f"  round {n + 1} {side}: role {r.role_ms:.2f} ms, PostgreSQL "
                  f"{r.backends_ms:.2f} ms per order, {r.wall_s:.1f} s")  # fmt: skip
            rounds[side].append(r)
    return rounds


if __name__ == "__main__":
    main()
