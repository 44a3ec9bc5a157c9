"""Recording decision inputs in the event store: once per digest, read back verified, and a
duplicate stored by another writer settled without losing the decision."""

import dataclasses
from collections.abc import Mapping, Sequence
from pathlib import Path
from typing import Any
from uuid import UUID

import pytest
from eventsourcing.domain import Aggregate
from eventsourcing.persistence import IntegrityError

from aggregates.decision_inputs import (
    PLAIN,
    RecordedInputs,
    RecordedSource,
    recorded_inputs_id,
    recorded_source_id,
)
from hub import multi_get
from hub.services import recorded_inputs
from hub.services.recorded_inputs import (
    InputsReader,
    InputsRecorder,
    InputsTamperedError,
    forget_definitions,
    load_inputs,
)
from hub.store import OrderStore
from orchestration_policies import StockLevel
from orchestration_policies.decision_inputs import (
    DecisionInputs,
    InputsFormatError,
    PolicyRef,
    canonical_json,
    to_body,
)
from tests.unit.policies.policies_factories import LILLE, LYON, NOW, make_order, make_source


def _store() -> OrderStore:
    return OrderStore(env={"PERSISTENCE_MODULE": "eventsourcing.popo"})


def _inputs(reserved: int = 0) -> DecisionInputs:
    return DecisionInputs(
        order=make_order(("RED-CHAIR", 2)),
        candidates=(
            make_source("wh-lyon", at=LYON, stock={"RED-CHAIR": StockLevel(9, reserved)}),
            make_source("store-lille", at=LILLE),
        ),
        policy=PolicyRef("default", 1),
        now=NOW,
    )


def _record(recorder: InputsRecorder, store: OrderStore, inputs: DecisionInputs) -> str:
    pending: dict[UUID, Aggregate] = {}
    digest = recorder.record(inputs, pending)
    if pending:
        store.save(*pending.values())
    recorder.saved(pending)
    return digest


def _count(store: OrderStore, kind: type) -> int:
    return sum(
        1
        for n in store.recorder.select_notifications(start=1, limit=1000)
        if kind.__name__ in n.topic
    )


def test_identical_inputs_are_stored_once_and_definitions_once_for_all_decisions() -> None:
    store = _store()
    recorder = InputsRecorder(store)

    first = _record(recorder, store, _inputs())
    again = _record(recorder, store, _inputs())
    other = _record(recorder, store, _inputs(reserved=3))

    assert first == again == _inputs().digest != other
    assert _count(store, RecordedInputs) == 2
    assert _count(store, RecordedSource) == 2  # two sources, unchanged between decisions
    assert load_inputs(store, first) == _inputs()
    assert load_inputs(store, other) == _inputs(reserved=3)
    assert load_inputs(store, "0" * 64) is None


def test_a_record_stored_by_another_writer_meanwhile_is_settled_and_the_retry_saves() -> None:
    store = _store()
    _record(InputsRecorder(store), store, _inputs())  # another worker, same inputs
    recorder = InputsRecorder(store)  # this worker knows the definitions only from the store

    pending: dict[UUID, Aggregate] = {}
    recorder.record(_inputs(), pending)
    assert list(pending) == [recorded_inputs_id(_inputs().digest)]  # definitions looked up
    with pytest.raises(IntegrityError):
        store.save(*pending.values())
    recorder.settle(pending)

    retry: dict[UUID, Aggregate] = {}
    assert recorder.record(_inputs(), retry) == _inputs().digest
    assert retry == {}


def test_a_record_that_does_not_match_its_digest_or_lacks_a_definition_is_refused() -> None:
    store = _store()
    inputs = _inputs()
    definitions = to_body(inputs)[1]
    tampered = dataclasses.replace(
        inputs, candidates=(dataclasses.replace(inputs.candidates[0], lead_time_days=9),)
    )
    forged = canonical_json(to_body(tampered)[0]).decode()
    store.save(RecordedInputs(inputs.digest, forged, encoding=PLAIN))
    with pytest.raises(InputsTamperedError, match="does not match its digest"):
        InputsReader(store).load(inputs.digest)

    honest = _store()
    digest = _record(InputsRecorder(honest), honest, inputs)
    assert all(honest.repository.get(recorded_source_id(key)) for key in definitions)
    lacking = _store()  # the inputs record without the definitions it names
    packed: RecordedInputs = honest.repository.get(recorded_inputs_id(digest))
    lacking.save(RecordedInputs(digest, packed.body, encoding=packed.encoding))
    forget_definitions()  # read and verified above: readers share them, as any store holds them
    with pytest.raises(InputsFormatError, match="is not recorded"):
        InputsReader(lacking).load(digest)


def test_a_cold_read_takes_every_definition_it_lacks_in_one_query(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    store = OrderStore(
        env={"PERSISTENCE_MODULE": "eventsourcing.sqlite", "SQLITE_DBNAME": str(tmp_path / "s")}
    )
    inputs = dataclasses.replace(
        _inputs(), candidates=tuple(make_source(f"wh-{n}", at=LYON) for n in range(30))
    )
    digest = _record(InputsRecorder(store), store, inputs)
    forget_definitions()
    reads: list[tuple[str, int]] = []
    real_first, real_many = multi_get.select_first_events, multi_get.select_events_of_many

    def first(recorder: Any, ids: Sequence[str]) -> list[tuple[str, bytes]] | None:
        reads.append(("first", len(ids)))
        return real_first(recorder, ids)

    def many(recorder: Any, after: Mapping[UUID, int]) -> dict[UUID, Any]:
        reads.append(("many", len(after)))
        return real_many(recorder, after)

    monkeypatch.setattr(recorded_inputs, "select_first_events", first)
    monkeypatch.setattr(recorded_inputs, "select_events_of_many", many)

    assert InputsReader(store).load(digest) == inputs
    # One query for the thirty definitions, read as their stored JSON (no second way needed).
    assert reads == [("first", 30)]
    assert InputsReader(store).load(digest) == inputs
    assert reads == [("first", 30)]  # read and verified once: kept


def test_a_definition_that_does_not_match_its_digest_is_refused_on_a_cold_read() -> None:
    honest = _store()
    inputs = _inputs()
    digest = _record(InputsRecorder(honest), honest, inputs)
    forged = _store()
    packed: RecordedInputs = honest.repository.get(recorded_inputs_id(digest))
    forged.save(RecordedInputs(digest, packed.body, encoding=packed.encoding))
    for key, definition in to_body(inputs)[1].items():
        changed = {**definition, "lead_time_days": 9}
        forged.save(RecordedSource(digest=key, definition=canonical_json(changed).decode()))
    forget_definitions()
    with pytest.raises(InputsTamperedError, match="source definition does not match"):
        InputsReader(forged).load(digest)


def test_the_recorder_makes_the_record_the_class_makes() -> None:
    pending: dict[UUID, Aggregate] = {}
    digest = InputsRecorder(_store()).record(_inputs(), pending)
    made = pending[recorded_inputs_id(digest)]
    assert isinstance(made, RecordedInputs)

    by_class = RecordedInputs(digest=digest, body=made.body, encoding=made.encoding)

    times = {"_created_on": None, "_modified_on": None, "_pending_events": None}
    assert list(vars(made)) == list(vars(by_class))
    assert {**vars(made), **times} == {**vars(by_class), **times}
    assert made.created_on == made.modified_on == made.pending_events[0].timestamp
    ours, theirs = made.collect_events(), by_class.collect_events()
    assert made.id == by_class.id and made.version == by_class.version == 1
    assert [type(e) for e in ours] == [type(e) for e in theirs]
    assert [{**vars(e), "timestamp": None} for e in ours] == [
        {**vars(e), "timestamp": None} for e in theirs
    ]


def test_a_small_body_is_stored_as_its_text_and_a_large_one_compressed(
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    store = _store()
    small = _record(InputsRecorder(store), store, _inputs())
    monkeypatch.setattr(recorded_inputs, "PLAIN_UP_TO", 10)
    large = _record(InputsRecorder(store), store, _inputs(reserved=4))

    records = store.get_many([recorded_inputs_id(small), recorded_inputs_id(large)])
    assert records[recorded_inputs_id(small)].encoding == PLAIN
    assert records[recorded_inputs_id(large)].encoding == "zlib+base64"
    forget_definitions()
    assert load_inputs(store, small) == _inputs()
    assert load_inputs(store, large) == _inputs(reserved=4)


def test_digests_known_are_bounded_and_a_forgotten_one_costs_a_settled_conflict(
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    """Only the last KNOWN digests are kept (one per decision otherwise, for good); a decision
    made again with inputs forgotten adds the record, the store refuses it as stored already,
    and the retry settles it, as with another writer's record."""
    monkeypatch.setattr(recorded_inputs, "KNOWN", 2)
    store = _store()
    recorder = InputsRecorder(store)
    for reserved in (0, 1, 2):
        _record(recorder, store, _inputs(reserved=reserved))

    recent: dict[UUID, Aggregate] = {}
    recorder.record(_inputs(reserved=2), recent)
    assert recent == {}  # kept: no record, no look-up
    forgotten: dict[UUID, Aggregate] = {}
    recorder.record(_inputs(), forgotten)
    assert list(forgotten) == [recorded_inputs_id(_inputs().digest)]
    with pytest.raises(IntegrityError):
        store.save(*forgotten.values())
    recorder.settle(forgotten)
    retry: dict[UUID, Aggregate] = {}
    assert recorder.record(_inputs(), retry) == _inputs().digest and retry == {}
    assert load_inputs(store, _inputs().digest) == _inputs()


def test_definitions_looked_up_at_once_are_not_read_again_one_by_one(
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    """Routing looks its sources' definitions up in one query when its view changes; then
    recording asks nothing per source: the stored ones are known, the others recorded."""
    from orchestration_policies.decision_inputs import definition_key

    store = _store()
    stored_already = dataclasses.replace(_inputs(), candidates=_inputs().candidates[:1])
    _record(InputsRecorder(store), store, stored_already)  # wh-lyon's definition stored
    recorder = InputsRecorder(store)

    recorder.look_up(definition_key(c) for c in _inputs().candidates)

    def no_read(record_id: UUID) -> bool:
        raise AssertionError("a definition read one by one")

    monkeypatch.setattr(recorder, "_stored", no_read)
    pending: dict[UUID, Aggregate] = {}
    recorder.record(_inputs(), pending)
    lille = definition_key(_inputs().candidates[1])
    assert set(pending) == {recorded_inputs_id(_inputs().digest), recorded_source_id(lille)}
    store.save(*pending.values())  # no conflict: wh-lyon's was not written again
    recorder.saved(pending)
    assert _count(store, RecordedSource) == 2
    # known once saved: the next decision records nothing new
    again: dict[UUID, Aggregate] = {}
    recorder.record(dataclasses.replace(_inputs(), now=NOW.replace(hour=1)), again)
    assert [type(r) for r in again.values()] == [RecordedInputs]
