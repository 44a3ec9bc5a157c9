"""The relay woken by the store's notices: it reads on a notice, reads anyway after its fallback
interval (a lost notice delays events, never drops them), and polls while not listening."""

import asyncio
from collections.abc import Callable

import pytest

from connectors.publisher import RecordingPublisher
from connectors.relay import Relay, ShortRead
from hub.services.intake import IntakeService
from hub.store import OrderStore
from tests.contracts.factories import NOW, fixed_clock, submit_order
from tests.unit.test_relay import TOPIC, InMemoryPositions


class Notices:
    def __init__(self, listening: bool = True) -> None:
        self.woken = asyncio.Event()
        self.listening = listening


class CountingStore:
    """The store, counting the relay's reads of its log."""

    def __init__(self, store: OrderStore) -> None:
        self.store = store
        self.reads = 0

    def read_envelopes(self, after: int | None, limit: int):  # type: ignore[no-untyped-def]
        self.reads += 1
        return self.store.read_envelopes(after, limit)


def _place(store: OrderStore, external_id: str) -> None:
    IntakeService(store, fixed_clock(NOW)).place_orders([submit_order(external_id=external_id)])


def _relay(
    source: CountingStore, publisher: RecordingPublisher, notices: Notices, fallback: float
) -> Relay:
    return Relay(
        source=source,
        publisher=publisher,
        positions=InMemoryPositions(),
        routes_for=lambda env: [(TOPIC, env.subject)],
        poll_seconds=0.01,
        wakeups=notices,
        fallback_seconds=fallback,
    )


async def until(check: Callable[[], bool], seconds: float = 5.0) -> None:
    for _ in range(int(seconds / 0.01)):
        if check():
            return
        await asyncio.sleep(0.01)
    raise AssertionError("not within the time allowed")


@pytest.mark.asyncio
async def test_an_idle_relay_waits_for_a_notice_and_then_publishes(store: OrderStore) -> None:
    source, publisher, notices = CountingStore(store), RecordingPublisher(), Notices()
    stop = asyncio.Event()
    running = asyncio.create_task(_relay(source, publisher, notices, 60.0).run(stop))
    await until(lambda: source.reads == 1)
    await asyncio.sleep(0.3)
    assert source.reads == 1  # polling every 10 ms would have read 30 times

    _place(store, "WEB-1")
    notices.woken.set()
    await until(lambda: len(publisher.records) == 2)  # placed, accepted
    await asyncio.sleep(0.2)
    # One read for the notice: another after a short one, with no notice since, would have
    # come back empty.
    assert source.reads == 2
    stop.set()
    await asyncio.wait_for(running, 2)


@pytest.mark.asyncio
async def test_events_committed_without_a_notice_go_out_after_the_fallback(
    store: OrderStore,
) -> None:
    source, publisher, notices = CountingStore(store), RecordingPublisher(), Notices()
    stop = asyncio.Event()
    running = asyncio.create_task(_relay(source, publisher, notices, 0.2).run(stop))
    await until(lambda: source.reads == 1)

    _place(store, "WEB-1")  # the notice is lost
    await until(lambda: len(publisher.records) == 2, seconds=1.0)
    stop.set()
    await asyncio.wait_for(running, 2)


@pytest.mark.asyncio
async def test_a_notice_during_a_read_is_not_lost(store: OrderStore) -> None:
    notices = Notices()

    class NoticeMidRead(CountingStore):
        def read_envelopes(self, after: int | None, limit: int):  # type: ignore[no-untyped-def]
            found = super().read_envelopes(after, limit)
            if self.reads == 1:  # committed after the read, notified before the relay waits
                _place(self.store, "WEB-2")
                notices.woken.set()
            return found

    source, publisher = NoticeMidRead(store), RecordingPublisher()
    stop = asyncio.Event()
    running = asyncio.create_task(_relay(source, publisher, notices, 60.0).run(stop))
    await until(lambda: len(publisher.records) == 2)
    stop.set()
    await asyncio.wait_for(running, 2)


@pytest.mark.asyncio
async def test_not_listening_it_polls(store: OrderStore) -> None:
    source, publisher = CountingStore(store), RecordingPublisher()
    stop = asyncio.Event()
    running = asyncio.create_task(
        _relay(source, publisher, Notices(listening=False), 60.0).run(stop)
    )
    await asyncio.sleep(0.3)
    _place(store, "WEB-1")
    await until(lambda: len(publisher.records) == 2, seconds=1.0)
    stop.set()
    await asyncio.wait_for(running, 2)
    assert source.reads >= 10


@pytest.mark.asyncio
async def test_a_stop_ends_an_idle_relay_at_once(store: OrderStore) -> None:
    source, stop = CountingStore(store), asyncio.Event()
    running = asyncio.create_task(_relay(source, RecordingPublisher(), Notices(), 60.0).run(stop))
    await until(lambda: source.reads == 1)
    stop.set()
    await asyncio.wait_for(running, 0.5)


@pytest.mark.asyncio
async def test_events_notified_while_a_batch_is_published_go_out_without_waiting(
    store: OrderStore,
) -> None:
    notices = Notices()

    class CommitDuringPublish(RecordingPublisher):
        async def publish(self, records):  # type: ignore[no-untyped-def]
            await super().publish(records)
            if len(self.records) == 2:  # committed and notified before the acknowledgement
                _place(store, "WEB-2")
                notices.woken.set()

    source, publisher = CountingStore(store), CommitDuringPublish()
    stop = asyncio.Event()
    running = asyncio.create_task(_relay(source, publisher, notices, 60.0).run(stop))
    await until(lambda: source.reads == 1)
    _place(store, "WEB-1")
    notices.woken.set()
    await until(lambda: len(publisher.records) == 4, seconds=1.0)
    stop.set()
    await asyncio.wait_for(running, 2)


class ShortReadingStore(CountingStore):
    """Reads of one event at a time, each cut short as a reader bounded by bytes cuts them."""

    def read_envelopes(self, after: int | None, limit: int):  # type: ignore[no-untyped-def]
        self.reads += 1
        found = self.store.read_envelopes(after, 1)
        return ShortRead(found) if found else found


@pytest.mark.asyncio
async def test_a_read_cut_short_by_its_bytes_is_followed_at_once_not_after_a_notice(
    store: OrderStore,
) -> None:
    for n in range(3):
        _place(store, f"WEB-{n}")
    source, publisher, notices = ShortReadingStore(store), RecordingPublisher(), Notices()
    stop = asyncio.Event()
    running = asyncio.create_task(_relay(source, publisher, notices, 60.0).run(stop))
    # Six events, one a read: a short read taken for the log's end waits 60 s for a notice.
    await until(lambda: len(publisher.records) == 6, seconds=3.0)
    stop.set()
    await running
