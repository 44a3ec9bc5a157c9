"""Decision records: holders listed, the rest counted; the text derived from the record."""

import hashlib
import json

import pytest

from hub.services.decision_records import decision_record
from orchestration_policies import decide, default_policy, explain_text
from orchestration_policies.explain_record import explain_record, record_digest
from schemas.decision_record import DecisionRecord
from tests.unit.policies.policies_factories import (
    LILLE,
    LYON,
    MARSEILLE,
    NOW,
    make_order,
    make_policy,
    make_source,
)

ORDER = make_order(("RED-CHAIR", 2), ("BLUE-LAMP", 1), ("OAK-TABLE", 1), at=LYON)
CANDIDATES = [
    make_source("wh-lyon", at=LYON, stock={"RED-CHAIR": 1, "BLUE-LAMP": 4}),
    make_source("wh-marseille", at=MARSEILLE, stock={"RED-CHAIR": 5, "OAK-TABLE": 2}),
    make_source("store-lille", at=LILLE, stock={"BLUE-LAMP": 0}),
    make_source("store-closed", at=LILLE, stock={"OAK-TABLE": 3}, active=False),
]


@pytest.mark.parametrize(
    "policy", [default_policy(), make_policy(holds=[]), make_policy(backorder="reject")]
)
def test_the_text_derived_from_a_record_reads_as_the_live_explanation(policy: object) -> None:
    decision = decide(ORDER, CANDIDATES, policy, NOW)  # type: ignore[arg-type]
    holders = {c.source_id for c in CANDIDATES}

    record = decision_record(decision, holders, others=0)

    assert explain_record(record) == explain_text(decision)
    # as it comes back from the event store
    stored = DecisionRecord.from_plain(json.loads(json.dumps(record.plain())))
    assert explain_record(stored) == explain_text(decision)
    assert record_digest(stored) == record_digest(record)


def test_sources_holding_none_of_the_order_are_counted_by_reason_not_listed() -> None:
    nowhere = [
        make_source("store-empty", at=LILLE, stock={}),
        make_source("store-paused", at=LILLE, stock={}, active=False),
    ]
    decision = decide(ORDER, CANDIDATES + nowhere, default_policy(), NOW)
    holders = {c.source_id for c in CANDIDATES}

    record = decision_record(decision, holders, others=95)

    assert record.explanation is not None
    listed = [c.source_id for c in record.explanation.candidates]
    assert sorted(listed) == sorted(holders)
    assert record.explanation.omitted == {"excluded:inactive": 1, "holds_none": 96}
    text = explain_record(record)
    assert (
        "Not listed: 1 source(s) excluded by 'inactive', "
        "96 source(s) holding none of the ordered SKUs." in text
    )
    assert "store-empty" not in text and "store-paused" not in text


def test_the_digest_and_the_canonical_json_it_is_of() -> None:
    from hub.services.decision_records import digest_of

    decision = decide(ORDER, CANDIDATES, default_policy(), NOW)
    record = decision_record(decision, {c.source_id for c in CANDIDATES}, others=0)
    standard = json.dumps(record.plain(), sort_keys=True, separators=(",", ":"), ensure_ascii=False)
    assert digest_of(record) == (record_digest(record), standard.encode())

    # A tiny figure written again as json.dumps writes it, and the digest is of those bytes.
    tiny = DecisionRecord.from_plain({**record.plain(), "score_floor": 1e-05})
    digest, text = digest_of(tiny)
    assert digest == record_digest(tiny) == hashlib.sha256(text or b"").hexdigest()
    assert text is not None and b'"score_floor":1e-05' in text
    nan_free_text = DecisionRecord.from_plain({**record.plain(), "note": 'a "quoted" \\ 1e-05'})
    digest, text = digest_of(nan_free_text)
    assert digest == record_digest(nan_free_text) and text is not None
    # An escape beside a tiny figure: the standard library writes it, and no bytes are given.
    tiny_and_escape = DecisionRecord.from_plain({**tiny.plain(), "note": "tab\there"})
    assert digest_of(tiny_and_escape) == (record_digest(tiny_and_escape), None)
