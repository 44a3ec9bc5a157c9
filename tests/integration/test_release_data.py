"""Stored events written by an earlier release load with today's code, SQLite and PostgreSQL.

tests/fixtures/release_2026_12 was written by tests/fixtures/make_release_data.py with the
release of 2026-12-03 (orders through every kind of order event). Every aggregate in it must
load, each order must say what that release's Order said, and each event must reach consumers
as the same public envelope.
"""

import json
import shutil
from collections.abc import Iterator
from datetime import UTC
from decimal import Decimal
from pathlib import Path
from typing import Any
from uuid import UUID

import pytest
from eventsourcing.persistence import StoredEvent

from aggregates import Order
from aggregates.order_values import ReturnAuthorisation, Shipment
from hub.settings import Settings
from hub.store import OrderStore
from orchestration_policies.explain_record import explain_record, record_digest
from schemas.decision_record import DecisionRecord
from schemas.submission import OrderSubmission
from tests.fixtures.make_release_data import envelope_digest, observed

RELEASE = Path(__file__).parents[1] / "fixtures" / "release_2026_12"
EXPECTED: dict[str, dict[str, Any]] = json.loads((RELEASE / "expected.json").read_text())
ENVELOPES: dict[str, str] = json.loads((RELEASE / "envelopes.json").read_text())


def _sqlite_store(tmp_path: Path) -> OrderStore:
    data_dir = tmp_path / "sqlite"
    data_dir.mkdir()
    shutil.copy(RELEASE / "events.sqlite3", data_dir / "events.sqlite3")
    settings = Settings(data_dir=data_dir, kafka_bootstrap=None, database_url=None)
    return OrderStore(env=settings.eventsourcing_env())


def _postgres_store(tmp_path: Path, database_url: str) -> OrderStore:
    """The same stored events, byte for byte, in a PostgreSQL event store."""
    release = _sqlite_store(tmp_path)
    stored = [
        StoredEvent(n.originator_id, n.originator_version, n.topic, n.state)
        for n in release.recorder.select_notifications(start=None, limit=100_000)
    ]
    release.close()
    settings = Settings(data_dir=tmp_path / "pg", kafka_bootstrap=None, database_url=database_url)
    store = OrderStore(env=settings.eventsourcing_env())
    store.recorder.insert_events(stored)
    return store


@pytest.fixture(params=["sqlite", pytest.param("postgres", marks=pytest.mark.postgres)])
def store(request: pytest.FixtureRequest, tmp_path: Path) -> Iterator[OrderStore]:
    if request.param == "sqlite":
        opened = _sqlite_store(tmp_path)
    else:
        opened = _postgres_store(tmp_path, request.getfixturevalue("database_url"))
    yield opened
    opened.close()


def test_every_stored_aggregate_of_the_release_loads(store: OrderStore) -> None:
    notifications = store.recorder.select_notifications(start=None, limit=100_000)
    ids = {n.originator_id for n in notifications}
    assert len(notifications) == len(ENVELOPES)
    assert {str(i) for i in ids} >= set(EXPECTED)
    for aggregate_id in ids:
        last = max(n.originator_version for n in notifications if n.originator_id == aggregate_id)
        assert store.repository.get(aggregate_id).version == last


@pytest.mark.parametrize("order_id", sorted(EXPECTED), ids=lambda i: EXPECTED[i]["external_id"])
def test_each_order_says_what_the_release_said(store: OrderStore, order_id: str) -> None:
    order = store.repository.get(UUID(order_id))
    assert isinstance(order, Order)
    assert isinstance(order.submission, OrderSubmission)
    assert all(isinstance(s, Shipment) for s in order.shipments.values())
    assert all(isinstance(r, ReturnAuthorisation) for r in order.returns.values())

    assert observed(order) == EXPECTED[order_id]


def test_each_event_reaches_consumers_as_the_same_envelope(store: OrderStore) -> None:
    sent = {
        f"{env.subject}:{env.sequence}": envelope_digest(env)
        for _, env in store.read_envelopes(None, 100_000)
    }

    assert sent == ENVELOPES


def test_each_recorded_decision_reads_typed_and_is_written_back_byte_for_byte(
    store: OrderStore,
) -> None:
    decided = [
        n
        for n in store.recorder.select_notifications(start=None, limit=100_000)
        if n.topic.endswith(("Order.Routed", "Order.Held"))
    ]
    decisions = 0
    for stored in decided:
        event: Any = store.mapper.to_domain_event(stored)
        if event.decision is None:
            continue  # a hold with no routing decision behind it
        decisions += 1
        record = event.decision
        assert isinstance(record, DecisionRecord)
        # every part reads typed: the time in UTC, money as Decimal with its currency
        assert record.decided_at.tzinfo is UTC and record.policy.version >= 1
        assert all(isinstance(d.estimated_cost, Decimal) for d in record.shipment_details)
        assert record.explanation is not None and explain_record(record)
        assert record_digest(record) == event.decision_digest  # the digest still verifies
        assert store.mapper.to_stored_event(event).state == stored.state
    assert decisions >= 10  # routed, split, backordered, held over a rule ...
