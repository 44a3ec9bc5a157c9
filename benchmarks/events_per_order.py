"""What a routed order writes to the event store, and what of it the relay publishes.

Run:  python -m benchmarks.events_per_order [--counts out.json] [benchmarks.flow's options]
      python -m benchmarks.events_per_order --rates 100 --seconds 15 --warmup 5 --json flow.json

Runs `benchmarks.flow` in distributed mode (the same hub, network and open-loop load) and, before
the run's database is dropped, reads its stored events: every event recorded from the first
order's `Placed` on (the network's sources and stock are loaded before it), grouped by aggregate
and event name, with its count per routed order, its mean stored size and where the relay sends
it (`hub.streaming.relay.routes_for`). Stock snapshots are no events (own table, no position).
"""

import argparse
import json
from collections import Counter, defaultdict
from pathlib import Path
from typing import Any

import psycopg
from eventsourcing.utils import resolve_topic

import benchmarks.flow_hub as flow_hub
from aggregates.contract import event_type_of
from benchmarks import flow
from benchmarks.flow_report import console
from benchmarks.services import drop_database
from hub.settings import Settings
from hub.streaming.relay import routes_for
from schemas.envelope import EventEnvelope
from schemas.event_types import EventFamily

ORDER_PLACED = "aggregates.order:Order.Placed"


def type_of(topic: str) -> str:
    """The public type of a stored event's topic: `orderhub.order.routed`."""
    return event_type_of(resolve_topic(topic))


def sample_data(state: bytes) -> dict[str, Any]:
    try:
        data = json.loads(state)
    except ValueError:
        return {}
    return data if isinstance(data, dict) else {}


def count_events(url: str) -> dict[str, Any]:
    """Every stored event from the first order on, by type, and each order's own events."""
    with psycopg.connect(url) as conn:
        table = conn.execute(
            "SELECT table_name FROM information_schema.tables "
            "WHERE table_name LIKE '%events' AND table_name NOT LIKE '%snapshot%'"
        ).fetchone()
        if table is None:
            raise SystemExit("no events table in the run's database")
        name = table[0]
        first = conn.execute(
            f"SELECT min(notification_id) FROM {name} WHERE topic = %s", (ORDER_PLACED,)
        ).fetchone()
        rows = conn.execute(
            f"SELECT originator_id, topic, state FROM {name} WHERE notification_id >= %s",
            (first[0] if first and first[0] is not None else 0,),
        ).fetchall()
    counts: Counter[str] = Counter()
    sizes: Counter[str] = Counter()
    samples: dict[str, dict[str, Any]] = {}
    per_order: dict[str, Counter[str]] = defaultdict(Counter)
    for originator, topic, state in rows:
        kind = type_of(topic)
        counts[kind] += 1
        sizes[kind] += len(state)
        if kind not in samples:
            samples[kind] = sample_data(bytes(state))
        if kind.startswith(EventFamily.ORDER):
            per_order[str(originator)][kind.rpartition(".")[2]] += 1
    routed = sum(1 for c in per_order.values() if c["routed"])
    settings = Settings(_env_file=None)  # type: ignore[call-arg]
    return {
        "events": len(rows),
        "orders": len(per_order),
        "routed_orders": routed,
        "types": {
            kind: {
                "count": n,
                "per_routed": n / max(routed, 1),
                "mean_bytes": sizes[kind] / n,
                "relay_topics": relay_topics(kind, samples[kind], settings),
            }
            for kind, n in counts.most_common()
        },
        "order_event_shapes": Counter(
            " ".join(f"{k}:{n}" for k, n in sorted(c.items())) for c in per_order.values()
        ).most_common(8),
    }


def relay_topics(event_type: str, data: dict[str, Any], settings: Settings) -> str:
    """Where the relay sends an event of this type (asked of its own rule, on a sample)."""
    env = EventEnvelope.model_construct(
        type=event_type, subject=str(data.get("order_id", "")), data=data
    )
    found = routes_for(settings)(env)
    return ", ".join(sorted({topic for topic, _ in found})) or "(none: stays in the store)"


def show(counted: dict[str, Any]) -> None:
    console.print(
        f"{counted['events']:,} events stored from the first order on; "
        f"{counted['orders']:,} orders, {counted['routed_orders']:,} routed"
    )
    console.print(f"{'type':42} {'count':>7} {'per routed':>10} {'mean B':>7}  relay topics")
    for kind, row in counted["types"].items():
        console.print(
            f"{kind:42} {row['count']:7,} {row['per_routed']:10.2f} {row['mean_bytes']:7,.0f}  "
            f"{row['relay_topics']}"
        )
    total = sum(row["per_routed"] for row in counted["types"].values())
    console.print(f"{'all':42} {counted['events']:7,} {total:10.2f}")
    console.print("each order's own events (most common shapes):")
    for shape, n in counted["order_event_shapes"]:
        console.print(f"  {n:6,}  {shape}")


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__)
    parser.add_argument("--counts", type=Path, help="also write the counts here (JSON)")
    args, flow_args = parser.parse_known_args()
    counted: dict[str, Any] = {}

    def count_then_drop(server_url: str, url: str) -> None:
        counted.update(count_events(url))
        drop_database(server_url, url)

    # The run's database is dropped when its hub stops: count just before.
    flow_hub.drop_database = count_then_drop  # type: ignore[attr-defined]
    flow.main(["--mode", "distributed", *flow_args])
    show(counted)
    if args.counts:
        args.counts.write_text(json.dumps(counted, indent=2, default=str))


if __name__ == "__main__":
    main()
