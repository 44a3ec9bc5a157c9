"""The outbox relay: the event store's log to Kafka, in order, at least once, resumable."""

import asyncio
from collections.abc import Sequence

import pytest

from connectors.codec import OutboundRecord, record_to_envelope
from connectors.publisher import RecordingPublisher
from connectors.relay import STREAM, Relay
from hub.services.intake import IntakeService
from hub.store import OrderStore
from schemas.envelope import EventEnvelope
from tests.contracts.factories import NOW, fixed_clock, in_the_future, submit_order

TOPIC = "orderhub.orders.events"


class InMemoryPositions:
    """The relay's position store, in a dict; counts writes so tests can see when it moved."""

    def __init__(self, start: int | None = None) -> None:
        self.saved: dict[str, int] = {} if start is None else {STREAM: start}
        self.writes = 0

    def get(self, stream: str) -> int | None:
        return self.saved.get(stream)

    def set(self, stream: str, position: int) -> None:
        self.saved[stream] = position
        self.writes += 1


class BrokerDownPublisher:
    """A publisher whose broker never acknowledges."""

    def __init__(self) -> None:
        self.attempts = 0

    async def publish(self, records: Sequence[OutboundRecord]) -> None:
        self.attempts += 1
        raise ConnectionError("broker unreachable")


class FlakyPublisher(RecordingPublisher):
    """Fails the first `failures` calls, then records like RecordingPublisher."""

    def __init__(self, failures: int) -> None:
        super().__init__()
        self.failures = failures

    async def publish(self, records: Sequence[OutboundRecord]) -> None:
        if self.failures:
            self.failures -= 1
            raise ConnectionError("broker unreachable")
        await super().publish(records)


@pytest.fixture
def placed(store: OrderStore) -> list[EventEnvelope]:
    """Three orders recorded (two accepted, one rejected): six events in the log."""
    IntakeService(store, fixed_clock(NOW)).place_orders(
        [
            submit_order(external_id="WEB-1"),
            submit_order(external_id="WEB-2", placed_at=in_the_future(NOW)),
            submit_order(external_id="WEB-3"),
        ]
    )
    return [env for _, env in store.read_envelopes(None, 100)]


def _relay(
    store: OrderStore,
    publisher: object,
    positions: InMemoryPositions,
    batch_size: int = 500,
    poll_seconds: float = 0.001,
    save_every: float = 0.0,
) -> Relay:
    return Relay(
        source=store,
        publisher=publisher,  # type: ignore[arg-type]
        positions=positions,
        routes_for=lambda env: [(TOPIC, env.subject)],
        batch_size=batch_size,
        poll_seconds=poll_seconds,
        save_every=save_every,
    )


def _ids(records: Sequence[OutboundRecord]) -> list[str]:
    return [record_to_envelope(r.key, r.value, r.headers).id for r in records]


@pytest.mark.asyncio
async def test_publishes_every_event_in_log_order_keyed_by_order(
    store: OrderStore, placed: list[EventEnvelope]
) -> None:
    publisher, positions = RecordingPublisher(), InMemoryPositions()

    sent = await _relay(store, publisher, positions).publish_next_batch()

    assert sent == 6
    assert _ids(publisher.records) == [env.id for env in placed]
    assert [r.key for r in publisher.records] == [env.subject.encode() for env in placed]
    assert {r.topic for r in publisher.records} == {TOPIC}
    assert positions.saved == {STREAM: store.max_position()}


@pytest.mark.asyncio
async def test_sends_each_event_to_every_route_chosen_for_it_with_that_routes_key(
    store: OrderStore, placed: list[EventEnvelope]
) -> None:
    publisher = RecordingPublisher()

    def routes(env: EventEnvelope) -> list[tuple[str, str]]:
        extra = [("orderhub.rejections", "web-shop")] if env.type.endswith(".rejected") else []
        return [(TOPIC, env.subject), *extra]

    relay = Relay(
        source=store, publisher=publisher, positions=InMemoryPositions(), routes_for=routes
    )

    await relay.publish_next_batch()

    assert [r.topic for r in publisher.records].count(TOPIC) == 6
    (rejection,) = [r for r in publisher.records if r.topic == "orderhub.rejections"]
    assert rejection.key == b"web-shop"
    assert dict(rejection.headers)["ce_type"] == b"orderhub.order.rejected"
    assert relay.published == 6


@pytest.mark.asyncio
async def test_publishes_in_batches_and_saves_the_position_after_each(
    store: OrderStore, placed: list[EventEnvelope]
) -> None:
    publisher, positions = RecordingPublisher(), InMemoryPositions()
    relay = _relay(store, publisher, positions, batch_size=4)

    assert await relay.publish_next_batch() == 4
    assert positions.saved[STREAM] == 4
    assert await relay.publish_next_batch() == 2
    assert await relay.publish_next_batch() == 0

    assert _ids(publisher.records) == [env.id for env in placed]
    assert positions.writes == 2
    assert relay.published == 6


@pytest.mark.asyncio
async def test_resumes_after_the_saved_position(
    store: OrderStore, placed: list[EventEnvelope]
) -> None:
    positions = InMemoryPositions()
    await _relay(store, RecordingPublisher(), positions, batch_size=4).publish_next_batch()
    restarted = RecordingPublisher()

    await _relay(store, restarted, positions).publish_next_batch()

    assert _ids(restarted.records) == [env.id for env in placed[4:]]


@pytest.mark.asyncio
async def test_picks_up_events_recorded_after_it_caught_up(
    store: OrderStore, placed: list[EventEnvelope]
) -> None:
    publisher = RecordingPublisher()
    relay = _relay(store, publisher, InMemoryPositions())
    await relay.publish_next_batch()

    IntakeService(store, fixed_clock(NOW)).place_order(submit_order(external_id="WEB-4"))
    sent = await relay.publish_next_batch()

    assert sent == 2
    assert len({r.key for r in publisher.records[-2:]}) == 1


@pytest.mark.asyncio
async def test_a_publisher_that_fails_does_not_advance_the_position(
    store: OrderStore, placed: list[EventEnvelope]
) -> None:
    positions = InMemoryPositions(start=2)
    relay = _relay(store, BrokerDownPublisher(), positions)

    with pytest.raises(ConnectionError):
        await relay.publish_next_batch()

    assert positions.saved == {STREAM: 2}
    assert positions.writes == 0
    assert relay.published == 0


@pytest.mark.asyncio
async def test_after_a_failure_the_same_events_are_published_again(
    store: OrderStore, placed: list[EventEnvelope]
) -> None:
    positions = InMemoryPositions(start=2)
    with pytest.raises(ConnectionError):
        await _relay(store, BrokerDownPublisher(), positions).publish_next_batch()
    recovered = RecordingPublisher()

    await _relay(store, recovered, positions).publish_next_batch()

    assert _ids(recovered.records) == [env.id for env in placed[2:]]
    assert positions.saved == {STREAM: 6}


@pytest.mark.asyncio
async def test_run_retries_a_failed_batch_and_stops_when_told(
    store: OrderStore, placed: list[EventEnvelope]
) -> None:
    publisher, positions = FlakyPublisher(failures=2), InMemoryPositions()
    relay = _relay(store, publisher, positions, batch_size=4)
    stop = asyncio.Event()

    async def stop_once_all_published() -> None:
        while positions.saved.get(STREAM) != store.max_position():
            await asyncio.sleep(0)
        stop.set()

    await asyncio.wait_for(asyncio.gather(relay.run(stop), stop_once_all_published()), timeout=10)

    assert _ids(publisher.records) == [env.id for env in placed]
    assert publisher.failures == 0


class OneUnencodable:
    """The store's log, with the data of its `bad`-th event made unencodable (a value orjson
    refuses), as a corrupt or future event would be."""

    def __init__(self, store: OrderStore, bad: int) -> None:
        self._store = store
        self._bad = bad

    def read_envelopes(self, after: int | None, limit: int) -> list[tuple[int, EventEnvelope]]:
        found = self._store.read_envelopes(after, limit)
        return [
            (n, env.model_copy(update={"data": {"x": object()}}) if n == self._bad else env)
            for n, env in found
        ]


@pytest.mark.asyncio
async def test_an_event_it_cannot_encode_holds_its_batch_back_and_is_never_skipped(
    store: OrderStore, placed: list[EventEnvelope]
) -> None:
    publisher, positions = RecordingPublisher(), InMemoryPositions()
    relay = Relay(
        source=OneUnencodable(store, bad=5),
        publisher=publisher,
        positions=positions,
        routes_for=lambda env: [(TOPIC, env.subject)],
        batch_size=4,
        poll_seconds=0.001,
    )
    assert await relay.publish_next_batch() == 4  # the batch before it goes out

    with pytest.raises(TypeError):
        await relay.publish_next_batch()
    assert len(publisher.records) == 4, "nothing of the batch holding it is published"
    assert positions.saved == {STREAM: 4}

    stop = asyncio.Event()
    running = asyncio.create_task(relay.run(stop))
    await asyncio.sleep(0.3)  # retried with backoff, never past it
    stop.set()
    await asyncio.wait_for(running, timeout=10)
    assert len(publisher.records) == 4
    assert positions.saved == {STREAM: 4}


class SlowAcks(RecordingPublisher):
    """Acknowledges each call after the test lets it; notes what the log had been asked for
    by then, and fails the calls numbered in `fail`."""

    def __init__(self, reads: list[int | None], fail: set[int]) -> None:
        super().__init__()
        self.reads = reads
        self.fail = fail
        self.calls = 0
        self.reads_when_acked: list[list[int | None]] = []

    async def publish(self, records: Sequence[OutboundRecord]) -> None:
        self.calls += 1
        await asyncio.sleep(0.05)  # the broker's round trip: the next read goes on meanwhile
        self.reads_when_acked.append(list(self.reads))
        if self.calls in self.fail:
            raise ConnectionError("broker unreachable")
        await super().publish(records)


class CountedReads:
    def __init__(self, store: OrderStore, reads: list[int | None]) -> None:
        self._store = store
        self.reads = reads

    def read_envelopes(self, after: int | None, limit: int) -> list[tuple[int, EventEnvelope]]:
        self.reads.append(after)
        return self._store.read_envelopes(after, limit)


@pytest.mark.asyncio
async def test_a_backlog_is_read_ahead_but_published_in_order_after_each_acknowledgement(
    store: OrderStore, placed: list[EventEnvelope]
) -> None:
    reads: list[int | None] = []
    publisher, positions = SlowAcks(reads, fail={2}), InMemoryPositions()
    relay = Relay(
        source=CountedReads(store, reads),
        publisher=publisher,
        positions=positions,
        routes_for=lambda env: [(TOPIC, env.subject)],
        batch_size=2,
        poll_seconds=0.001,
    )
    assert await relay.publish_next_batch() == 2
    assert publisher.reads_when_acked[0] == [None, 2], "the next batch read during the ack"
    assert positions.saved == {STREAM: 2}

    with pytest.raises(ConnectionError):  # the second batch fails: its read-ahead is dropped
        await relay.publish_next_batch()
    assert positions.saved == {STREAM: 2}

    stop = asyncio.Event()

    async def stop_once_all_published() -> None:
        while positions.saved.get(STREAM) != store.max_position():
            await asyncio.sleep(0.01)
        stop.set()

    await asyncio.wait_for(asyncio.gather(relay.run(stop), stop_once_all_published()), timeout=10)
    assert _ids(publisher.records) == [env.id for env in placed], "each once, in log order"
    assert reads[3] == 2, "after the failure, read again from the saved position"


@pytest.mark.asyncio
async def test_with_save_every_the_position_is_saved_once_for_several_batches_and_on_stop(
    store: OrderStore, placed: list[EventEnvelope]
) -> None:
    publisher, positions = RecordingPublisher(), InMemoryPositions()
    relay = _relay(store, publisher, positions, batch_size=2, poll_seconds=0.001, save_every=60.0)

    for _ in range(3):
        assert await relay.publish_next_batch() == 2
    # All six acknowledged; not due yet: nothing saved (a crash would publish them again).
    assert len(publisher.records) == 6
    assert positions.writes == 0

    stop = asyncio.Event()
    stop.set()
    await relay.run(stop)  # a stop saves what was acknowledged, once
    assert positions.saved == {STREAM: store.max_position()}
    assert positions.writes == 1


@pytest.mark.asyncio
async def test_an_unsaved_position_is_saved_when_due_while_idle(
    store: OrderStore, placed: list[EventEnvelope]
) -> None:
    stop, positions = asyncio.Event(), InMemoryPositions()
    # Idle far longer (poll_seconds) than the save is due.
    relay = _relay(store, RecordingPublisher(), positions, poll_seconds=5.0, save_every=0.05)
    running = asyncio.create_task(relay.run(stop))
    try:
        async with asyncio.timeout(2):
            while positions.saved.get(STREAM) != store.max_position():
                await asyncio.sleep(0.01)
        assert positions.writes == 1
    finally:
        stop.set()
        await running


@pytest.mark.asyncio
async def test_a_failed_batch_after_unsaved_ones_publishes_them_again_from_the_saved_position(
    store: OrderStore, placed: list[EventEnvelope]
) -> None:
    publisher, positions = FlakyPublisher(failures=0), InMemoryPositions()
    relay = _relay(store, publisher, positions, batch_size=2, poll_seconds=0.001, save_every=60.0)
    assert await relay.publish_next_batch() == 2
    publisher.failures = 1
    stop = asyncio.Event()

    async def stop_once_all_published() -> None:
        while positions.saved.get(STREAM) != store.max_position():
            await asyncio.sleep(0)
            if len(publisher.records) >= 8:
                stop.set()

    await asyncio.wait_for(asyncio.gather(relay.run(stop), stop_once_all_published()), timeout=10)
    # At least once: the first batch, acknowledged but never saved, went again after the
    # failure; every event in order after it, and the position saved at the end.
    ids = _ids(publisher.records)
    assert ids[:2] == ids[2:4] == [env.id for env in placed[:2]]
    assert ids[2:] == [env.id for env in placed]
    assert positions.saved == {STREAM: store.max_position()}
