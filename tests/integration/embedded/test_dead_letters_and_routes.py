"""Parked Kafka records become exceptions people can see; new event types reach the topics
their consumers read."""

import hashlib
from pathlib import Path

import pytest

from aggregates.contract import to_envelope
from aggregates.exception_case import Band, ExceptionCase
from connectors.consumed import RAW_KEPT, ConsumedMessage, dead_letter
from hub.settings import Settings
from hub.streaming.edge_handlers import DeadLetterConsumer
from hub.streaming.relay import routes_for
from projections.exceptions import ExceptionQuery
from schemas.event_types import EventType
from tests.contracts.factories import NOW, fixed_clock, placed_order
from tests.support.running_hub import embedded_hub

LIMIT = 1_048_576


def _parked_record(
    value: bytes, offset: int, limit: int = LIMIT, headers: tuple[tuple[str, bytes], ...] = ()
) -> ConsumedMessage:
    original = ConsumedMessage(
        topic="orderhub.orders.submitted",
        partition=2,
        offset=offset,
        key=b"k",
        value=value,
        headers=headers,
    )
    record = dead_letter("orderhub.dlq", original, "unparseable: Expecting value", "intake", limit)
    return ConsumedMessage(
        topic="orderhub.dlq",
        partition=0,
        offset=offset,
        key=record.key,
        value=record.value,
        headers=record.headers,
    )


@pytest.mark.asyncio
async def test_a_dead_letter_is_listed_once_as_a_parked_exception_with_its_origin(
    tmp_path: Path,
) -> None:
    hub = embedded_hub(tmp_path, fixed_clock(NOW))
    try:
        consumer = DeadLetterConsumer(hub.intake, hub.settings)
        bad = _parked_record(b"{not json", 41)
        await consumer.handle([bad])
        await consumer.handle([bad])  # redelivered: the same exception, not a second one
        hub.deliver()
        page = hub.exceptions.queue(ExceptionQuery(kinds=("parked",)))
        assert len(page.rows) == 1
        row = page.rows[0]
        assert row.severity == "high"
        assert "unparseable: Expecting value" in row.reason
        assert row.channel == "topic:orderhub.orders.submitted"
        (kept,) = hub.rejected.search(channel="topic:orderhub.orders.submitted")
        assert kept.reason == "dead_lettered"
        assert "orderhub.orders.submitted@41" in str(kept)  # where it came from
        assert "{not json" in str(kept)  # and its bytes, as they came
    finally:
        hub.close()


@pytest.mark.asyncio
async def test_a_dead_letter_too_large_for_the_dlq_is_listed_with_its_size_and_digest(
    tmp_path: Path,
) -> None:
    hub = embedded_hub(tmp_path, fixed_clock(NOW))
    try:
        value = b"{not json " + b"x" * 1_048_000
        await DeadLetterConsumer(hub.intake, hub.settings).handle([_parked_record(value, 7)])
        hub.deliver()
        (kept,) = hub.rejected.search(channel="topic:orderhub.orders.submitted")
        assert kept.details["raw_payload_bytes"] == len(value)
        assert kept.details["raw_payload_sha256"] == hashlib.sha256(value).hexdigest()
        assert kept.details["offset"] == "7"  # where the whole is
        assert len(kept.raw_payload) < RAW_KEPT + 100  # its first bytes, not all of them
    finally:
        hub.close()


@pytest.mark.asyncio
async def test_a_dead_letter_parked_a_second_time_is_listed_with_where_it_was_last(
    tmp_path: Path,
) -> None:
    # Sent back to its topic from the DLQ with its headers, then parked again: the headers
    # of its first parking come first and must not be taken for the second's.
    earlier = (
        ("dlq-original-topic", b"orderhub.orders.old"),
        ("dlq-original-offset", b"3"),
        ("dlq-original-bytes", b"not a number"),  # nor anything else the consumer trusts
    )
    hub = embedded_hub(tmp_path, fixed_clock(NOW))
    try:
        record = _parked_record(b"{still not json", 58, headers=earlier)
        await DeadLetterConsumer(hub.intake, hub.settings).handle([record])
        hub.deliver()
        (kept,) = hub.rejected.search(channel="topic:orderhub.orders.submitted")
        where = (kept.details["topic"], kept.details["offset"])
        assert where == ("orderhub.orders.submitted", "58")
        assert "raw_payload_bytes" not in kept.details
    finally:
        hub.close()


def test_exception_case_events_travel_with_their_order() -> None:
    routes = routes_for(Settings(kafka_bootstrap="127.0.0.1:9092", database_url="postgresql://x"))
    case = ExceptionCase(
        exception_id="late:o-1", kind="late", order_id="o-1", actor="system:jeopardy", at=NOW
    )
    case.flag(Band.HIGH, NOW.isoformat(), "system:jeopardy", NOW)
    for env in map(to_envelope, case.collect_events()):
        assert routes(env) == [("orderhub.orders.events", "o-1")]


def test_a_reroute_asks_the_sources_holding_shipments_to_withdraw_them() -> None:
    routes = routes_for(Settings(kafka_bootstrap="127.0.0.1:9092", database_url="postgresql://x"))
    order = placed_order()
    order.accept(actor="system:intake", now=NOW)
    order.collect_events()
    # A shipment at wh-lyon, requested through a routing decision.
    order._fulfillment_requested(
        shipment_id="S1",
        source_id="wh-lyon",
        lines=[{"line_id": "1", "sku": "RED-CHAIR", "quantity": 2}],
        ship_to={},
        delivery_method="standard",
        promised_by=None,
        actor="system:orchestrator",
        correlation_id="c",
        at=NOW,
    )
    order.collect_events()
    withdrawn = order.reroute("wh-paris", "closer to the customer", "user:alice", NOW)
    assert withdrawn == ["S1"]
    (env,) = map(to_envelope, order.collect_events())
    assert env.type == EventType.ORDER_REROUTE_REQUESTED
    assert env.actor.kind.value == "user"
    assert ("orderhub.fulfillment.requests", "wh-lyon") in routes(env)
    assert ("orderhub.orders.events", str(order.id)) in routes(env)
    assert env.time == NOW
