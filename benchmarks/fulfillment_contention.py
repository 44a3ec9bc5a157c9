"""Another process saving stock rows meanwhile, as orchestration reserving them does in the hub:
`benchmarks.fulfillment_batch --contention RATE` runs it beside the role.

Run:  python -m benchmarks.fulfillment_contention DATABASE_URL ROWS_FILE RATE

Every 50 ms it adds one unit (a source's delta) to rows drawn from ROWS_FILE (a JSON list of
[source_id, sku], the rows the round being measured ships from, rewritten by the benchmark at
each round and read again here every second), RATE rows a second in all, until it is stopped.
"""

import json
import random
import sys
import tempfile
import time
from pathlib import Path
from typing import Any

from benchmarks.route_profile import NOW
from hub.bootstrap import bootstrap
from hub.settings import Settings
from schemas.sources import StockDelta

EVERY = 0.05


def rows_of(path: Path) -> list[Any]:
    try:
        rows: list[Any] = json.loads(path.read_text() or "[]")
    except (OSError, ValueError):
        return []
    return rows


def main() -> None:
    url, rows_file, rate = sys.argv[1], Path(sys.argv[2]), float(sys.argv[3])
    rng = random.Random(11)
    per_turn = max(1, round(rate * EVERY))
    with tempfile.TemporaryDirectory(prefix="orderhub-contention-") as tmp:
        settings = Settings(data_dir=Path(tmp), kafka_bootstrap=None, database_url=url)
        hub = bootstrap(settings, clock=lambda: NOW)
        rows, read_at = rows_of(rows_file), time.monotonic()
        while True:
            if time.monotonic() - read_at >= 1.0:
                rows, read_at = rows_of(rows_file), time.monotonic()
            if rows:
                chosen = rng.sample(rows, min(per_turn, len(rows)))
                deltas = [
                    StockDelta(source_id=s, sku=k, delta=1, reason="contention") for s, k in chosen
                ]
                hub.catalog.apply_stock_many(deltas, "system:contention")
            time.sleep(EVERY)


if __name__ == "__main__":
    main()
