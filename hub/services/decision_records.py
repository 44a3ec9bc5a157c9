"""Decision records sized for scale, and their text explanation derived on read.

A decision over a network of hundreds of sources is recorded with every order. The record keeps
the candidates that hold some of the order (scored, excluded, or holding too little), and only
counts the others by reason: a source holding none of the ordered SKUs says nothing about this
order. The text explanation is not stored: it is written from the record when it is read.
Orders routed by earlier releases stored their text, and keep showing it.
"""

import hashlib
from collections import Counter
from collections.abc import Collection

import orjson

from aggregates.order import Order
from orchestration_policies import Decision
from orchestration_policies.canonical import as_standard
from orchestration_policies.explain_record import HOLDS_NONE, explain_record, record_digest
from schemas.decision_record import DecisionRecord


def decision_record(decision: Decision, holders: Collection[str], others: int) -> DecisionRecord:
    """The decision as recorded: candidates among `holders` listed, the rest counted by reason.

    `others` is the number of registered sources that were not given to decide() at all
    (they hold none of the ordered SKUs).
    """
    record = decision.to_dict()  # plain JSON values already; the digest sorts the keys
    explanation = record["explanation"]
    listed, omitted = [], Counter[str]()
    for row in explanation["candidates"]:
        if row["source_id"] in holders:
            listed.append(row)
        elif row["status"] == "excluded":
            omitted[f"excluded:{row['rule']}"] += 1
        else:
            omitted[HOLDS_NONE] += 1
    omitted[HOLDS_NONE] += others
    explanation["candidates"] = listed
    explanation["omitted"] = {reason: n for reason, n in sorted(omitted.items()) if n}
    return DecisionRecord.from_plain(record)


def digest_of(record: DecisionRecord) -> tuple[str, bytes | None]:
    """`record_digest(record)`, and the canonical JSON it is the digest of where orjson wrote it
    (None where the standard library had to: an escape beside a tiny float, a value orjson
    refuses). The `Routed` event stores those bytes as its decision (routed_events): the record
    is written once, not once for its digest and again, in its own key order, for the event."""
    try:
        data = orjson.dumps(record.plain(), option=orjson.OPT_SORT_KEYS)
    except (orjson.JSONEncodeError, TypeError):
        return record_digest(record), None
    fixed = as_standard(data)
    if fixed is None:
        return record_digest(record), None
    return hashlib.sha256(fixed).hexdigest(), fixed


def explanation_of(order: Order) -> str | None:
    """The order's latest decision in words: stored by earlier releases, derived otherwise."""
    if order.explanation:
        return order.explanation
    return None if order.decision is None else explain_record(order.decision)
