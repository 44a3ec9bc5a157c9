"""Claim checks: an event over the relay's bound goes out as its headers and a `ce_dataref`,
and the hub's consumers read it back from the event store, in its place among the batch's
events (connectors.claim_check, hub.streaming.feeds)."""

from collections.abc import Iterator, Sequence

import orjson
import pytest
from cloudevents.core.bindings import kafka as ce_kafka

from benchmarks.projection_events import record_history
from benchmarks.route_profile import NOW
from connectors.claim_check import DATAREF, Claimed, claim_bound
from connectors.codec import OutboundRecord, envelope_to_record, record_to_envelope
from connectors.consumed import ConsumedMessage
from connectors.publisher import RecordingPublisher
from hub.bootstrap import bootstrap
from hub.settings import Settings
from hub.store import OrderStore
from hub.stored_records import RecordReader
from hub.streaming.feeds import Decoded, Feed, FeedsConsumer, decode, resolve_claims
from hub.streaming.relay import route_for
from schemas.envelope import EventEnvelope
from schemas.event_types import UNPUBLISHED
from tests.unit.test_feeds_event_types import Recording

SETTINGS = Settings(kafka_bootstrap="127.0.0.1:9092", database_url="postgresql://x")
EVENTS = SETTINGS.topic("order_events")


@pytest.fixture(scope="module")
def store(tmp_path_factory: pytest.TempPathFactory) -> Iterator[OrderStore]:
    hub = bootstrap(Settings(data_dir=tmp_path_factory.mktemp("claims")), clock=lambda: NOW)
    record_history(hub, orders=12, sources=6, skus=40)
    yield hub.store
    hub.close()


def _published(store: OrderStore, claim_over: int | None) -> list[OutboundRecord]:
    reader = RecordReader(store, route_for(SETTINGS), UNPUBLISHED, claim_over=claim_over)
    return [r for _, records in reader.read_records(None, 10**6) for r in records]


def _bound(store: OrderStore) -> int:
    """A bound with events on both sides of it (the larger are the orders' Placed and Routed)."""
    sizes = sorted(len(r.value) for r in _published(store, None))
    return sizes[len(sizes) * 3 // 4]


def test_an_event_over_the_bound_goes_out_as_its_headers_and_a_reference(
    store: OrderStore,
) -> None:
    bound = _bound(store)
    whole, claims = _published(store, None), _published(store, bound)

    assert len(whole) == len(claims)
    over = 0
    for full, sent in zip(whole, claims, strict=True):
        if len(full.value) <= bound:
            assert sent == full
            continue
        over += 1
        headers = dict(full.headers)
        subject, sequence = headers["ce_subject"].decode(), int(headers["ce_sequence"])
        ref = f"/v1/events/{subject}/{sequence}".encode()
        assert (sent.topic, sent.key, sent.value) == (full.topic, full.key, b"")
        kept = tuple(h for h in full.headers if h[0] != "content-type")
        assert len(kept) == len(full.headers) - 1
        assert sent.headers == (*kept, (DATAREF, ref))
        with pytest.raises(Claimed) as claim:
            record_to_envelope(sent.key, sent.value, sent.headers)
        assert (claim.value.subject, claim.value.sequence) == (subject, sequence)
        # The store gives the event back: the data the whole record carried.
        envelope = store.event_at(subject, sequence)
        assert envelope is not None
        assert orjson.loads(envelope_to_record(full.topic, envelope).value) == orjson.loads(
            full.value
        )
    assert 0 < over < len(whole)


def test_the_hubs_relay_claims_only_what_its_record_limit_would_refuse() -> None:
    assert claim_bound(SETTINGS.kafka_max_record_bytes) > 16_000_000
    assert claim_bound(1_048_576) > 900_000


def test_a_record_with_a_dataref_and_its_data_is_an_ordinary_event(store: OrderStore) -> None:
    full = _published(store, None)[0]
    headers = (*full.headers, (DATAREF, b"/v1/events/elsewhere/1"))
    envelope = record_to_envelope(full.key, full.value, headers)
    assert envelope.data == orjson.loads(full.value)


def _messages(records: Sequence[OutboundRecord]) -> list[ConsumedMessage]:
    return [
        ConsumedMessage(r.topic, 0, offset, r.key, r.value, r.headers)
        for offset, r in enumerate(records)
        if r.topic == EVENTS
    ]


def _seen(follower: "Keeping") -> list[tuple[str, int, object]]:
    return [(e.subject, e.sequence, e.data) for e in follower.envelopes]


class Keeping(Recording):
    """Keeps the envelopes as well."""

    def __init__(self) -> None:
        super().__init__()
        self.envelopes: list[EventEnvelope] = []

    def apply(self, envelopes: Sequence[EventEnvelope], positions: dict[str, int]) -> None:
        super().apply(envelopes, positions)
        self.envelopes.extend(envelopes)


async def _consumed(
    messages: list[ConsumedMessage], resolve: object
) -> tuple[Keeping, RecordingPublisher]:
    follower, publisher = Keeping(), RecordingPublisher()
    feeds = [Feed("views", follower, frozenset({EVENTS}))]
    consumer = FeedsConsumer("role", feeds, publisher, SETTINGS, resolve)  # type: ignore[arg-type]
    await consumer.handle(messages)
    return follower, publisher


@pytest.mark.asyncio
async def test_the_consumer_reads_claimed_events_from_the_store_in_their_places(
    store: OrderStore,
) -> None:
    whole = _messages(_published(store, None))
    claims = _messages(_published(store, _bound(store)))
    claimed = [i for i, m in enumerate(claims) if not m.value]
    # Claims first, last and side by side in the batch.
    assert 0 < len(claimed) < len(claims)
    batch = [claims[i] for i in claimed[:2]] + claims + [claims[i] for i in claimed[-2:]]
    plain = [whole[i] for i in claimed[:2]] + whole + [whole[i] for i in claimed[-2:]]

    expected, _ = await _consumed(plain, None)
    got, publisher = await _consumed(batch, store.event_at)

    assert _seen(got) == _seen(expected)
    assert got.saved == expected.saved == {f"{EVENTS}:0": max(m.offset for m in claims)}
    assert publisher.records == []


@pytest.mark.asyncio
async def test_a_claim_no_store_can_resolve_is_parked_and_the_rest_applied(
    store: OrderStore,
) -> None:
    claims = _messages(_published(store, _bound(store)))
    claimed = [m for m in claims if not m.value]

    for resolve in (None, lambda subject, sequence: None):
        follower, publisher = await _consumed(claims, resolve)
        assert len(follower.envelopes) == len(claims) - len(claimed)
        parked = publisher.records
        assert [r.value for r in parked] == [b""] * len(claimed)
        reasons = [dict(r.headers)["dlq-error"].decode() for r in parked]
        assert all("claim check" in reason for reason in reasons), reasons


@pytest.mark.asyncio
async def test_a_store_out_for_a_moment_is_retried_and_places_each_event_once(
    store: OrderStore,
) -> None:
    claims = _messages(_published(store, _bound(store)))
    calls = []

    def flaky(subject: str, sequence: int) -> EventEnvelope | None:
        calls.append(sequence)
        if len(calls) == 2:  # after one claim was read
            raise ConnectionError("the store is restarting")
        return store.event_at(subject, sequence)

    expected, _ = await _consumed(claims, store.event_at)
    got, publisher = await _consumed(claims, flaky)
    assert _seen(got) == _seen(expected) and publisher.records == []


def test_the_store_gives_no_event_for_an_unknown_subject_or_sequence(store: OrderStore) -> None:
    assert store.event_at("not-a-uuid", 1) is None
    assert store.event_at("6f1c2d4e-0000-4000-8000-000000000000", 1) is None
    subject = dict(_published(store, None)[0].headers)["ce_subject"].decode()
    assert store.event_at(subject, 1) is not None
    assert store.event_at(subject, 10**6) is None


def test_the_cloudevents_sdk_reads_a_claim_as_an_event_with_its_dataref_and_no_data(
    store: OrderStore,
) -> None:
    bound = _bound(store)
    sent = next(r for r in _published(store, bound) if not r.value)
    message = ce_kafka.KafkaMessage(headers=dict(sent.headers), key=sent.key, value=sent.value)
    event = ce_kafka.from_binary_event(message)
    headers = dict(sent.headers)
    assert event.get_data() is None
    assert event.get_extension("dataref") == headers[DATAREF].decode()
    assert event.get_id() == headers["ce_id"].decode()
    assert event.get_subject() == headers["ce_subject"].decode()


def _keys(decoded: Decoded) -> list[tuple[str, int]]:
    return [(e.subject, e.sequence) for _, e in decoded.events]


def test_claims_read_again_after_an_outage_are_each_placed_once(store: OrderStore) -> None:
    decoded = decode(_messages(_published(store, _bound(store))))
    calls: list[int] = []

    def flaky(subject: str, sequence: int) -> EventEnvelope | None:
        calls.append(sequence)
        if len(calls) == 2:  # after one claim was read
            raise ConnectionError("the store is restarting")
        return store.event_at(subject, sequence)

    assert len(decoded.claims) > 2
    with pytest.raises(ConnectionError):
        resolve_claims(decoded, flaky)
    resolve_claims(decoded, flaky)
    assert _keys(decoded) == _keys(decode(_messages(_published(store, None))))


@pytest.mark.asyncio
async def test_a_claim_the_store_cannot_read_is_parked_not_retried_for_ever(
    store: OrderStore,
) -> None:
    claims = _messages(_published(store, _bound(store)))
    broken = next(m for m in claims if not m.value)
    headers = dict(broken.headers)
    subject, version = headers["ce_subject"].decode(), int(headers["ce_sequence"])

    def corrupt(at: str, sequence: int) -> EventEnvelope | None:
        if (at, sequence) == (subject, version):
            raise ValueError("the stored state does not decode")
        return store.event_at(at, sequence)

    follower, publisher = await _consumed(claims, corrupt)
    (parked,) = publisher.records
    assert dict(parked.headers)["dlq-original-offset"] == str(broken.offset).encode()
    assert "could not read it" in dict(parked.headers)["dlq-error"].decode()
    assert len(follower.envelopes) == len(claims) - 1
