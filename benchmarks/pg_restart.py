"""The event store across a PostgreSQL restart, with the hub's own settings: every pooled
connection dies, then 8 threads load and save at once. Prints how many succeeded and how long
they took (the library's retries replace the broken connections).

Run:  python -m benchmarks.pg_restart [--things 20] [--threads 8]

It restarts the PostgreSQL cluster that `infra/postgres.sh` runs: not while tests run on it.
"""

import argparse
import concurrent.futures
import subprocess
import time
from pathlib import Path

from eventsourcing.domain import Aggregate, event

from benchmarks.services import drop_database, fresh_database, postgres_server
from hub.settings import Settings
from hub.store import OrderStore

REPO = Path(__file__).resolve().parents[1]


class Thing(Aggregate):
    @event("Made")
    def __init__(self, n: int) -> None:
        self.n = n

    @event("Bumped")
    def bump(self) -> None:
        self.n += 1


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--things", type=int, default=20)
    parser.add_argument("--threads", type=int, default=8)
    args = parser.parse_args()
    server = postgres_server()
    url = fresh_database(server)
    try:
        env = Settings(database_url=url).eventsourcing_env()
        store = OrderStore(env=env)
        things = [Thing(i) for i in range(args.things)]
        store.save(*things)
        with concurrent.futures.ThreadPoolExecutor(args.threads) as pool:
            list(pool.map(lambda t: store.repository.get(t.id), things))  # fill the pool
        subprocess.run(["bash", str(REPO / "infra/postgres.sh"), "restart"], check=True)

        def bump(thing: Thing) -> str | None:
            try:
                again: Thing = store.repository.get(thing.id)
                again.bump()
                store.save(again)
                return None
            except Exception as error:
                return f"{type(error).__name__}: {error}"

        started = time.perf_counter()
        with concurrent.futures.ThreadPoolExecutor(args.threads) as pool:
            failures = [f for f in pool.map(bump, things) if f is not None]
        took = time.perf_counter() - started
        print(
            f"pre-ping {env['POSTGRES_PRE_PING']}: after the restart, {len(things) - len(failures)}"
            f" of {len(things)} load+save succeeded in {took:.2f} s"
        )
        for failure in failures:
            print("  failed:", failure[:200])
        store.close()
    finally:
        drop_database(server, url)


if __name__ == "__main__":
    main()
