"""The typed decision record writes exactly the JSON the plain dict did, for every shape."""

import json
import pickle
from dataclasses import FrozenInstanceError
from datetime import UTC, datetime
from decimal import Decimal
from typing import Any

import pytest

from hub.services.decision_records import decision_record
from orchestration_policies import Decision, decide, default_policy
from orchestration_policies.explain import explain_text
from orchestration_policies.explain_record import explain_record, record_digest
from schemas.decision_record import DecisionRecord
from tests.unit.policies.policies_factories import (
    LILLE,
    LYON,
    MARSEILLE,
    NOW,
    PARIS,
    make_order,
    make_policy,
    make_source,
)

SOURCES = [
    make_source("wh-paris", at=PARIS, stock={"RED-CHAIR": 5}),
    make_source("wh-lille", at=LILLE, stock={"BLUE-LAMP": 5}),
    make_source("wh-lyon", at=LYON, stock={"GREEN-RUG": 5}),
    make_source("wh-marseille", at=MARSEILLE, stock={"GREEN-RUG": 5}),
    make_source("wh-closed", at=LYON, stock={"RED-CHAIR": 9}, active=False),
    make_source("wh-empty", at=LYON, stock={"RED-CHAIR": 0}),
]
LINES = (("RED-CHAIR", 1), ("BLUE-LAMP", 1), ("GREEN-RUG", 1))
LIMIT_2 = {"max_shipments": 2}


def _decisions() -> dict[str, Decision]:
    order = make_order(*LINES)
    return {
        "routed": decide(order, SOURCES, default_policy(), NOW),
        "held_over_split_limit": decide(order, SOURCES, make_policy(split=LIMIT_2), NOW),
        "next_best": decide(
            order,
            SOURCES,
            make_policy(split=LIMIT_2, over_split_limit="ship_rest_from_next_best"),
            NOW,
        ),
        "rejected": decide(
            order, SOURCES, make_policy(split=LIMIT_2, over_split_limit="reject"), NOW
        ),
        "live_shipments": decide(
            make_order(*LINES, live_shipment_sources=("wh-nantes",)), SOURCES, default_policy(), NOW
        ),
        "backordered": decide(make_order(("PINK-VASE", 2)), SOURCES, default_policy(), NOW),
    }


DECISIONS = _decisions()


@pytest.mark.parametrize("name", sorted(DECISIONS))
def test_a_decision_reads_into_the_record_and_writes_back_the_same_json(name: str) -> None:
    plain = DECISIONS[name].to_dict()

    record = DecisionRecord.from_plain(json.loads(json.dumps(plain)))

    assert json.dumps(record.plain()) == json.dumps(plain)  # same keys, order, values, types
    assert record_digest(record) == DECISIONS[name].digest()


def test_the_shapes_cover_the_optional_parts() -> None:
    records = {n: DecisionRecord.from_plain(d.to_dict()) for n, d in DECISIONS.items()}

    overflow = records["held_over_split_limit"].over_split_limit
    assert overflow is not None and overflow.alternatives == {"L3": ("wh-lyon", "wh-marseille")}
    assert records["held_over_split_limit"].held is not None
    assert records["live_shipments"].live_shipments == ("wh-nantes",)
    assert records["rejected"].rejected is not None
    assert records["backordered"].backordered[0].sku == "PINK-VASE"
    statuses = {c.status for r in records.values() for c in r.explanation.candidates}  # type: ignore[union-attr]
    assert statuses == {"scored", "excluded", "no_stock"}


def test_the_hub_record_counts_the_omitted_sources_and_keeps_its_digest() -> None:
    decision = DECISIONS["routed"]
    record = decision_record(decision, {"wh-paris", "wh-lille", "wh-lyon"}, others=7)

    again = DecisionRecord.from_plain(json.loads(json.dumps(record.plain())))

    assert json.dumps(again.plain()) == json.dumps(record.plain())
    assert record_digest(again) == record_digest(record)
    assert again.explanation is not None
    # wh-marseille and wh-empty are not among the holders given: counted with the 7 others
    assert again.explanation.omitted == {"excluded:inactive": 1, "holds_none": 7 + 2}


# A decision of the first release: candidates carry a mapping per criterion (usable before rank),
# no normalisation, tie-breaks or omitted counts.
FIRST_RELEASE: dict[str, Any] = {
    "order_id": "o-1",
    "policy": {"id": "default", "version": 1},
    "decided_at": "2026-11-20T09:00:00+00:00",
    "shipments": {"wh-lyon": [["1", "RED-CHAIR", 2]]},
    "shipment_details": [
        {
            "source_id": "wh-lyon",
            "units": 2,
            "estimated_cost": "5.50",
            "currency": "EUR",
            "distance_km": 2.1,
            "lead_time_days": 1,
            "score": 0.0,
        }
    ],
    "unallocated": [],
    "backordered": [],
    "held": None,
    "rejected": None,
    "explanation": {
        "criteria": ["distance_km"],
        "weights": {"distance_km": 1.0},
        "split_penalty": 0.1,
        "candidates": [
            {
                "source_id": "wh-lyon",
                "status": "scored",
                "usable": {"RED-CHAIR": 40},
                "rank": 1,
                "total": 0.0,
                "criteria": {
                    "distance_km": {
                        "raw": 2.1,
                        "normalised": 0.0,
                        "weight": 1.0,
                        "contribution": 0.0,
                    }
                },
            }
        ],
        "plan": {
            "strategy": "single_source",
            "search": "single_source",
            "summary": "one source ships everything",
            "alternatives_considered": 1,
            "objective": 0,
            "units_planned": 2,
            "units_ordered": 2,
            "proposed_sources": ["wh-lyon"],
        },
    },
}


def test_a_record_of_an_earlier_shape_writes_back_unchanged() -> None:
    record = DecisionRecord.from_plain(FIRST_RELEASE)

    assert json.dumps(record.plain()) == json.dumps(FIRST_RELEASE)  # key order of the time too
    assert record.explanation is not None
    assert record.explanation.tie_breaks == () and record.explanation.omitted == {}
    assert record.explanation.plan.objective == 0 and record.shipments["wh-lyon"][0].quantity == 2


def test_a_record_is_a_frozen_value() -> None:
    record = DecisionRecord.from_plain(FIRST_RELEASE)

    with pytest.raises(FrozenInstanceError):
        record.order_id = "other"
    with pytest.raises(FrozenInstanceError):
        record.policy.version = 2  # type: ignore[misc]


def _every_part(record: DecisionRecord) -> list[object]:
    return [
        record.order_id,
        record.policy,
        record.decided_at,
        record.shipments,
        record.shipment_details,
        record.unallocated,
        record.backordered,
        record.held,
        record.rejected,
        record.explanation,
        record.live_shipments,
        record.over_split_limit,
    ]


@pytest.mark.parametrize("name", sorted(DECISIONS))
def test_reading_the_parts_leaves_the_json_as_it_was(name: str) -> None:
    plain = DECISIONS[name].to_dict()
    stored = json.dumps(plain)
    record = DecisionRecord.from_plain(json.loads(stored))

    first = _every_part(record)

    assert _every_part(record) == first  # read once, then kept
    assert json.dumps(record.plain()) == stored
    assert explain_record(record) == explain_text(DECISIONS[name])


def test_money_is_decimal_with_its_currency_and_the_time_utc() -> None:
    record = DecisionRecord.from_plain(DECISIONS["routed"].to_dict())

    assert record.decided_at == NOW and record.decided_at.tzinfo is UTC
    detail = record.shipment_details[0]
    assert isinstance(detail.estimated_cost, Decimal) and detail.currency == "EUR"
    decided = DECISIONS["routed"].shipment_details[0]
    assert (detail.source_id, detail.estimated_cost) == (decided.source_id, decided.estimated_cost)


def test_a_time_recorded_with_another_offset_reads_as_the_same_instant_in_utc() -> None:
    record = DecisionRecord.from_plain(FIRST_RELEASE | {"decided_at": "2026-11-20T10:00:00+01:00"})

    assert record.decided_at == datetime(2026, 11, 20, 9, 0, tzinfo=UTC)
    assert record.decided_at.tzinfo is UTC


def test_the_first_releases_candidates_read_as_arrays_and_explain() -> None:
    record = DecisionRecord.from_plain(FIRST_RELEASE)

    assert record.explanation is not None
    candidate = record.explanation.candidates[0]
    assert (candidate.raw, candidate.normalised, candidate.contribution) == ((2.1,), (0.0,), (0.0,))
    assert "#1 wh-lyon: score 0.0000 (distance 2.1 km → 0.000)" in explain_record(record)


@pytest.mark.parametrize(
    ("plain", "reason"),
    [
        ({k: v for k, v in FIRST_RELEASE.items() if k != "policy"}, "lacks policy"),
        ([FIRST_RELEASE], "JSON object, not list"),
    ],
)
def test_a_record_without_what_every_release_wrote_is_refused(plain: Any, reason: str) -> None:
    with pytest.raises(ValueError, match=reason):
        DecisionRecord.from_plain(plain)


def test_records_are_equal_by_their_json_and_survive_pickling() -> None:
    record = DecisionRecord.from_plain(json.loads(json.dumps(FIRST_RELEASE)))
    record.explanation  # noqa: B018  (a part read does not make it another record)

    again = pickle.loads(pickle.dumps(record))

    assert again == record == DecisionRecord.from_plain(FIRST_RELEASE)
    assert again != DecisionRecord.from_plain(FIRST_RELEASE | {"rejected": "no"})
