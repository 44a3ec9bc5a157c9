"""The event contract's identity: what the README tells a consumer to deduplicate by holds for
every event on a topic, including an order's exception cases, which travel under the order's
key with their own sequence."""

from collections.abc import Iterator
from contextlib import closing
from pathlib import Path
from typing import Any

import pytest

from connectors.codec import OutboundRecord, envelope_to_record
from hub.bootstrap import Hub
from hub.streaming.relay import routes_for
from projections.exceptions import ExceptionQuery
from schemas.event_types import EventType
from tests.contracts.factories import NOW, submit_order
from tests.contracts.order_search_contract import LYON
from tests.support.running_hub import Clock, embedded_hub, stock_up

README = Path(__file__).resolve().parents[3] / "README.md"
# The rule as the README states it (the test below checks the README says exactly this).
DOCUMENTED_KEY = ("ce_source", "ce_subject", "ce_sequence")


@pytest.fixture
def hub(tmp_path: Path) -> Iterator[Hub]:
    with closing(embedded_hub(tmp_path, Clock(NOW))) as the_hub:
        stock_up(the_hub, {"wh-lyon": (45.75, 4.85, {"RED-CHAIR": 50})})
        yield the_hub


def order_topic_records(hub: Hub) -> list[OutboundRecord]:
    """An order held for payment, its exception assigned, then released: every record the
    relay puts on the order events topic, in the order it puts them there."""
    command = submit_order(
        external_id="WEB-77", correlation_id="WEB-77", ship_to=LYON, payment_state="pending"
    )
    hub.intake.place_orders([command])
    hub.deliver()
    (held,) = hub.exceptions.queue(ExceptionQuery()).rows
    hub.ops.assign_exception(held.exception_id, "bob", "user:carol")
    hub.ops.release_hold(command.order_id, "paid by phone", "user:carol")
    hub.deliver()
    routes = routes_for(hub.settings)
    orders_topic = hub.settings.topic("order_events")
    return [
        envelope_to_record(topic, env, key)
        for _, env in hub.store.read_envelopes(None, 10_000)
        for topic, key in routes(env)
        if topic == orders_topic
    ]


def at_least_once(records: list[OutboundRecord]) -> list[OutboundRecord]:
    """What a consumer may see: everything, then a redelivery of the second half, then all again."""
    return records + records[len(records) // 2 :] + records


class ConsumerFromTheDocs:
    """A downstream consumer written from the README alone: headers only, no hub code."""

    def __init__(self, key_headers: tuple[str, ...]) -> None:
        self._key_headers = key_headers
        self._seen: set[tuple[bytes, ...]] = set()
        self.kept: list[OutboundRecord] = []

    def consume(self, record: OutboundRecord) -> None:
        headers = dict(record.headers)
        key = tuple(record.key if h == "key" else headers[h] for h in self._key_headers)
        if key not in self._seen:
            self._seen.add(key)
            self.kept.append(record)


def types(records: list[OutboundRecord]) -> list[str]:
    return [dict(r.headers)["ce_type"].decode() for r in records]


def test_exception_cases_share_the_orders_key_but_count_their_own_sequence(hub: Hub) -> None:
    records = order_topic_records(hub)
    keys = {r.key for r in records}
    assert len(keys) == 1, "an order's exception cases travel in its partition, under its key"
    sequences: dict[Any, list[int]] = {}
    for r in records:
        h = dict(r.headers)
        sequences.setdefault((h["ce_source"], h["ce_subject"]), []).append(int(h["ce_sequence"]))
    assert len(sequences) == 2  # the order and its exception case
    for seq in sequences.values():
        assert seq == list(range(1, len(seq) + 1))


def test_a_consumer_that_follows_the_readme_keeps_every_event_once(hub: Hub) -> None:
    records = order_topic_records(hub)
    consumer = ConsumerFromTheDocs(DOCUMENTED_KEY)
    for record in at_least_once(records):
        consumer.consume(record)
    assert consumer.kept == records
    assert EventType.EXCEPTION_CASE_OPENED in types(consumer.kept)
    assert EventType.EXCEPTION_CASE_ASSIGNED in types(consumer.kept)


def test_the_event_id_is_the_same_identity(hub: Hub) -> None:
    records = order_topic_records(hub)
    by_id = ConsumerFromTheDocs(("ce_id",))
    for record in at_least_once(records):
        by_id.consume(record)
    assert by_id.kept == records


def test_the_old_rule_key_and_sequence_would_drop_the_exception_events(hub: Hub) -> None:
    """Why the contract says subject, not key: this is what the README used to tell people."""
    records = order_topic_records(hub)
    old = ConsumerFromTheDocs(("key", "ce_sequence"))
    for record in records:
        old.consume(record)
    assert EventType.EXCEPTION_CASE_OPENED not in types(old.kept)


def test_the_envelope_names_the_same_key_as_the_headers(hub: Hub) -> None:
    order_topic_records(hub)
    for _, env in hub.store.read_envelopes(None, 10_000):
        record = envelope_to_record("t", env)
        h = dict(record.headers)
        assert env.dedup_key == (
            h["ce_source"].decode(),
            h["ce_subject"].decode(),
            int(h["ce_sequence"]),
        )


def test_the_readme_states_the_key_the_tests_use() -> None:
    text = " ".join(README.read_text().split())
    assert "deduplicate by `ce_source`, `ce_subject` and `ce_sequence`" in text
    assert "order id and version" not in text


class RecordingFollower:
    """A follower that records what it was given."""

    def __init__(self) -> None:
        self.applied: list[tuple[str, str, int]] = []

    def apply(self, envelopes: Any, positions: dict[str, int]) -> None:
        self.applied += [env.dedup_key for env in envelopes]

    def positions(self) -> dict[str, int]:
        return {}


def test_the_hubs_own_consumer_applies_a_republished_event_once(hub: Hub, tmp_path: Path) -> None:
    import asyncio

    from connectors.consumed import ConsumedMessage
    from connectors.publisher import RecordingPublisher
    from hub.streaming.feeds import Feed, FeedsConsumer

    records = order_topic_records(hub)
    redelivered = at_least_once(records)
    messages = [
        ConsumedMessage(r.topic, 0, offset, r.key, r.value, r.headers)
        for offset, r in enumerate(redelivered)
    ]
    follower = RecordingFollower()
    feed = Feed("recording", follower, frozenset(r.topic for r in records))
    consumer = FeedsConsumer("recording", [feed], RecordingPublisher(), hub.settings)
    asyncio.run(consumer.handle(messages))
    assert len(follower.applied) == len(records) == len(set(follower.applied))
