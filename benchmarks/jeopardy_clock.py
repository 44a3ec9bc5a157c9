"""The jeopardy clock's cost against the open orders it watches, on PostgreSQL.

Run:  python -m benchmarks.jeopardy_clock [--open 1000,50000 --ticks 5 --margin-hours 24]
                                          [--json out.json]

For each count of open orders in turn, a fresh database: the order-status view filled with
that many open orders (written straight to the view's table, as `benchmarks.ops_queries`
does: routing them would take hours), their promises spread evenly over the margin ahead of
the clock, so that every one of them is in jeopardy; then the clock as a worker runs it
(`hub.jeopardy.tick`, one a minute of the clock's time):
- the first tick flags every order (each a new exception case): CPU per flag;
- the next `--ticks` ticks, each a minute later, flag only the orders whose band rose in
  that minute (a few per thousand): CPU per tick, what watching the open orders costs.
Between ticks the exception queue is brought up to date (`hub.deliver()`, not measured), as
the projections role does in the hub. `--news N` (code with the view's promise news only) also
writes N new open orders before each measured tick, promised within the margin, with their
news rows as the view writes them: what the clock's read and forgetting of the news costs
(`--news-beyond`: promised beyond the margin, so that the news cost no flags).
CPU is this process's plus the database backends' (from /proc). The file runs unchanged on
code before this benchmark (the clock's interface is the same), so two worktrees' runs make
the pairs.
"""

import argparse
import json
import statistics
import tempfile
import time
from dataclasses import fields
from datetime import datetime, timedelta
from pathlib import Path
from typing import Any

import psycopg

from benchmarks.route_batches import Backends
from benchmarks.route_profile import NOW
from benchmarks.services import drop_database, fresh_database, postgres_server
from hub.bootstrap import bootstrap
from hub.settings import Settings
from projections.order_rows import OrderStatusRow, utc_text

SKIPPED = {"fulfillment", "reasons", "skus", "sources", "distance_km"}


def open_rows(
    count: int, margin: timedelta, first: int = 0, at: datetime = NOW
) -> list[tuple[Any, ...]]:
    """`count` routed orders, promised evenly over the margin ahead of `at` (ids from
    `first`)."""
    placed = utc_text(at - timedelta(hours=1))
    step = margin / (count + 1)
    rows = []
    for k in range(count):
        n = first + k
        row = OrderStatusRow(
            order_id=f"00000000-0000-4000-8000-{n:012d}",
            channel="web",
            external_id=f"W{n:08d}",
            status="routed",
            customer_id=f"c{n % 5000}",
            demand_class="standard",
            country="FR",
            currency="EUR",
            total="10.00",
            line_count=2,
            placed_at=placed,
            received_at=placed,
            updated_at=placed,
            version=4,
            digest="d",
            promised_by=utc_text(at + step * (k + 1)),
        )
        rows.append(tuple(getattr(row, f.name) for f in fields(row) if f.name not in SKIPPED))
    return rows


def fill(url: str, rows: list[tuple[Any, ...]], news: bool = False) -> None:
    columns = [f.name for f in fields(OrderStatusRow) if f.name not in SKIPPED]
    with psycopg.connect(url) as conn, conn.cursor() as cur:
        copy = f"COPY order_status ({', '.join(columns)}, reasons, skus, sources, external_key)"
        with cur.copy(f"{copy} FROM STDIN") as out:
            for row in rows:
                out.write_row((*row, "[]", "[]", "[]", row[2].lower()))
        if news:
            with cur.copy("COPY order_promise_news (order_id) FROM STDIN") as out:
                for row in rows:
                    out.write_row((row[0],))
        else:
            cur.execute("ANALYZE order_status")


def measured(server: str, count: int, args: argparse.Namespace) -> dict[str, Any]:
    url = fresh_database(server)
    margin = timedelta(hours=args.margin_hours)
    moment = [NOW]
    try:
        with tempfile.TemporaryDirectory(prefix="orderhub-clock-") as tmp:
            settings = Settings(
                data_dir=Path(tmp),
                kafka_bootstrap=None,
                database_url=url,
                jeopardy_margin_hours=args.margin_hours,
            )
            hub = bootstrap(settings, clock=lambda: moment[0])
            fill(url, open_rows(count, margin))
            backends = Backends(server, url.rsplit("/", 1)[1])
            ticks = []
            for n in range(args.ticks + 1):
                moment[0] = NOW + timedelta(minutes=n)
                if n and args.news:
                    start = moment[0] + (margin if args.news_beyond else timedelta(0))
                    news = open_rows(args.news, margin, count + n * args.news, start)
                    fill(url, news, news=True)
                backend, cpu = backends.cpu(), time.process_time()
                tick = hub.jeopardy.tick()
                ticks.append(
                    (
                        time.process_time() - cpu,
                        backends.cpu() - backend,
                        tick.looked_at,
                        tick.flagged,
                    )
                )
                hub.deliver()
            hub.close()
    finally:
        drop_database(server, url)
    first, rest = ticks[0], ticks[1:]
    return {
        "open": count,
        "first_tick": {"role_s": first[0], "postgres_s": first[1], "flagged": first[3]},
        "flag_ms": 1000 * (first[0] + first[1]) / max(first[3], 1),
        "tick_ms": statistics.median(1000 * (r[0] + r[1]) for r in rest),
        "tick_role_ms": statistics.median(1000 * r[0] for r in rest),
        "tick_postgres_ms": statistics.median(1000 * r[1] for r in rest),
        "ticks": [
            {"role_s": r[0], "postgres_s": r[1], "looked_at": r[2], "flagged": r[3]} for r in rest
        ],
    }


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--open", default="1000,50000", help="comma-separated open orders")
    parser.add_argument("--ticks", type=int, default=5)
    parser.add_argument("--margin-hours", type=float, default=24.0)
    parser.add_argument("--news", type=int, default=0, help="new open orders before a tick")
    parser.add_argument(
        "--news-beyond", action="store_true", help="promised beyond the margin (none flagged)"
    )
    parser.add_argument("--json", type=Path)
    args = parser.parse_args()
    server = postgres_server()
    results = [measured(server, int(n), args) for n in args.open.split(",")]
    print("\n".join(map(described, results)))
    if args.json:
        kept = {"args": {k: str(v) for k, v in vars(args).items()}, "results": results}
        args.json.write_text(json.dumps(kept))


def described(r: dict[str, Any]) -> str:
    first = r["first_tick"]
    flagged = [t["flagged"] for t in r["ticks"]]
    return (
        f"{r['open']:>7,} open: first tick {first['flagged']:,} flagged, "
        f"{r['flag_ms']:.3f} ms CPU a flag (role {first['role_s']:.2f} s, PostgreSQL "
        f"{first['postgres_s']:.2f} s); then a tick {r['tick_ms']:.1f} ms (role "
        f"{r['tick_role_ms']:.1f}, PostgreSQL {r['tick_postgres_ms']:.1f}), flagging {flagged}"
    )


if __name__ == "__main__":
    main()
