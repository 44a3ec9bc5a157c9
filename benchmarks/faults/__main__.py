"""The fault suite: real Kafka and PostgreSQL, the hub as processes, a bounded load, faults.

Run:  python -m benchmarks.faults                  # quick: 2,000 orders, 6 kills
      python -m benchmarks.faults --orders 20000 --kills 20 --rate 40   # the full run

It starts a broker and a PostgreSQL cluster of its own (infra/kafka.sh with its own services
dir, infra/postgres.sh with ORDERHUB_PG_CLUSTER), so stopping them hurts no other user of the
machine; seeds a network where stock is scarce; runs the API, the relay and every worker role
(for each worker id) as processes; sends the orders open loop over REST and a channel topic,
clients retrying until acknowledged; meanwhile SIGKILLs random processes (restarted after a
pause, as a supervisor would), kills and restarts the broker once and restarts PostgreSQL once.
Then it drains and counts from the event store: acknowledged orders lost, orders routed twice,
shipments requested twice, over-allocation, oversell, orders stuck, read models against a
rebuild, time to drain, time to steady after each outage, client-visible errors.
"""

import argparse
import asyncio
import json
import random
import time
import uuid
from dataclasses import asdict
from pathlib import Path
from typing import Any

from rich.console import Console
from rich.table import Table

from benchmarks.faults.audit import Audit, LogAudit
from benchmarks.faults.cluster import REPO, Cluster, Infra
from benchmarks.faults.load import REST_CHANNEL, TOPIC_CHANNEL, Clients, canary, open_loop, seed
from benchmarks.faults.readmodels import compare_with_rebuild
from benchmarks.services import drop_database, fresh_database
from connectors.lag import LagProbe
from connectors.topics import ensure_topics
from hub.bootstrap import Hub, bootstrap
from hub.embedded.delivery import STREAM
from hub.settings import Settings
from hub.streaming.roles import role_groups
from tests.support.processes import free_port

console = Console()
RESULTS = Path(__file__).resolve().parent.parent / "results"


def parse() -> argparse.Namespace:
    p = argparse.ArgumentParser(prog="python -m benchmarks.faults", description=__doc__)
    p.add_argument("--orders", type=int, default=2000)
    p.add_argument("--rate", type=float, default=25.0, help="orders a second (open loop)")
    p.add_argument("--kills", type=int, default=6, help="SIGKILLs of API, relay and workers")
    p.add_argument("--workers", type=int, default=2, help="worker ids (each runs every role)")
    p.add_argument("--sources", type=int, default=8)
    p.add_argument("--restart-delay", type=float, default=2.0, help="seconds before a restart")
    p.add_argument("--broker-down", type=float, default=5.0, help="seconds the broker is away")
    p.add_argument("--no-broker", action="store_true", help="skip the broker stop/start")
    p.add_argument("--no-postgres", action="store_true", help="skip the PostgreSQL restart")
    p.add_argument("--pg-cluster", default="orderhub_faults", help="a cluster of the run's own")
    p.add_argument("--drain-timeout", type=float, default=900.0)
    p.add_argument("--seed", type=int, default=13)
    p.add_argument("--keep", action="store_true", help="keep the database and logs")
    return p.parse_args()


def plan(args: argparse.Namespace, targets: list[str], rng: random.Random) -> list[tuple[str, str]]:
    """The faults, in a random order: (kind, target). The API and the relay are each killed
    once (when there are kills enough), the other kills pick any process."""
    musts = [t for t in ("api", "relay") if t in targets][: args.kills]
    faults: list[tuple[str, str]] = [("kill", t) for t in musts]
    faults += [("kill", rng.choice(targets)) for _ in range(args.kills - len(musts))]
    if not args.no_broker:
        faults.append(("broker", "kafka"))
    if not args.no_postgres:
        faults.append(("postgres", args.pg_cluster))
    rng.shuffle(faults)
    return faults


class Run:
    def __init__(self, args: argparse.Namespace, cluster: Cluster, infra: Infra, clients: Clients):
        self.args = args
        self.cluster = cluster
        self.infra = infra
        self.clients = clients
        self.outages: list[dict[str, Any]] = []
        self.unplanned_exits: list[str] = []
        self._killing: set[str] = set()
        self._canaries: list[asyncio.Task[None]] = []
        assert clients.bootstrap
        self._probe = LagProbe(clients.bootstrap)
        self._groups = role_groups(cluster.settings, [REST_CHANNEL, TOPIC_CHANNEL])
        self._started = time.monotonic()

    async def close(self) -> None:
        await self._probe.stop()

    def restart_clock(self) -> None:
        self._started = time.monotonic()

    async def backlog(self) -> int | None:
        """Records waiting for the workers, all roles together (None: Kafka did not answer)."""
        try:
            return sum([(await self._probe.group_lag(g, t)).lag for g, t in self._groups.items()])
        except Exception:
            return None

    async def fault(self, kind: str, target: str, index: int) -> None:
        """Do one fault and bring back what it took down; time how long until steady."""
        waiting = await self.backlog()
        since = time.monotonic()
        if kind == "kill":
            self._killing.add(target)
            self.cluster.kill(target)
            await asyncio.sleep(self.args.restart_delay)
            self.cluster.start(target)
            self._killing.discard(target)
        elif kind == "broker":
            await asyncio.to_thread(self.infra.broker_down)
            await asyncio.sleep(self.args.broker_down)
            await asyncio.to_thread(self.infra.broker_up)
        else:
            await asyncio.to_thread(self.infra.restart_postgres)
        steady = self._steady(kind, target, index, since, waiting)
        self._canaries.append(asyncio.create_task(steady))

    async def _steady(
        self, kind: str, target: str, index: int, since: float, waiting: int | None
    ) -> None:
        steady = await canary(self.clients, f"canary-{index:03d}-{uuid.uuid4().hex[:6]}", since)
        self.outages.append(
            {
                "fault": kind,
                "target": target,
                "at_s": round(since - self._started, 1),
                "backlog_before": waiting,
                "steady_s": None if steady is None else round(steady, 1),
            }
        )

    async def faults(self, schedule: list[tuple[str, str]], duration: float) -> None:
        """Spread over the load, one at a time."""
        for index, (kind, target) in enumerate(schedule):
            at = self._started + duration * (index + 1) / (len(schedule) + 1)
            await asyncio.sleep(max(0.0, at - time.monotonic()))
            await self.fault(kind, target, index)
            # Outages do not overlap: the next fault waits until the hub is steady again, so
            # each time to steady is that outage's own.
            await self._canaries[-1]
        self.outages.sort(key=lambda o: o["at_s"])

    async def supervise(self) -> None:
        """Restart a process that exits on its own (a watchdog exit, a crash), as systemd would."""
        while True:
            await asyncio.sleep(1.0)
            for name in self.cluster.crashed():
                if name not in self._killing:
                    self.unplanned_exits.append(name)
                    self.cluster.start(name)


async def drained(settings: Settings, hub: Hub, timeout: float) -> float | None:
    """Seconds until the relay has published everything and every group has no lag."""
    assert settings.kafka_bootstrap is not None
    probe = LagProbe(settings.kafka_bootstrap)
    groups = role_groups(settings, [REST_CHANNEL, TOPIC_CHANNEL])
    positions = hub.relay_positions()
    started = time.monotonic()
    calm = 0
    try:
        while time.monotonic() - started < timeout:
            try:
                head = await asyncio.to_thread(hub.store.max_position)
                relayed = await asyncio.to_thread(positions.get, STREAM)
                lag = 0
                for group, topics in groups.items():
                    lag += (await probe.group_lag(group, topics)).lag
            except Exception:
                calm = 0
                await asyncio.sleep(2)
                continue
            calm = calm + 1 if relayed == head and lag == 0 else 0
            if calm >= 3:
                return time.monotonic() - started
            await asyncio.sleep(1)
        return None
    finally:
        await probe.stop()


def audit_log(hub: Hub, acknowledged: list[str]) -> Audit:
    log = LogAudit()
    after: int | None = None
    while True:
        page = hub.store.read_envelopes(after, 5000)
        if not page:
            return log.result(acknowledged)
        log.add(env for _, env in page)
        after = page[-1][0]


async def campaign(
    args: argparse.Namespace, run: Run, settings: Settings, results: dict[str, Any]
) -> Hub:
    """Warm up, load with faults, drain; a supervisor restarts crashed processes throughout."""
    supervisor = asyncio.create_task(run.supervise())
    try:
        started = time.monotonic()
        first = await canary(run.clients, f"warm-up-{results['run']}", started)
        results["first_order_decided_s"] = first and round(first, 1)
        schedule = plan(args, sorted(run.cluster.specs), random.Random(args.seed))
        run.restart_clock()
        faults = asyncio.create_task(run.faults(schedule, args.orders / args.rate))
        took = await open_loop(run.clients, args.orders, args.rate, f"o{args.seed}", args.seed)
        results["load_s"] = round(took, 1)
        await faults
        hub = bootstrap(settings)
        drain = await drained(settings, hub, args.drain_timeout)
        results["drain_s"] = drain and round(drain, 1)
        results["outages"] = run.outages
        results["unplanned_exits"] = run.unplanned_exits
        return hub
    finally:
        supervisor.cancel()
        await run.clients.close()
        await run.close()


def main() -> None:
    args = parse()
    rng = random.Random(args.seed)
    tag = uuid.uuid4().hex[:6]
    work = REPO / ".services" / "faults"
    logs = work / f"run-{tag}"
    logs.mkdir(parents=True, exist_ok=True)
    infra = Infra(work, args.pg_cluster)
    console.print(f"[bold]fault run {tag}[/bold]: starting a broker and PostgreSQL of its own")
    kafka, server = infra.start()
    database = fresh_database(server)
    env = {
        "ORDERHUB_KAFKA_BOOTSTRAP": kafka,
        "ORDERHUB_DATABASE_URL": database,
        "ORDERHUB_TOPIC_PREFIX": f"f{tag}.",
        "ORDERHUB_TOPIC_PARTITIONS": "6",
        "ORDERHUB_CONSUMER_GROUP": f"faults-{tag}",
        "ORDERHUB_DATA_DIR": str(logs / "data"),
        "ORDERHUB_API_PORT": str(free_port()),
        "ORDERHUB_LOG_LEVEL": "warning",
        "ORDERHUB_STALL_SECONDS": "60",
    }
    settings = Settings(
        kafka_bootstrap=kafka,
        database_url=database,
        topic_prefix=env["ORDERHUB_TOPIC_PREFIX"],
        consumer_group=env["ORDERHUB_CONSUMER_GROUP"],
        data_dir=logs / "data",
    )
    topics = {t: 6 for t in settings.all_topics()}
    topics.update({settings.channel_topic(c): 6 for c in (REST_CHANNEL, TOPIC_CHANNEL)})
    asyncio.run(ensure_topics(kafka, topics, 1))
    hub = bootstrap(settings)
    seed(hub, args.sources, rng)
    hub.close()

    cluster = Cluster(env, logs, args.workers, settings)
    clients = Clients(cluster.base, kafka, settings.channel_topic(TOPIC_CHANNEL))
    results: dict[str, Any] = {"run": tag, "args": vars(args)}
    try:
        cluster.start_all()
        run = Run(args, cluster, infra, clients)
        hub = asyncio.run(campaign(args, run, settings, results))
    finally:
        cluster.stop_all()
    audit = audit_log(hub, list(clients.acknowledged))
    results["audit"] = asdict(audit)
    results["read_models"] = compare_with_rebuild(hub)
    results["client_errors"] = clients.errors
    hub.close()
    report(results, audit)
    RESULTS.mkdir(exist_ok=True)
    (RESULTS / f"faults-{tag}.json").write_text(json.dumps(results, indent=2, default=str))
    if not args.keep:
        drop_database(server, database)
    infra.stop_broker()


def report(results: dict[str, Any], audit: Audit) -> None:
    table = Table(title=f"fault run {results['run']}")
    table.add_column("measure")
    table.add_column("value", justify="right")
    rows = [
        ("orders acknowledged", audit.acknowledged),
        ("acknowledged orders lost", len(audit.lost)),
        ("orders routed twice", len(audit.routed_twice)),
        ("shipments requested twice", audit.shipments_requested_twice),
        ("orders with lines allocated twice", len(audit.over_allocated_orders)),
        ("stock items oversold", len(audit.oversold_items)),
        ("orders stuck (never decided)", len(audit.stuck)),
        (
            "read-model rows differing from a rebuild",
            sum(v["differing"] for v in results["read_models"].values()),
        ),
        ("client-visible errors (retried)", sum(results["client_errors"].values())),
        ("processes that exited on their own", len(results.get("unplanned_exits", []))),
        ("time to first decided order (s)", results.get("first_order_decided_s")),
        ("load duration (s)", results.get("load_s")),
        ("time to drain after the last fault (s)", results.get("drain_s")),
        ("events recorded", audit.events),
    ]
    for name, value in rows:
        table.add_row(name, str(value))
    console.print(table)
    outages = Table(title="time to steady after each outage (an order sent after it is decided)")
    for column in ("fault", "target", "at (s)", "records waiting before", "steady (s)"):
        outages.add_column(column)
    for o in results.get("outages", []):
        outages.add_row(
            o["fault"], o["target"], str(o["at_s"]), str(o["backlog_before"]), str(o["steady_s"])
        )
    console.print(outages)
    if results["client_errors"]:
        console.print(f"client errors by kind: {results['client_errors']}")
    for name in ("lost", "routed_twice", "over_allocated_orders", "oversold_items", "stuck"):
        ids = getattr(audit, name)
        if ids:
            console.print(f"[red]{name}[/red]: {ids[:10]}{' …' if len(ids) > 10 else ''}")


if __name__ == "__main__":
    main()
