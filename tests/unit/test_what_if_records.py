"""A recorded decision as the log reader sends it: what the engine reads of it (``LiveFacts``)
worked out beside the engine, and the record itself as JSON text, read again only when asked
for, then equal to the record in every way the engine and a report read it."""

import pickle
from dataclasses import replace

import orjson
import pytest

from hub.services.what_if_build import _LazyRecord, received_facts
from hub.services.what_if_pages import _recorded
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
