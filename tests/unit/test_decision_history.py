"""An order's decisions from its events: triggers, outcomes, digests; older event shapes load."""

import dataclasses
from datetime import timedelta
from pathlib import Path
from typing import Any

import pytest

from aggregates import Order
from aggregates.contract import to_envelope
from aggregates.order_values import Hold
from hub.services.decisions import order_decisions
from hub.store import OrderStore
from orchestration_policies.explain_record import record_digest
from projections.decision_history import Outcome, Trigger, decisions_of
from schemas.envelope import EventEnvelope
from tests.contracts.factories import NOW, placed_order, recorded_decision

BOT = "system:orchestrator"
# A decision as recorded before the split limit had its own case: the line over the limit was
# backordered under the reason max_shipments_reached.
OLD_SPLIT_DECISION: dict[str, Any] = {
    "order_id": "o",
    "policy": {"id": "default", "version": 3},
    "decided_at": NOW.isoformat(),
    "shipments": {"wh-a": [["1", "RED-CHAIR", 2]]},
    "backordered": [
        {"line_id": "2", "sku": "BLUE-LAMP", "quantity": 1, "reason": "max_shipments_reached"}
    ],
    "unallocated": [],
    "held": None,
    "rejected": None,
}


# The record of a hold rule's decision (nothing shipped).
HELD = recorded_decision(held={"rule": "payment-not-authorized", "reason": "pending"})


def at(minutes: int) -> Any:
    return NOW + timedelta(minutes=minutes)


def _route(order: Order, minute: int, **changes: Any) -> None:
    args: dict[str, Any] = {
        "decision": recorded_decision(**OLD_SPLIT_DECISION),
        "decision_digest": "d" * 64,
        "explanation": "split in two, one line waits",
        "inputs_digest": "i" * 64,
        "shipments": [],
        "waiting": {"2": 1},
        "unroutable_reason": None,
        "actor": BOT,
        "now": at(minute),
    }
    order.route(**(args | changes))


def _envelopes(order: Order) -> list[EventEnvelope]:
    return [to_envelope(e) for e in order.collect_events()]


def test_triggers_follow_what_made_the_order_routable_again() -> None:
    order = placed_order()
    order.accept(BOT, at(0))
    order.put_on_hold("payment-not-authorized", "pending", BOT, at(1), decision=HELD)
    order.release_hold("paid", "user:alice", at(2))
    _route(order, 3)
    _route(order, 4)  # nothing in between: the backorder woke up
    order.reroute("wh-b", "customer asked", "user:alice", at(5))
    two = {"wh-a": [["1", "RED-CHAIR", 2]], "wh-b": [["2", "BLUE-LAMP", 1]]}
    _route(
        order, 6, waiting={}, decision=recorded_decision(**OLD_SPLIT_DECISION | {"shipments": two})
    )

    records = decisions_of(_envelopes(order))

    assert [(r.n, r.trigger, r.outcome) for r in records] == [
        (1, Trigger.ORDER_ACCEPTED, Outcome.HELD),
        (2, Trigger.HOLD_RELEASED, Outcome.BACKORDERED),
        (3, Trigger.BACKORDER_WAKEUP, Outcome.BACKORDERED),
        (4, Trigger.REROUTED_BY_PERSON, Outcome.SPLIT),
    ]
    assert records[1].policy_id == "default" and records[1].policy_version == 3


def test_an_old_decision_that_backordered_over_the_split_limit_still_lists() -> None:
    order = placed_order()
    order.accept(BOT, at(0))
    _route(order, 1)

    (record,) = decisions_of(_envelopes(order))

    assert record.outcome is Outcome.BACKORDERED
    assert record.decision.backordered[0].reason == "max_shipments_reached"
    assert record.to_dict()["policy"] == {"id": "default", "version": 3}


def test_a_hold_recorded_before_holds_had_digests_gets_its_decision_digest_derived() -> None:
    order = placed_order()
    order.accept(BOT, at(0))
    decision = recorded_decision(held={"rule": "r", "reason": "x"})
    order.put_on_hold("r", "x", BOT, at(1), decision=decision)
    envelopes = _envelopes(order)
    old = envelopes[-1].model_copy(
        update={
            "data": {
                k: v
                for k, v in envelopes[-1].data.items()
                if k not in ("decision_digest", "inputs_digest")
            }
        }
    )

    (record,) = decisions_of([*envelopes[:-1], old])

    assert record.decision_digest == record_digest(decision)
    assert record.inputs_digest is None


def test_an_order_replays_a_held_event_stored_without_the_digests() -> None:
    order = placed_order()
    order.accept(BOT, at(0))
    order.put_on_hold("r", "x", BOT, at(1), decision=HELD)
    stored = order.collect_events()
    for event in stored:
        event.__dict__.pop("decision_digest", None)
        event.__dict__.pop("inputs_digest", None)

    replayed: Any = None
    for event in stored:
        replayed = event.mutate(replayed)

    assert replayed.status.value == "held" and replayed.hold == Hold("r", "x")


def test_a_rerun_reads_the_same_decisions_from_the_store_without_their_text() -> None:
    store = OrderStore(env={"PERSISTENCE_MODULE": "eventsourcing.popo"})
    order = placed_order()
    order.accept(BOT, at(0))
    order.put_on_hold("payment-not-authorized", "pending", BOT, at(1), decision=HELD)
    order.release_hold("paid", "user:alice", at(2))
    _route(order, 3, explanation=None, decision=recorded_decision())
    _route(order, 4)
    store.save(order)

    listed = order_decisions(store, order.id)
    rerun = order_decisions(store, order.id, inputs_recorded=False, for_rerun=True)

    assert listed is not None and rerun is not None
    assert rerun.channel == listed.channel and len(rerun.decisions) == 3
    assert listed.decisions[2].explanation == "split in two, one line waits"
    for shown, read in zip(listed.decisions, rerun.decisions, strict=True):
        assert read.explanation is None and read.inputs_recorded is None
        assert shown.inputs_recorded is False  # looked up: none recorded in this store
        assert read.decision.plain() == shown.decision.plain()
        assert read.decision_digest == shown.decision_digest
        assert dataclasses.replace(read, explanation=None, inputs_recorded=None) == (
            dataclasses.replace(shown, explanation=None, inputs_recorded=None)
        )


@pytest.mark.parametrize("compressed", [False, True])
def test_the_decisions_are_read_from_the_stored_json_as_the_mapper_reads_them(
    tmp_path: Path, compressed: bool
) -> None:
    env = {"PERSISTENCE_MODULE": "eventsourcing.sqlite", "SQLITE_DBNAME": str(tmp_path / "e.db")}
    if compressed:  # not plain JSON: read through the mapper, to the same decisions
        env["COMPRESSOR_TOPIC"] = "eventsourcing.compressor:ZlibCompressor"
    store = OrderStore(env=env)
    order = placed_order()
    order.accept(BOT, at(0))
    order.put_on_hold("payment-not-authorized", "pending", BOT, at(1), decision=HELD)
    order.release_hold("paid", "user:alice", at(2))
    _route(order, 3, decision=recorded_decision())
    _route(order, 4)
    store.save(order)

    read = order_decisions(store, order.id, inputs_recorded=False, for_rerun=True)
    mapped = decisions_of([to_envelope(e) for e in store.events.get(order.id)], explained=False)

    assert read is not None and read.decisions == mapped and len(mapped) == 3
    assert [d.trigger for d in mapped] == [
        Trigger.ORDER_ACCEPTED,
        Trigger.HOLD_RELEASED,
        Trigger.BACKORDER_WAKEUP,
    ]
    events = len(list(store.events.get(order.id)))
    assert store.envelope_reader.through_mapper == (events if compressed else 0)
