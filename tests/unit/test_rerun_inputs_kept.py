"""The last inputs a store's re-runs read are kept, by digest, per store and bounded: read
again they are the same values without a read; a store that does not hold a record, or holds
it tampered, still says so."""

from typing import Any

import pytest

from aggregates.decision_inputs import PLAIN, RecordedInputs
from hub.services import recorded_inputs
from hub.services.recorded_inputs import (
    InputsReader,
    InputsTamperedError,
    forget_definitions,
)
from hub.store import OrderStore
from orchestration_policies import StockLevel, default_policy
from orchestration_policies.decision_inputs import DecisionInputs, PolicyRef
from tests.unit.policies.policies_factories import LILLE, LYON, NOW, make_order, make_source
from tests.unit.test_rerun_cold_reading import _record

_POLICY = default_policy()


def _store() -> OrderStore:
    return OrderStore(env={"PERSISTENCE_MODULE": "eventsourcing.popo"})


def _inputs(units: int = 9) -> DecisionInputs:
    return DecisionInputs(
        order=make_order(("RED-CHAIR", 2)),
        candidates=(
            make_source("wh-lyon", at=LYON, stock={"RED-CHAIR": StockLevel(units)}),
            make_source("store-lille", at=LILLE, stock={"RED-CHAIR": 1}),
        ),
        policy=PolicyRef(_POLICY.id, _POLICY.version),
        now=NOW,
    )


def _reads(store: OrderStore, monkeypatch: pytest.MonkeyPatch) -> list[object]:
    """The inputs records the store is asked for from now on."""
    asked: list[object] = []
    recorder = store.events.recorder
    real = recorder.select_events

    def counted(originator_id: Any, *args: Any, **kwargs: Any) -> Any:
        asked.append(originator_id)
        return real(originator_id, *args, **kwargs)

    monkeypatch.setattr(recorder, "select_events", counted)
    return asked


def test_inputs_read_again_are_the_same_values_without_a_read(
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    forget_definitions()
    store = _store()
    inputs = _inputs()
    digest = _record(store, inputs)
    first = InputsReader(store).load(digest)
    asked = _reads(store, monkeypatch)
    again = InputsReader(store).load(digest)  # another reader: the API makes one per request
    assert first == inputs and again is first and asked == []
    assert again.decide(_POLICY).to_json() == inputs.decide(_POLICY).to_json()


def test_a_store_not_holding_the_record_or_holding_it_tampered_still_says_so() -> None:
    forget_definitions()
    inputs = _inputs()
    holding = _store()
    digest = _record(holding, inputs)
    assert InputsReader(holding).load(digest) == inputs  # kept for `holding`

    assert InputsReader(_store()).load(digest) is None  # another store: not recorded there
    tampered = _store()
    tampered.save(RecordedInputs(digest, '{"format":1}', encoding=PLAIN))
    with pytest.raises(InputsTamperedError):
        InputsReader(tampered).load(digest)
    assert InputsReader(holding).load(digest) == inputs


def test_the_inputs_kept_are_bounded_the_least_recently_read_going_first(
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    forget_definitions()
    store = _store()
    digests = [
        _record(store, _inputs(units)) for units in range(3, 3 + recorded_inputs.KNOWN_INPUTS + 2)
    ]
    reader = InputsReader(store)
    for digest in digests:
        reader.load(digest)
    reader.load(digests[2])  # read again: now the most recent
    kept = recorded_inputs._INPUTS_READ[store]
    assert len(kept) == recorded_inputs.KNOWN_INPUTS
    assert digests[0] not in kept and digests[1] not in kept and digests[2] in kept
    asked = _reads(store, monkeypatch)
    assert reader.load(digests[0]) == _inputs(3)  # forgotten: read from the store again
    assert len(asked) == 1 and len(kept) == recorded_inputs.KNOWN_INPUTS
