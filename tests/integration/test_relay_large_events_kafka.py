"""Events larger than the broker's default record batch (~1 MB) against the relay.

Input the hub accepts can make one (measured on the embedded hub, 2026-12-06): a `Placed` of a
body padded to 600,000 bytes with newlines, 1.2 MB as published (the raw body is stored verbatim,
each newline escaped in two bytes, beside the submission); a `Routed` listing 30 holders of each
of 500 SKUs, 1.1 MB; a rejected submission holding a 10 MB CSV, 10 MB. The hub creates its
topics taking records up to `kafka_max_record_bytes` (16 MiB) and its producers send them.

An event over that setting went out whole before, was refused (MessageSizeTooLargeError), and
the relay, reading again from its saved position, stalled on it with every event after it. It
now goes out as a claim check (connectors.claim_check): its headers and a `ce_dataref`, read
back from the event store by the hub's consumers."""

import asyncio
import logging
from pathlib import Path

import orjson
import pytest

from connectors.claim_check import DATAREF
from connectors.consumed import ConsumedMessage
from connectors.publisher import RecordingPublisher
from connectors.topics import ensure_topics
from hub.bootstrap import bootstrap
from hub.services.intake import SubmitOrder
from hub.settings import Settings
from hub.store import OrderStore
from hub.streaming.feeds import Feed, FeedsConsumer
from hub.streaming.kafka_parts import KafkaParts
from hub.streaming.relay import build_relay
from schemas.event_types import EventType
from tests.integration.test_relay_kafka import _commands, _settings
from tests.support.kafka import read_topic
from tests.unit.test_claim_check import Keeping

pytestmark = [pytest.mark.kafka, pytest.mark.postgres]


def _order(n: int, padding: int = 0) -> SubmitOrder:
    """The relay test's order, its body as received padded: JSON allows white space anywhere,
    the API takes bodies up to 1,000,000 bytes, and `Placed` keeps the body verbatim, each
    newline escaped in two bytes."""
    plain = _commands(1, start=n)[0]
    raw = plain.raw_payload[:-1] + "\n" * padding + "}"
    return SubmitOrder(plain.submission, raw, plain.actor, plain.correlation_id)


async def _relay_all(
    settings: Settings,
    made_before: dict[str, str] | None = None,
    paddings: tuple[int, ...] = (0, 600_000, 0),
) -> tuple[int | None, int, list[ConsumedMessage]]:
    """Three orders, the middle one's `Placed` 1.2 MB, relayed by the hub's relay on the hub's
    own topics (`made_before`: made by an earlier release or someone else, with these
    configs), as `orderhub relay` runs it: (the relay's saved position, the store's last, the
    records read back)."""
    kafka = KafkaParts(settings)
    if made_before is not None:
        topics = {t: settings.topic_partitions for t in settings.all_topics()}
        await ensure_topics(kafka.bootstrap, topics, configs=made_before or None)
    await kafka.ensure_topics(wait=False)
    hub = bootstrap(settings)
    try:
        hub.intake.place_orders([_order(n, padding=p) for n, p in enumerate(paddings, 1)])
        limit = await kafka.record_limit()
        publisher = kafka.publisher("relay", whole_batches=True, record_limit=limit)
        await publisher.start()
        try:
            relay = build_relay(hub, publisher, record_limit=limit)
            for _ in range(3):  # as `Relay.run` does after a failure: again from its position
                try:
                    while await relay.publish_next_batch():
                        pass
                    break
                except Exception:  # the broker's MessageSizeTooLargeError
                    await asyncio.sleep(0.1)
            await relay.save_position()
        finally:
            await publisher.stop()
        saved, last = hub.relay_positions().get("notification_log"), hub.store.max_position()
    finally:
        hub.close()
    if saved != last:
        return saved, last, []
    topic = settings.topic("order_events")
    records = await read_topic(settings.kafka_bootstrap or "", topic, until=lambda rs: len(rs) >= 6)
    read = [
        ConsumedMessage(topic, r.partition, r.offset, r.key, r.value or b"", tuple(r.headers))
        for r in records
    ]
    return saved, last, read


@pytest.mark.asyncio
async def test_an_event_over_one_megabyte_is_published_with_the_events_after_it(
    database_url: str, kafka_bootstrap: str, kafka_topic_prefix: str, tmp_path: Path
) -> None:
    settings = _settings(database_url, kafka_bootstrap, kafka_topic_prefix, tmp_path)
    saved, last, read = await _relay_all(settings)
    assert saved == last == 6
    sizes = sorted(len(r.value) for r in read)
    assert len(sizes) == 6 and sizes[-1] > 1_200_000, "the big `Placed` read back whole"
    assert not any(DATAREF in dict(r.headers) for r in read)


@pytest.mark.asyncio
async def test_an_event_over_the_record_limit_goes_out_as_a_claim_the_consumer_reads_whole(
    database_url: str, kafka_bootstrap: str, kafka_topic_prefix: str, tmp_path: Path
) -> None:
    settings = _settings(database_url, kafka_bootstrap, kafka_topic_prefix, tmp_path)
    # The smallest limit the setting allows: the 1.2 MB event is over it.
    small = settings.model_copy(update={"kafka_max_record_bytes": 1_048_576})
    saved, last, read = await _relay_all(small)
    assert saved == last == 6

    claims = [r for r in read if DATAREF in dict(r.headers)]
    assert len(claims) == 1 and claims[0].value == b""
    follower, parked = Keeping(), RecordingPublisher()
    feeds = [Feed("views", follower, frozenset({claims[0].topic}))]
    store = OrderStore(env=small.eventsourcing_env())
    try:
        consumer = FeedsConsumer("views", feeds, parked, small, store.event_at)
        await consumer.handle(sorted(read, key=lambda r: (r.partition, r.offset)))
    finally:
        store.close()
    placed = [e for e in follower.envelopes if e.type == EventType.ORDER_PLACED]
    assert len(follower.envelopes) == 6 and len(placed) == 3 and parked.records == []
    assert max(len(orjson.dumps(e.data)) for e in placed) > 1_100_000


@pytest.mark.asyncio
async def test_on_topics_made_before_with_a_smaller_limit_the_relay_claims_what_they_refuse(
    database_url: str,
    kafka_bootstrap: str,
    kafka_topic_prefix: str,
    tmp_path: Path,
    caplog: pytest.LogCaptureFixture,
) -> None:
    """The hub does not alter a topic that exists: one made with the broker's default
    (~1 MB) keeps it, and the relay, which asks the broker its topics' limits when it starts,
    publishes the 1.2 MB event as a claim instead of being refused for ever."""
    settings = _settings(database_url, kafka_bootstrap, kafka_topic_prefix, tmp_path)
    with caplog.at_level(logging.WARNING, logger="hub.streaming.kafka_parts"):
        saved, last, read = await _relay_all(settings, made_before={})
    assert saved == last == 6
    claims = [r for r in read if DATAREF in dict(r.headers)]
    assert len(claims) == 1 and claims[0].value == b""
    warned = [r.getMessage() for r in caplog.records if "max.message.bytes" in r.getMessage()]
    assert any(settings.topic("order_events") in message for message in warned)


@pytest.mark.asyncio
async def test_on_topics_made_with_less_than_a_megabyte_the_relays_batches_fit_them(
    database_url: str, kafka_bootstrap: str, kafka_topic_prefix: str, tmp_path: Path
) -> None:
    """A topic's limit holds for each record batch: with topics made at 512 KiB, three
    300 kB `Placed` events of one partition, each published whole (under the claim bound),
    go out in batches that fit, not in one of ~900 kB refused for ever."""
    settings = _settings(database_url, kafka_bootstrap, kafka_topic_prefix, tmp_path)
    one_partition = settings.model_copy(update={"topic_partitions": 1})
    saved, last, read = await _relay_all(
        one_partition,
        made_before={"max.message.bytes": str(512 * 1024)},
        paddings=(150_000, 150_000, 150_000),
    )
    assert saved == last == 6
    sizes = sorted(len(r.value) for r in read)
    assert not any(DATAREF in dict(r.headers) for r in read)
    assert sizes[-3] > 300_000, "the three Placed whole"
