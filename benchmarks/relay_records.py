"""The relay's records of stored events, the two ways alternating, in process: from the envelopes
(`EnvelopeReader.envelope`, then `envelope_to_record` for each route: the relay until now) and
straight from the stored events (`hub.stored_records.RecordReader`).

Run:  python -m benchmarks.relay_records [--orders 300] [--rounds 5] [--save FILE]
      python -m benchmarks.relay_records --load FILE --way records --repeat 2   (one way only,
      over the events `--save` kept, e.g. under `valgrind --tool=callgrind`: minus a
      `--repeat 0` run, per event)

A realistic history (benchmarks.projection_events) in a SQLite event store; the events from the
first `Order.Placed` on (what `benchmarks.relay_process` drains) are read once, and each way
turns every one into its records, the id caches emptied before each pass (the relay meets each
event once). Both ways' records are checked equal: topic, key and headers byte for byte, the
values the same JSON (a decision record is spliced in as stored, its keys in stored order).
Printed: process CPU µs per store event, median of the rounds, per way, and per event type for
the records way.
"""

import argparse
import pickle
import statistics
import tempfile
import time
from collections import defaultdict
from collections.abc import Callable, Sequence
from pathlib import Path
from typing import Any

from aggregates.ids import event_id_text
from benchmarks.projection_events import history_hub
from benchmarks.relay_process import same_records
from connectors.codec import OutboundRecord, envelope_to_record
from hub.settings import Settings
from hub.store import OrderStore
from hub.stored_records import RecordReader
from hub.streaming.relay import route_for, routes_for
from schemas.event_types import UNPUBLISHED

Way = Callable[[Any], list[OutboundRecord]]


def ways(store: OrderStore, settings: Settings) -> dict[str, Way]:
    routes = routes_for(settings)
    envelope = store.envelope_reader.envelope

    def by_envelope(stored: Any) -> list[OutboundRecord]:
        env = envelope(stored)
        return [envelope_to_record(t, env, key) for t, key in routes(env)]

    reader = RecordReader(store, route_for(settings), UNPUBLISHED)
    return {"envelopes": by_envelope, "records": reader.records}


def cpu_us(way: Way, events: Sequence[Any]) -> float:
    event_id_text.cache_clear()
    start = time.process_time()
    for n in events:
        way(n)
    return (time.process_time() - start) / len(events) * 1e6


def _events(store: OrderStore) -> list[Any]:
    found = store.recorder.select_notifications(start=None, limit=10**8)
    first = next(i for i, n in enumerate(found) if n.topic.endswith("Order.Placed"))
    return list(found[first:])


def _one_way(saved: Path, way: str, repeat: int) -> None:
    """`repeat` passes of one way over saved events, in an empty store of their own."""
    events = pickle.loads(saved.read_bytes())
    with tempfile.TemporaryDirectory() as tmp:
        settings = Settings(data_dir=Path(tmp), kafka_bootstrap=None, database_url=None)
        store = OrderStore(env=settings.eventsourcing_env())
        try:
            for _ in range(repeat):
                cpu_us(ways(store, settings)[way], events)
        finally:
            store.close()


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--orders", type=int, default=300)
    parser.add_argument("--rounds", type=int, default=5)
    parser.add_argument("--way", choices=["envelopes", "records"], help="this way only")
    parser.add_argument("--repeat", type=int, default=1, help="with --way: passes")
    parser.add_argument("--save", type=Path, help="keep the history's events in this file")
    parser.add_argument("--load", type=Path, help="with --way: the events of a --save")
    args = parser.parse_args()
    if args.load and args.way:
        _one_way(args.load, args.way, args.repeat)
        return
    with history_hub(args.orders) as hub:
        events = _events(hub.store)
        both = ways(hub.store, hub.settings)
        if args.save:
            args.save.write_bytes(pickle.dumps(events))
        for n in events:
            assert same_records(both["envelopes"](n), both["records"](n)), (n.topic, n.id)
        results: dict[str, list[float]] = {name: [] for name in both}
        for _ in range(args.rounds):
            for name, way in both.items():
                results[name].append(cpu_us(way, events))
        print(f"{len(events)} store events, {args.orders} orders; the same records both ways")
        for name, runs in results.items():
            print(
                f"  {name:>9}: {statistics.median(runs):.1f} µs per event"
                f" ({', '.join(f'{r:.1f}' for r in runs)})"
            )
        by_type: dict[str, list[Any]] = defaultdict(list)
        for n in events:
            by_type[n.topic.rpartition(":")[2]].append(n)
        for name, group in sorted(by_type.items(), key=lambda kv: -len(kv[1])):
            runs = [cpu_us(both["records"], group) for _ in range(args.rounds)]
            print(f"    {name}: {len(group)} events, {statistics.median(runs):.1f} µs")


if __name__ == "__main__":
    main()
