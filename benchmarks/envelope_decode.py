"""Stored events to public envelopes, the two ways alternating: through the store's mapper
(`aggregates.contract.to_envelope` of the domain event) and from the stored JSON
(`hub.stored_envelopes.EnvelopeReader`, what `OrderStore.read_envelopes` uses: the relay, the
embedded lanes).

Run:  python -m benchmarks.envelope_decode [--orders 300] [--rounds 5]

A realistic history (benchmarks.projection_events: 100 sources, 10,000 SKUs, orders of 1-7
lines routed, a fifth shipped) is recorded in a SQLite event store; the orders' events (those
after the network's) are read once and each way turns every one of them into its envelope.
Every envelope is checked equal both ways (fields, JSON and the relay's Kafka record). Printed:
process CPU µs per event, best and median of the rounds, and per event type the median µs and
the bytes stored.
"""

import argparse
import statistics
import time
from collections import defaultdict
from collections.abc import Callable, Sequence
from typing import Any

from eventsourcing.utils import resolve_topic

from aggregates.contract import event_type_of, to_envelope
from benchmarks.projection_events import history_hub
from connectors.codec import envelope_to_record
from hub.store import OrderStore
from hub.stored_envelopes import EnvelopeReader
from schemas.envelope import EventEnvelope
from schemas.event_types import EventType

Way = Callable[[Any], EventEnvelope]


def ways(store: OrderStore) -> dict[str, Way]:
    mapper = store.mapper
    return {
        "mapper + to_envelope": lambda n: to_envelope(mapper.to_domain_event(n)),
        "from the stored JSON": EnvelopeReader(mapper).envelope,
    }


def cpu_us(way: Way, events: Sequence[Any]) -> float:
    start = time.process_time()
    for n in events:
        way(n)
    return (time.process_time() - start) / len(events) * 1e6


def check_equal(store: OrderStore, events: Sequence[Any]) -> None:
    old, new = ways(store).values()
    for n in events:
        a, b = old(n), new(n)
        assert a == b and a.model_dump_json() == b.model_dump_json(), (n.topic, n.id)
        assert envelope_to_record("t", a) == envelope_to_record("t", b), (n.topic, n.id)


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--orders", type=int, default=300)
    parser.add_argument("--rounds", type=int, default=5)
    args = parser.parse_args()
    with history_hub(args.orders) as hub:
        store = hub.store
        every = store.recorder.select_notifications(start=None, limit=10_000_000)
        first = next(
            i for i, n in enumerate(every) if event_type_of(_class(n)) == EventType.ORDER_PLACED
        )
        events = every[first:]
        check_equal(store, events)
        totals: dict[str, list[float]] = defaultdict(list)
        by_type: dict[tuple[str, str], list[float]] = defaultdict(list)
        grouped: dict[str, list[Any]] = defaultdict(list)
        for n in events:
            grouped[event_type_of(_class(n))].append(n)
        for _ in range(args.rounds):
            for name, way in ways(store).items():
                totals[name].append(cpu_us(way, events))
                for kind, some in grouped.items():
                    by_type[(name, kind)].append(cpu_us(way, some))
    print(f"{args.orders} orders: {len(events)} events ({len(events) / args.orders:.1f} per order)")
    for name, runs in totals.items():
        print(
            f"  {name:>22}: best {min(runs):6.1f} µs, median {statistics.median(runs):6.1f} µs"
            f" per event ({statistics.median(runs) * len(events) / args.orders / 1000:.2f} ms"
            " per order)"
        )
    names = list(totals)
    print(f"  {'event type':<44} {'count':>6} {'bytes':>7} " + " ".join(f"{n:>22}" for n in names))
    size = {k: statistics.mean(len(n.state) for n in some) for k, some in grouped.items()}
    for kind, some in sorted(grouped.items(), key=lambda item: -len(item[1])):
        cells = " ".join(f"{statistics.median(by_type[(n, kind)]):19.1f} µs" for n in names)
        print(f"  {kind:<44} {len(some):>6} {size[kind]:>7.0f} {cells}")


def _class(notification: Any) -> type:
    event_class: type = resolve_topic(notification.topic)
    return event_class


if __name__ == "__main__":
    main()
