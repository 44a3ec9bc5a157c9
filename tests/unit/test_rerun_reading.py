"""Re-runs read recorded inputs by their stored events' JSON and keep what they built: the
same inputs as the mapper gives, never a definition or cost model other than the one named."""

import dataclasses
import gc
from decimal import Decimal
from pathlib import Path
from typing import Any
from uuid import UUID

import pytest
from eventsourcing.domain import Aggregate

from aggregates.decision_inputs import recorded_inputs_id, recorded_source_id
from hub.bootstrap import bootstrap
from hub.collector import collector_paused
from hub.services import recorded_inputs, rerun
from hub.services.decision_records import decision_record
from hub.services.recorded_inputs import InputsReader, InputsRecorder, forget_definitions
from hub.services.rerun import NotRerunnable, RerunError, RerunService
from hub.settings import Settings
from hub.store import OrderStore
from orchestration_policies import CostModel, StockLevel, decision_inputs, default_policy
from orchestration_policies.decision_inputs import DecisionInputs, PolicyRef, candidate_from
from orchestration_policies.explain_record import record_digest
from projections.decision_history import DecisionRecord, Outcome, Trigger
from tests.unit.policies.policies_factories import LILLE, LYON, NOW, make_order, make_source

_POLICY = default_policy()


def _inputs(**lyon: Any) -> DecisionInputs:
    return DecisionInputs(
        order=make_order(("RED-CHAIR", 2)),
        candidates=(
            make_source("entrepôt-lyon", at=LYON, stock={"RED-CHAIR": StockLevel(9)}, **lyon),
            make_source("store-lille", at=LILLE, stock={"RED-CHAIR": 1}),
        ),
        policy=PolicyRef(_POLICY.id, _POLICY.version),
        now=NOW,
    )


def _record(store: OrderStore, inputs: DecisionInputs) -> str:
    recorder = InputsRecorder(store)
    pending: dict[UUID, Aggregate] = {}
    digest = recorder.record(inputs, pending)
    store.save(*pending.values())
    return digest


def _cold() -> None:
    forget_definitions()
    decision_inputs._TEMPLATES.clear()
    decision_inputs._COSTS.clear()


@pytest.mark.parametrize(
    "env",
    [
        {},
        {"COMPRESSOR_TOPIC": "eventsourcing.compressor:ZlibCompressor"},
    ],
    ids=["plain JSON: read by orjson", "compressed: read by the mapper"],
)
def test_recorded_inputs_read_back_equal_whatever_the_store_does_to_its_events(
    env: dict[str, str], monkeypatch: pytest.MonkeyPatch
) -> None:
    store = OrderStore(env={"PERSISTENCE_MODULE": "eventsourcing.popo", **env})
    inputs = _inputs()
    digest = _record(store, inputs)
    mapped: list[object] = []
    mapper = store.events.mapper
    real = mapper.to_domain_event

    def counted(stored: Any) -> Any:
        mapped.append(stored)
        return real(stored)

    monkeypatch.setattr(mapper, "to_domain_event", counted)
    _cold()

    assert InputsReader(store).load(digest) == inputs
    # The inputs record and both definitions: by orjson when the state is plain JSON.
    assert len(mapped) == (3 if env else 0)


def test_a_stored_event_read_by_orjson_gives_the_values_the_mapper_gives() -> None:
    store = OrderStore(env={"PERSISTENCE_MODULE": "eventsourcing.popo"})
    inputs = _inputs()
    digest = _record(store, inputs)
    mapper = store.events.mapper
    source_key = next(iter(decision_inputs.to_body(inputs)[1]))
    for record_id, kind in (
        (recorded_inputs_id(digest), recorded_inputs._INPUTS),
        (recorded_source_id(source_key), recorded_inputs._SOURCE),
    ):
        (stored,) = store.events.recorder.select_events(record_id)
        fast = recorded_inputs._recorded(mapper, stored, kind)
        event = vars(mapper.to_domain_event(stored))
        assert fast is not None
        for name in ("digest", "body", "encoding", "definition"):
            assert fast.get(name) == event.get(name)
    other = recorded_inputs._recorded(mapper, stored, recorded_inputs._INPUTS)
    assert other is None  # a definition's event is not an inputs record


def test_a_changed_definition_is_read_by_its_own_digest_not_taken_from_what_was_kept() -> None:
    store = OrderStore(env={"PERSISTENCE_MODULE": "eventsourcing.popo"})
    before = _inputs(lead_time_days=1)
    after = _inputs(lead_time_days=3)  # the same source, its definition changed since
    reader = InputsReader(store)
    assert reader.load(_record(store, before)) == before  # kept: definition and template

    again = reader.load(_record(store, after))
    assert again == after
    assert again is not None and again.candidates[0].lead_time_days == 3
    assert reader.load(before.digest) == before


def test_cost_models_are_shared_only_between_equal_figures_as_written() -> None:
    definition = decision_inputs.to_body(_inputs())[1]
    base = next(d for d in definition.values() if d["source_id"] == "store-lille")
    written = [{**base, "cost": {**base["cost"], "base": text}} for text in ("4.50", "4.5")]
    a, b = (candidate_from(d, True, {}) for d in written)
    again = candidate_from(written[0], True, {})

    assert (str(a.cost.base), str(b.cost.base)) == ("4.50", "4.5")  # equal, not the same
    assert again.cost is a.cost
    given = {**base, "cost": {**base["cost"], "base": Decimal("4.50")}}
    assert candidate_from(given, True, {}).cost == CostModel(
        Decimal("4.50"), Decimal(base["cost"]["per_unit"]), Decimal(base["cost"]["per_km"]), "EUR"
    )


def test_a_source_with_an_unknown_delivery_method_is_still_refused() -> None:
    definition = next(iter(decision_inputs.to_body(_inputs())[1].values()))
    for methods in (["standard"], ["standard", "by-pigeon"]):
        broken = {**definition, "delivery_methods": methods}
        if "by-pigeon" in methods:
            with pytest.raises(ValueError, match="by-pigeon"):
                candidate_from(broken, True, {})
        else:
            assert {str(m) for m in candidate_from(broken, True, {}).delivery_methods} == {
                "standard"
            }


def _row(inputs: DecisionInputs, digest: str | None) -> DecisionRecord:
    recorded = decision_record(inputs.decide(_POLICY), inputs.holders, inputs.sources_not_given)
    return DecisionRecord(
        n=1,
        sequence=3,
        decided_at=NOW.isoformat(),
        trigger=Trigger.ORDER_ACCEPTED,
        outcome=Outcome.ROUTED,
        policy_id=_POLICY.id,
        policy_version=_POLICY.version,
        decision_digest=record_digest(recorded),
        inputs_digest=digest,
        shipments=1,
        actor="system:orchestrator",
        explanation=None,
        decision=recorded,
    )


@pytest.mark.parametrize("enabled", [True, False])
def test_a_rerun_pauses_the_collector_and_leaves_it_as_it_found_it(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch, enabled: bool
) -> None:
    hub = bootstrap(Settings(data_dir=tmp_path, kafka_bootstrap=None, database_url=None))
    seen: list[bool] = []

    def watched(*args: Any) -> Any:
        seen.append(gc.isenabled())
        return decision_record(*args)

    monkeypatch.setattr(rerun, "decision_record", watched)
    was = gc.isenabled()
    try:
        (gc.enable if enabled else gc.disable)()
        inputs = _inputs()
        row = _row(inputs, _record(hub.store, inputs))
        _cold()
        service = RerunService(hub.store, hub.policies)

        assert service.rerun(row, UUID(int=1)).identical
        assert gc.isenabled() is enabled
        with pytest.raises(RerunError) as refused:
            service.rerun(dataclasses.replace(row, inputs_digest=None), UUID(int=1))
        assert refused.value.reason is NotRerunnable.INPUTS_NOT_RECORDED
        assert gc.isenabled() is enabled
        assert seen == [False]  # paused while the decision was re-run
    finally:
        (gc.enable if was else gc.disable)()
        hub.close()


def test_a_pause_inside_another_leaves_the_collector_to_the_outer_one() -> None:
    was = gc.isenabled()
    gc.enable()
    try:
        with collector_paused():
            with collector_paused():
                assert not gc.isenabled()
            assert not gc.isenabled()
        assert gc.isenabled()
        with pytest.raises(RuntimeError), collector_paused():
            raise RuntimeError("the work failed")
        assert gc.isenabled()
    finally:
        (gc.enable if was else gc.disable)()
