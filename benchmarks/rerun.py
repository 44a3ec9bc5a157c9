"""Recorded decision inputs: bytes stored per decision, and the time to re-run one decision.

    python -m benchmarks.rerun [--candidates 10,50,200] [--decisions 200]

For each candidate count, in a SQLite event store in a temporary directory: decides orders of
1-7 lines over that many candidate sources (stock varying per order), records their inputs
as the orchestrator does (one save per decision), then re-runs each decision through the
same service the API uses (load the inputs record and source definitions, load the policy
version, decide, compare). Prints bytes per decision (the stored inputs record; the source
definitions are stored once and shown apart) and re-run milliseconds, cold (a new reader:
definitions read from the store and decoded, as in a new process) and warm (definitions
already read), wall and CPU (this process's: what a busy machine inflates least), p50 and
p95, and the CPU of each part of a warm re-run (reading and decoding the inputs,
decide(), the decision record, its digest).
"""

import argparse
import random
import statistics
import tempfile
import time
from collections.abc import Callable
from datetime import UTC, datetime
from decimal import Decimal
from pathlib import Path
from uuid import UUID, uuid5

from aggregates.decision_inputs import recorded_inputs_id, recorded_source_id
from hub.bootstrap import Hub, bootstrap
from hub.services import decisions as order_decisions_module
from hub.services import recorded_inputs
from hub.services.decision_records import decision_record
from hub.services.recorded_inputs import InputsRecorder
from hub.services.rerun import RerunService
from hub.settings import Settings
from orchestration_policies import (
    CandidateSource,
    CostModel,
    DeliveryMethod,
    LineToRoute,
    OrderToRoute,
    Policy,
    SourceKind,
    StockLevel,
    decision_inputs,
    default_policy,
)
from orchestration_policies import inputs as inputs_module
from orchestration_policies.decision_inputs import DecisionInputs, PolicyRef
from orchestration_policies.explain_record import record_digest
from projections.decision_history import DecisionRecord, Outcome, Trigger
from schemas.decision_record import DecisionRecord as RoutingDecision

NOW = datetime(2026, 11, 2, 9, 0, tzinfo=UTC)
SKUS = [f"SKU-{i:03d}" for i in range(20)]


def _source(i: int, rng: random.Random) -> CandidateSource:
    return CandidateSource(
        source_id=f"src-{i:03d}",
        kind=SourceKind.WAREHOUSE if i % 3 else SourceKind.STORE,
        lat=round(43 + rng.random() * 8, 4),
        lon=round(-1 + rng.random() * 8, 4),
        country="FR",
        ships_to=frozenset({"FR", "BE", "EU"}),
        delivery_methods=frozenset({DeliveryMethod.STANDARD, DeliveryMethod.EXPRESS}),
        daily_capacity=500,
        used_today=0,
        cost=CostModel(Decimal("4.50"), Decimal("0.40"), Decimal("0.012"), "EUR"),
        lead_time_days=1 + i % 3,
        priority=i % 4,
    )


def _inputs(n: int, templates: list[CandidateSource], rng: random.Random) -> DecisionInputs:
    lines = tuple(
        LineToRoute(str(k + 1), sku, rng.randint(1, 4))
        for k, sku in enumerate(rng.sample(SKUS, rng.randint(1, 7)))
    )
    candidates = tuple(
        CandidateSource(
            **{
                **{f: getattr(t, f) for f in _INIT_FIELDS},
                "used_today": rng.randint(0, 50),
                "stock": {
                    line.sku: StockLevel(rng.randint(0, 40), rng.randint(0, 5), rng.randint(0, 2))
                    for line in lines
                    if rng.random() < 0.7
                },
            }
        )
        for t in templates
    )
    order = OrderToRoute(
        order_id=str(uuid5(UUID(int=0), f"order-{n}")),
        channel="web-shop",
        country="FR",
        demand_class="standard",
        delivery_method=DeliveryMethod.STANDARD,
        total=Decimal("99.90"),
        currency="EUR",
        lines=lines,
        placed_at=NOW,
        ship_to_lat=48.85,
        ship_to_lon=2.35,
        payment_state="authorized",
    )
    policy = default_policy()
    return DecisionInputs(order, candidates, PolicyRef(policy.id, policy.version), NOW)


_INIT_FIELDS: tuple[str, ...] = (
    "source_id",
    "kind",
    "lat",
    "lon",
    "country",
    "ships_to",
    "delivery_methods",
    "daily_capacity",
    "cost",
    "lead_time_days",
    "priority",
    "active",
    "demand_classes",
)


def _stored_bytes(hub: Hub, record_id: UUID) -> int:
    return sum(len(e.state) for e in hub.store.recorder.select_events(record_id))


def measure(hub: Hub, candidates: int, decisions: int, seed: int) -> dict[str, float]:
    rng = random.Random(seed)
    templates = [_source(i, rng) for i in range(candidates)]
    recorder = InputsRecorder(hub.store)
    records: list[tuple[DecisionInputs, DecisionRecord]] = []
    record_seconds, decide_seconds = [], []
    policy = default_policy()
    for n in range(decisions):
        inputs = _inputs(n + candidates * 1000, templates, rng)
        started = time.perf_counter()
        decision = inputs.decide(policy)
        decide_seconds.append(time.perf_counter() - started)
        recorded = decision_record(decision, inputs.holders, inputs.sources_not_given)
        started = time.process_time()
        pending: dict[UUID, object] = {}
        digest = recorder.record(inputs, pending)  # type: ignore[arg-type]
        record_seconds.append(time.process_time() - started)
        hub.store.save(*pending.values())
        recorder.saved(pending)  # type: ignore[arg-type]
        records.append((inputs, _history_row(n, recorded, digest)))
    per_decision = [
        _stored_bytes(hub, recorded_inputs_id(r.inputs_digest or "")) for _, r in records
    ]
    keys = {str(row["definition"]) for i, _ in records[:1] for row in _body_rows(i)}
    definitions = sum(_stored_bytes(hub, recorded_source_id(k)) for k in keys)

    service = RerunService(hub.store, hub.policies)
    cold, warm, cold_cpu, warm_cpu = [], [], [], []
    for _, row in records:
        _forget()  # cold: definitions read from the store and decoded again
        started, cpu = time.perf_counter(), time.process_time()
        result = service.rerun(row, UUID(int=0))
        cold.append(time.perf_counter() - started)
        cold_cpu.append(time.process_time() - cpu)
        assert result.identical, result.differences
        started, cpu = time.perf_counter(), time.process_time()
        service.rerun(row, UUID(int=0))
        warm.append(time.perf_counter() - started)
        warm_cpu.append(time.process_time() - cpu)
    parts = _warm_parts(service, [row for _, row in records], policy)
    return {
        "candidates": candidates,
        "bytes_per_decision": statistics.mean(per_decision),
        "definitions_bytes_once": definitions,
        "record_cpu_ms": statistics.mean(record_seconds) * 1000,
        "decide_alone_ms_p50": statistics.median(decide_seconds) * 1000,
        "rerun_cold_ms_p50": statistics.median(cold) * 1000,
        "rerun_cold_ms_p95": _p95(cold) * 1000,
        "rerun_warm_ms_p50": statistics.median(warm) * 1000,
        "rerun_warm_ms_p95": _p95(warm) * 1000,
        "rerun_cold_cpu_ms_p50": statistics.median(cold_cpu) * 1000,
        "rerun_warm_cpu_ms_p50": statistics.median(warm_cpu) * 1000,
        "rerun_cold_cpu_ms_p95": _p95(cold_cpu) * 1000,
        "rerun_warm_cpu_ms_p95": _p95(warm_cpu) * 1000,
        **parts,
    }


def _forget() -> None:
    """As in a new process: no definition read or decoded yet (what a cold re-run meets), no
    cost model, shipping area or method set resolved (those a release lacks are skipped, so
    that the same file measures both sides of an A/B)."""
    recorded_inputs.forget_definitions()
    getattr(order_decisions_module, "forget_orders", lambda: None)()  # the orders read
    decision_inputs._TEMPLATES.clear()
    getattr(decision_inputs, "_COSTS", {}).clear()
    for cached in ("_expanded", "_methods"):
        getattr(getattr(inputs_module, cached, None), "cache_clear", lambda: None)()


def _warm_parts(
    service: RerunService, rows: list[DecisionRecord], policy: Policy
) -> dict[str, float]:
    """CPU ms of each part of a warm re-run, each part over all decisions (median of 3)."""
    inputs = [service.inputs_of(row) for row in rows]
    decisions = [i.decide(policy) for i in inputs]
    records = [
        decision_record(d, i.holders, i.sources_not_given)
        for d, i in zip(decisions, inputs, strict=True)
    ]
    parts: dict[str, Callable[[int], object]] = {
        "load_ms": lambda n: service.inputs_of(rows[n]),
        "decide_ms": lambda n: inputs[n].decide(policy),
        "record_ms": lambda n: decision_record(
            decisions[n], inputs[n].holders, inputs[n].sources_not_given
        ),
        "digest_ms": lambda n: record_digest(records[n]),
    }
    out = {}
    for name, part in parts.items():
        rounds = []
        for _ in range(3):
            started = time.process_time()
            for n in range(len(rows)):
                part(n)
            rounds.append((time.process_time() - started) / len(rows))
        out[f"warm_{name}"] = statistics.median(rounds) * 1000
    return out


def _body_rows(inputs: DecisionInputs) -> list[dict[str, object]]:
    from orchestration_policies.decision_inputs import to_body

    return list(to_body(inputs)[0]["candidates"])


def _history_row(n: int, recorded: RoutingDecision, digest: str) -> DecisionRecord:
    return DecisionRecord(
        n=n + 1,
        sequence=n + 3,
        decided_at=NOW.isoformat(),
        trigger=Trigger.ORDER_ACCEPTED,
        outcome=Outcome.ROUTED,
        policy_id="default",
        policy_version=1,
        decision_digest=record_digest(recorded),
        inputs_digest=digest,
        shipments=0,
        actor="system:orchestrator",
        explanation=None,
        decision=recorded,
    )


def _p95(values: list[float]) -> float:
    return sorted(values)[int(0.95 * (len(values) - 1))]


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--candidates", default="10,50,200")
    parser.add_argument("--decisions", type=int, default=200)
    parser.add_argument("--seed", type=int, default=7)
    args = parser.parse_args()
    with tempfile.TemporaryDirectory() as tmp:
        hub = bootstrap(Settings(data_dir=Path(tmp), kafka_bootstrap=None, database_url=None))
        try:
            rows: list[dict[str, float]] = [
                measure(hub, int(c), args.decisions, args.seed) for c in args.candidates.split(",")
            ]
        finally:
            hub.close()
    header = list(rows[0])
    print(" | ".join(header))
    for row in rows:
        print(
            " | ".join(
                f"{row[h]:.2f}" if isinstance(row[h], float) else str(row[h]) for h in header
            )
        )


if __name__ == "__main__":
    main()
