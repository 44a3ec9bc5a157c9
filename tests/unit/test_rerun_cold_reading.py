"""A cold re-run's reading of many source definitions: each stored event read as its JSON, found
by the digest its state names and verified against it; the records' ids worked out as uuid5."""

import dataclasses
import sqlite3
import uuid
from collections.abc import Callable
from decimal import Decimal
from pathlib import Path
from uuid import UUID

import pytest
from eventsourcing.domain import Aggregate
from hypothesis import given
from hypothesis import strategies as st

from aggregates.decision_inputs import (
    INPUTS_NAMESPACE,
    recorded_inputs_id,
    recorded_source_hex,
    recorded_source_id,
)
from hub import multi_get
from hub.services.recorded_inputs import (
    InputsReader,
    InputsRecorder,
    InputsTamperedError,
    forget_definitions,
)
from hub.store import OrderStore
from orchestration_policies import (
    CandidateSource,
    CostModel,
    DeliveryMethod,
    SourceKind,
    StockLevel,
    default_policy,
)
from orchestration_policies.decision_inputs import (
    DecisionInputs,
    PolicyRef,
    candidate_from,
    to_body,
)
from tests.unit.policies.policies_factories import LYON, NOW, make_order, make_source


@given(st.text(max_size=80))
def test_the_records_ids_are_uuid5_of_their_digests(digest: str) -> None:
    source = uuid.uuid5(INPUTS_NAMESPACE, f"source:{digest}")
    assert recorded_source_id(digest) == source
    assert str(recorded_source_id(digest)) == str(source)
    assert recorded_source_id(digest).version == 5
    assert recorded_source_hex(digest) == source.hex
    assert recorded_inputs_id(digest) == uuid.uuid5(INPUTS_NAMESPACE, f"inputs:{digest}")


def _sqlite(tmp_path: Path) -> OrderStore:
    return OrderStore(
        env={"PERSISTENCE_MODULE": "eventsourcing.sqlite", "SQLITE_DBNAME": str(tmp_path / "s")}
    )


def _inputs(sources: int = 12) -> DecisionInputs:
    return DecisionInputs(
        order=make_order(("RED-CHAIR", 2)),
        candidates=tuple(
            make_source(f"wh-{n}", at=LYON, stock={"RED-CHAIR": StockLevel(n, 0)})
            for n in range(sources)
        ),
        policy=PolicyRef("default", 1),
        now=NOW,
    )


def _record(store: OrderStore, inputs: DecisionInputs) -> str:
    pending: dict[UUID, Aggregate] = {}
    digest = InputsRecorder(store).record(inputs, pending)
    store.save(*pending.values())
    return digest


def _rewrite_state(tmp_path: Path, key: str, old: str, new: str) -> None:
    """Change the stored JSON of one definition's event, as someone with the database could."""
    with sqlite3.connect(tmp_path / "s") as db:
        (state,) = db.execute(
            "SELECT state FROM stored_events WHERE originator_id = ?", (recorded_source_hex(key),)
        ).fetchone()
        assert old.encode() in state
        db.execute(
            "UPDATE stored_events SET state = ? WHERE originator_id = ?",
            (state.replace(old.encode(), new.encode()), recorded_source_hex(key)),
        )


def test_a_cold_read_of_many_definitions_in_sqlite_gives_the_inputs_recorded(
    tmp_path: Path,
) -> None:
    store = _sqlite(tmp_path)
    inputs = _inputs(450)  # more than one query's worth of ids
    digest = _record(store, inputs)
    forget_definitions()

    assert InputsReader(store).load(digest) == inputs


def test_the_first_events_of_many_records_come_back_in_one_query_each_with_its_state(
    tmp_path: Path,
) -> None:
    store = _sqlite(tmp_path)
    inputs = _inputs(5)
    _record(store, inputs)
    keys = sorted(to_body(inputs)[1])

    found = multi_get.select_first_events(
        store.events.recorder, [*map(recorded_source_hex, keys), uuid.uuid4().hex]
    )

    assert found is not None
    assert len(found) == len(keys)  # the unknown id has none
    assert all(topic.endswith("RecordedSource.Recorded") for topic, _ in found)
    assert sorted(key for key in keys if any(key.encode() in s for _, s in found)) == keys
    assert multi_get.select_first_events(store.events.recorder, []) == []


def test_the_in_memory_recorder_is_read_the_mappers_way() -> None:
    store = OrderStore(env={"PERSISTENCE_MODULE": "eventsourcing.popo"})
    inputs = _inputs(3)
    digest = _record(store, inputs)

    assert multi_get.select_first_events(store.events.recorder, ["0" * 32]) is None
    forget_definitions()
    assert InputsReader(store).load(digest) == inputs


def _first_definition_changed(
    tmp_path: Path, inputs: DecisionInputs, change: Callable[[str], tuple[str, str]]
) -> tuple[OrderStore, str]:
    """The store and inputs digest, once the stored JSON of the first definition (by digest)
    had `change(its digest)` (old, new) made to it; nothing kept in this process."""
    store = _sqlite(tmp_path)
    digest = _record(store, inputs)
    key = sorted(to_body(inputs)[1])[0]
    _rewrite_state(tmp_path, key, *change(key))
    forget_definitions()
    return store, digest


def test_a_changed_definition_read_as_stored_json_is_refused(tmp_path: Path) -> None:
    lead_time = ('\\"lead_time_days\\":1', '\\"lead_time_days\\":9')
    store, digest = _first_definition_changed(tmp_path, _inputs(4), lambda _: lead_time)

    with pytest.raises(InputsTamperedError, match="source definition does not match"):
        InputsReader(store).load(digest)


def test_an_event_naming_another_digest_is_read_by_its_id_and_verified_as_before(
    tmp_path: Path,
) -> None:
    inputs = _inputs(4)
    store, digest = _first_definition_changed(
        tmp_path, inputs, lambda key: (f'"digest":"{key}"', f'"digest":"{"0" * 64}"')
    )

    # The text still hashes to the digest it is stored under: read, as it was before.
    assert InputsReader(store).load(digest) == inputs


def test_a_definition_missing_from_the_store_is_still_reported(tmp_path: Path) -> None:
    store = _sqlite(tmp_path)
    inputs = _inputs(3)
    digest = _record(store, inputs)
    key = sorted(to_body(inputs)[1])[1]
    with sqlite3.connect(tmp_path / "s") as db:
        db.execute("DELETE FROM stored_events WHERE originator_id = ?", (recorded_source_hex(key),))
    forget_definitions()

    with pytest.raises(ValueError, match=f"source definition {key} is not recorded"):
        InputsReader(store).load(digest)


def test_inputs_read_cold_decide_as_the_recorded_ones(tmp_path: Path) -> None:
    store = _sqlite(tmp_path)
    inputs = dataclasses.replace(_inputs(30), sources_not_given=2)
    digest = _record(store, inputs)
    forget_definitions()

    read = InputsReader(store).load(digest)

    assert read is not None
    policy = default_policy()
    assert read.decide(policy).to_json() == inputs.decide(policy).to_json()


def test_a_definition_becomes_the_candidate_its_fields_name() -> None:
    # Every field a value of its own (the ints above all): a field given in another's place
    # (the candidate is made positionally) would show.
    definition = {
        "source_id": "store-lyon",
        "kind": "store",
        "lat": 45.75,
        "lon": 4.85,
        "country": "FR",
        "ships_to": ["FR", "BE"],
        "delivery_methods": ["standard", "click_and_collect"],
        "daily_capacity": 40,
        "cost": {"base": "4.50", "per_unit": "0.4", "per_km": "0.012", "currency": "EUR"},
        "lead_time_days": 2,
        "priority": 3,
        "active": False,
        "demand_classes": ["vip"],
    }
    stock = {"RED-CHAIR": StockLevel(5, 1)}

    made = candidate_from(definition, False, stock, used_today=7)

    assert made == CandidateSource(
        source_id="store-lyon",
        kind=SourceKind.STORE,
        lat=45.75,
        lon=4.85,
        country="FR",
        ships_to=frozenset({"FR", "BE"}),
        delivery_methods=frozenset({DeliveryMethod.STANDARD, DeliveryMethod.CLICK_AND_COLLECT}),
        daily_capacity=40,
        used_today=7,
        cost=CostModel(Decimal("4.50"), Decimal("0.4"), Decimal("0.012"), "EUR"),
        lead_time_days=2,
        priority=3,
        active=False,
        demand_classes=frozenset({"vip"}),
        stock=stock,
    )
    assert made.kind is SourceKind.STORE and str(made.cost.base) == "4.50"
    assert candidate_from(definition, False, {}).cost is made.cost  # written alike: one model


@pytest.mark.parametrize("kind", ["shop", "", "WAREHOUSE"])
def test_an_unknown_kind_of_source_is_refused(kind: str) -> None:
    with pytest.raises(ValueError, match="is not a valid SourceKind"):
        make_source("wh-lyon", kind=kind)  # type: ignore[arg-type]


def test_a_country_not_in_upper_case_is_refused_naming_the_source() -> None:
    with pytest.raises(ValueError, match="source wh-lyon: country must be an ISO 3166"):
        make_source("wh-lyon", country="fr")
