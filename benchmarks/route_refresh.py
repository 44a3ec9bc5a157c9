"""Two of the orchestration role's costs, old way against new in one process, on PostgreSQL.

Run:  python -m benchmarks.route_refresh [--rounds 5] [--calls 300]

1. The supply view's catch-up read at the start of each batch: the log's end, then the supply
   events up to it (two statements, as before), against `supply_pages.first_page` (one), with
   nothing new and with one batch of 20 orders behind (~160 supply events). Router CPU and this
   run's PostgreSQL backends' CPU per read.
2. The state of each `Routed` / `Held` event the batches wrote, encoded by the library's
   transcoder and by `aggregates.stored_json` (and checked to be the same bytes): CPU per event.

The network and orders are `benchmarks.route_batches`'s. Ways alternate within each round;
medians over the rounds.
"""

import argparse
import random
import statistics
import tempfile
import time
from collections.abc import Callable
from pathlib import Path
from typing import Any

import aggregates.typed_mapper as typed_mapper
from aggregates.stored_json import stored_json
from benchmarks.route_batches import Backends, Router
from benchmarks.route_profile import NOW, build_network
from benchmarks.services import drop_database, fresh_database, postgres_server
from hub.bootstrap import bootstrap
from hub.services.supply_pages import first_page
from hub.services.supply_view import PAGE, TOPICS
from hub.settings import Settings


def _timed(
    backends: Backends, items: list[Any], call: Callable[[Any], object]
) -> tuple[float, float]:
    """Router and backend CPU (ms) per call of `call` on each of `items`."""
    backend, cpu = backends.cpu(), time.process_time()
    for item in items:
        call(item)
    count = len(items)
    return 1000 * (time.process_time() - cpu) / count, 1000 * (backends.cpu() - backend) / count


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--rounds", type=int, default=5)
    parser.add_argument("--calls", type=int, default=300)
    args = parser.parse_args()
    states: list[dict[str, Any]] = []  # the decision events' states, as the mapper wrote them
    server = postgres_server()
    url = fresh_database(server)
    keep = stored_json

    def kept(transcoder: Any, state: dict[str, Any], plain: Any = ()) -> bytes:
        if "decision" in state:
            states.append(state)
        return keep(transcoder, state, plain)

    vars(typed_mapper)["stored_json"] = kept  # the mapper hands them here
    figures: dict[str, list[tuple[float, float]]] = {}
    try:
        with tempfile.TemporaryDirectory(prefix="orderhub-refresh-") as tmp:
            settings = Settings(data_dir=Path(tmp), kafka_bootstrap=None, database_url=url)
            hub = bootstrap(settings, clock=lambda: NOW)
            build_network(hub, random.Random(7), 100, 10_000)
            hub.deliver()
            backends = Backends(server, url.rsplit("/", 1)[1])
            router = Router(hub, backends)
            accepted = router.accepted(200)
            router.timed([accepted[i : i + 20] for i in range(0, 200, 20)])
            store, top = hub.store, hub.store.max_position()

            def two(start: int) -> object:
                end = store.max_position()
                if start >= end:
                    return []
                return store.recorder.select_notifications(
                    start=start, limit=PAGE, stop=end, topics=TOPICS, inclusive_of_start=False
                )

            def one(start: int) -> object:
                return first_page(store, start, TOPICS, PAGE)

            transcoder = store.mapper.transcoder
            plain = {"decision"}
            assert all(stored_json(transcoder, s, plain) == transcoder.encode(s) for s in states)
            for _ in range(args.rounds):
                for way, read in (("two statements", two), ("one statement", one)):
                    for behind, start in (("nothing new", top), ("20 orders behind", top - 300)):
                        figures.setdefault(f"read, {behind}, {way}", []).append(
                            _timed(backends, [start] * args.calls, read)
                        )
                for way, encode in (
                    ("transcoder", transcoder.encode),
                    ("stored_json", lambda s: stored_json(transcoder, s, plain)),
                ):
                    figures.setdefault(f"Routed/Held state, {way}", []).append(
                        _timed(backends, states, encode)
                    )
            hub.close()
    finally:
        vars(typed_mapper)["stored_json"] = keep
        drop_database(server, url)
    print(f"PostgreSQL, 100 sources; {len(states)} decision events; medians of {args.rounds}:")
    for what, runs in figures.items():
        router_ms = statistics.median(r for r, _ in runs)
        backend_ms = statistics.median(b for _, b in runs)
        print(f"  {what:>42}: router {router_ms:6.3f} ms, PostgreSQL {backend_ms:6.3f} ms")


if __name__ == "__main__":
    main()
