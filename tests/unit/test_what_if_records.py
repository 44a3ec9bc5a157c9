"""A recorded decision as the log reader sends it: what the engine reads of it (``LiveFacts``)
worked out beside the engine, and the record itself as JSON text, read again only when asked
for, then equal to the record in every way the engine and a report read it."""

import pickle
from dataclasses import replace
from typing import Any

import orjson
import pytest

from hub.services.what_if_build import _LazyRecord, received_facts
from hub.services.what_if_pages import _recorded, plain_facts, sent_facts
from orchestration_policies.what_if import run_what_if
from orchestration_policies.what_if_report import LiveFacts, Shipped, live_facts
from schemas.decision_record import DecisionRecord
from tests.unit.test_what_if import BY_COST, BY_DISTANCE, FAR, NEAR, START, T, order, recorded, seen


def test_a_record_sent_as_text_reads_as_the_record_it_was() -> None:
    item = recorded(order("o1", T[0]), T[0], BY_DISTANCE, seen(NEAR, 1, 0), seen(FAR, 1, 0))
    plain = item.record.plain()
    text, facts = _recorded(dict(plain))
    assert isinstance(text, bytes)
    assert facts is not None and received_facts(facts) == live_facts(item.record)
    lazy = _LazyRecord(text)
    assert lazy.shipments == item.record.shipments
    assert lazy.explanation == item.record.explanation
    assert lazy == item.record and lazy.plain() == plain
    assert _LazyRecord(text) == DecisionRecord.from_plain(plain)  # equal before any part read


def test_facts_worked_out_beforehand_give_the_report_of_the_record() -> None:
    history = [
        recorded(order(f"o{i}", T[i]), T[i], BY_DISTANCE, seen(NEAR, 1, 0), seen(FAR, 2, i))
        for i in range(3)
    ]
    sent = [replace(item, live=live_facts(item.record)) for item in history]
    full = run_what_if(history, BY_COST, START, changes_kept=10).to_dict()
    assert run_what_if(sent, BY_COST, START, changes_kept=10).to_dict() == full


def test_a_record_the_reader_cannot_read_is_sent_as_it_is() -> None:
    assert _recorded({"order_id": "o1"}) == ({"order_id": "o1"}, None)
    with pytest.raises(ValueError, match="lacks"):
        DecisionRecord.from_plain({"order_id": "o1"})  # the engine's side fails on it, as before


def test_a_record_read_as_stored_is_sent_as_the_stored_event() -> None:
    item = recorded(order("o1", T[0]), T[0], BY_DISTANCE, seen(NEAR, 1, 0), seen(FAR, 1, 0))
    plain = item.record.plain()
    stored = orjson.dumps(
        {"timestamp": {"_type_": "datetime_iso", "_data_": "x"}, "decision": plain}
    )
    text, _ = _recorded(dict(plain), stored)
    assert text is stored  # not written out again
    lazy = _LazyRecord(text)
    assert lazy == item.record and lazy.plain() == plain and lazy.held == item.record.held


def test_facts_are_sent_as_plain_tuples_and_read_back_as_the_engine_reads_them() -> None:
    item = recorded(order("o1", T[0]), T[0], BY_DISTANCE, seen(NEAR, 1, 0), seen(FAR, 1, 0))
    expected = live_facts(item.record)
    assert expected.shipped  # the case has shipments to send
    _, facts = _recorded(dict(item.record.plain()))
    # nothing but builtins (and Decimal) is pickled: no NamedTuple class on the way
    assert b"LiveFacts" not in pickle.dumps(facts) and b"Shipped" not in pickle.dumps(facts)
    back = received_facts(pickle.loads(pickle.dumps(facts)))
    assert back == expected and type(back) is LiveFacts
    assert all(type(s) is Shipped for s in back.shipped)
    assert back.shipped[0].source_id == expected.shipped[0].source_id
    assert back.shipped[0].cost == expected.shipped[0].cost


def _typed_facts(record: Any) -> Any:
    return sent_facts(live_facts(DecisionRecord(record)))


_RECORD: dict[str, Any] = {
    "order_id": "o1",
    "policy": {"id": "default", "version": 1},
    "decided_at": "2026-11-01T00:00:00+00:00",
    "shipments": {"a": [["1", "S1", 2], ["2", "S2", 1]], "b": [["3", "S3", 1]]},
    "shipment_details": [
        {"source_id": "a", "units": 3, "estimated_cost": "8.37", "currency": "EUR",
         "distance_km": 27.1, "lead_time_days": 1, "score": 0.2},
        {"source_id": "b", "units": 1, "estimated_cost": "3.10", "currency": "EUR",
         "distance_km": None, "lead_time_days": 2},
    ],
    "unallocated": [],
    "backordered": [],
}  # fmt: skip
_WAITING = [{"line_id": "4", "sku": "S4", "quantity": 1, "reason": "out_of_stock"}]


@pytest.mark.parametrize(
    "changes",
    [
        {},
        {"backordered": _WAITING},
        {"unallocated": _WAITING},
        {"unallocated": _WAITING, "backordered": _WAITING},
        {"rejected": "no source"},
        {"shipments": {}, "shipment_details": []},
        {"held": {"rule": "vip", "reason": "a person looks"}, "shipments": {}},
        {"held": {}},  # a hold the typed record cannot read
        {"shipment_details": None},
        {"shipments": {"a": [["1", "S1"]]}},  # a line of two fields
        {"shipments": {"a": ["1S1"]}},  # three characters: the typed record reads them so
        {"shipments": []},
        {"shipment_details": [{"source_id": "a"}]},
        {"shipment_details": [{**_RECORD["shipment_details"][0], "estimated_cost": "x"}]},
        {"backordered": [{"line_id": "4"}]},
        {"unallocated": "4"},
        {"policy": None},  # not read by either
    ],
)
def test_facts_read_from_the_json_are_those_of_the_typed_record(changes: dict[str, Any]) -> None:
    record = {**_RECORD, **changes}
    try:
        expected = _typed_facts(record)
    except Exception as error:  # the same error, whatever it is
        with pytest.raises(type(error)):
            plain_facts(record)
        return
    found = plain_facts(record)
    assert found == expected
    assert [type(v) for s in found[1] for v in s] == [type(v) for s in expected[1] for v in s]


@pytest.mark.parametrize("record", [{"order_id": "o1"}, [], "x"])
def test_a_record_that_is_not_one_fails_as_the_typed_record_does(record: Any) -> None:
    with pytest.raises(ValueError):
        plain_facts(record)
