"""The relay handing a backlog's next batch to the publisher before the broker acknowledged the
one before (`Relay(ahead=...)` with a publisher that `enqueue`s): the position moves only over
acknowledged batches, in order; a refused batch resets the producer and the log is published
again from the saved position; a crash between the broker's acknowledgement and the saved
position publishes again, and nothing is lost or put before an earlier event of its key."""

import asyncio
from collections import defaultdict
from collections.abc import Sequence
from dataclasses import dataclass
from typing import Any

import pytest

from connectors.codec import OutboundRecord, envelope_to_record, record_to_envelope
from connectors.relay import STREAM, Relay
from hub.services.intake import IntakeService
from hub.settings import Settings
from hub.store import OrderStore
from hub.streaming.relay import build_relay
from schemas.envelope import EventEnvelope
from tests.contracts.factories import NOW, fixed_clock, submit_order
from tests.unit.test_relay import InMemoryPositions

TOPIC = "orderhub.orders.events"


class Broker:
    """A pipelined publisher over a broker's log, with the idempotent producer's rule: a batch
    the broker refuses is not appended, nor is any batch the same producer handed after it
    (out of sequence), until `reset` gives a new producer. Acknowledgements come a moment
    after each batch is handed, so that the relay can hand the next one meanwhile."""

    def __init__(self, refuse: set[int] | None = None) -> None:
        self.log: list[OutboundRecord] = []
        self.refuse = refuse or set()  # the handed batches (numbered from 1) refused
        self.handed = 0
        self.unacknowledged = 0
        self.most_unacknowledged = 0
        self.resets = 0
        self._out_of_sequence = False

    async def enqueue(self, records: Sequence[OutboundRecord]) -> "asyncio.Future[Any]":
        self.handed += 1
        refused = self._out_of_sequence or self.handed in self.refuse
        self._out_of_sequence = refused
        if not refused:
            self.log.extend(records)
        acknowledged = asyncio.get_running_loop().create_future()
        self.unacknowledged += 1
        self.most_unacknowledged = max(self.most_unacknowledged, self.unacknowledged)

        def answer() -> None:
            self.unacknowledged -= 1
            if refused:
                acknowledged.set_exception(ConnectionError("refused"))
            else:
                acknowledged.set_result(None)

        asyncio.get_running_loop().call_later(0.01, answer)
        return acknowledged

    async def publish(self, records: Sequence[OutboundRecord]) -> None:
        await (await self.enqueue(records))

    async def reset(self) -> None:
        await asyncio.sleep(0.02)  # what the old producer held has settled
        self.resets += 1
        self._out_of_sequence = False


@pytest.fixture
def orders(store: OrderStore) -> list[EventEnvelope]:
    """Twelve orders recorded: 24 events in the log, two per key."""
    IntakeService(store, fixed_clock(NOW)).place_orders(
        [submit_order(external_id=f"WEB-{n}") for n in range(12)]
    )
    return [env for _, env in store.read_envelopes(None, 100)]


def _relay(store: OrderStore, broker: Broker, positions: InMemoryPositions, **kw: Any) -> Relay:
    return Relay(
        source=store,
        publisher=broker,  # type: ignore[arg-type]
        positions=positions,
        routes_for=lambda env: [(TOPIC, env.subject)],
        batch_size=5,
        poll_seconds=0.001,
        **kw,
    )


def _sequences_by_key(log: Sequence[OutboundRecord]) -> dict[str, list[int]]:
    found: dict[str, list[int]] = defaultdict(list)
    for r in log:
        envelope = record_to_envelope(r.key, r.value, r.headers)
        found[envelope.subject].append(envelope.sequence)
    return found


def _in_order_once_deduplicated(log: Sequence[OutboundRecord], orders: list[EventEnvelope]) -> None:
    """What an idempotent consumer keeps (each key's versions past the last it saw) is every
    event, each key's in order: nothing lost, nothing put before an earlier event."""
    kept: dict[str, list[int]] = defaultdict(list)
    for key, sequences in _sequences_by_key(log).items():
        for sequence in sequences:
            if not kept[key] or sequence > kept[key][-1]:
                kept[key].append(sequence)
    assert dict(kept) == {env.subject: [1, 2] for env in orders if env.sequence == 1}


async def _drain(relay: Relay, positions: InMemoryPositions, end: int) -> None:
    stop = asyncio.Event()

    async def stop_at_the_end() -> None:
        while positions.saved.get(STREAM) != end:
            await asyncio.sleep(0.005)
        stop.set()

    await asyncio.wait_for(asyncio.gather(relay.run(stop), stop_at_the_end()), timeout=10)


@pytest.mark.asyncio
@pytest.mark.parametrize("ahead", [1, 0])
async def test_the_next_batch_is_handed_before_the_last_is_acknowledged_the_position_after(
    store: OrderStore, orders: list[EventEnvelope], ahead: int
) -> None:
    broker, positions = Broker(), InMemoryPositions()
    relay = _relay(store, broker, positions, ahead=ahead)

    assert await relay.publish_next_batch() == 5
    # With `ahead`, the second batch went before the first was acknowledged.
    assert broker.handed == 1 + ahead
    assert positions.saved == {STREAM: 5}, "only the acknowledged batch is saved"

    await _drain(relay, positions, store.max_position())
    assert [r.value for r in broker.log] == [r.value for r in map(_record, orders)], "in order"
    assert broker.most_unacknowledged == 1 + ahead
    assert broker.resets == 0


def _record(env: EventEnvelope) -> OutboundRecord:
    return envelope_to_record(TOPIC, env)


@pytest.mark.asyncio
async def test_a_refused_batch_resets_the_producer_and_goes_again_from_the_saved_position(
    store: OrderStore, orders: list[EventEnvelope]
) -> None:
    # The second batch is refused; the third, handed before that was known, is out of
    # sequence: neither is appended.
    broker, positions = Broker(refuse={2}), InMemoryPositions()
    relay = _relay(store, broker, positions)
    await relay.publish_next_batch()

    with pytest.raises(ConnectionError):
        await relay.publish_next_batch()
    assert broker.resets == 1, "a new producer before anything is handed again"
    assert (positions.saved, len(broker.log)) == ({STREAM: 5}, 5)

    await _drain(relay, positions, store.max_position())
    assert [r.value for r in broker.log] == [r.value for r in map(_record, orders)]


@pytest.mark.asyncio
async def test_a_crash_after_the_broker_acknowledged_and_before_the_position_was_saved(
    store: OrderStore, orders: list[EventEnvelope]
) -> None:
    # Acknowledged batches are saved once a minute: the crash comes first.
    broker, positions, first = _saving_once_a_minute(store)
    for _ in range(3):
        await first.publish_next_batch()
    assert positions.saved == {}
    acknowledged = len(broker.log)
    assert acknowledged >= 15
    del first  # killed: neither what it acknowledged nor what it handed is saved

    await _drain(_relay(store, broker, positions), positions, store.max_position())

    assert len(broker.log) == acknowledged + len(orders), "all again, from the saved position"
    _in_order_once_deduplicated(broker.log, orders)


@pytest.mark.asyncio
async def test_a_stop_waits_for_what_was_handed_and_saves_its_position(
    store: OrderStore, orders: list[EventEnvelope]
) -> None:
    broker, positions, relay = _saving_once_a_minute(store)
    assert await relay.publish_next_batch() == 5  # and the second handed, not acknowledged
    stop = asyncio.Event()
    stop.set()

    await relay.run(stop)

    assert positions.saved == {STREAM: 10}, "the handed batch acknowledged on the stop, saved"
    assert len(broker.log) == 10


def _saving_once_a_minute(store: OrderStore) -> tuple[Broker, InMemoryPositions, Relay]:
    broker, positions = Broker(), InMemoryPositions()
    return broker, positions, _relay(store, broker, positions, save_every=60.0)


@dataclass
class _Side:
    """What `build_relay` needs of a hub: settings, the store, the relay's positions."""

    settings: Settings
    store: OrderStore
    positions: InMemoryPositions

    def relay_positions(self) -> InMemoryPositions:
        return self.positions


@pytest.mark.asyncio
@pytest.mark.parametrize("ahead", [0, 2])
async def test_the_hubs_relay_hands_as_many_batches_ahead_as_its_settings_say(
    store: OrderStore, orders: list[EventEnvelope], settings: Settings, ahead: int
) -> None:
    broker, positions = Broker(), InMemoryPositions()
    tuned = settings.model_copy(update={"relay_batch_size": 5, "relay_batches_ahead": ahead})
    relay = build_relay(_Side(tuned, store, positions), broker)  # type: ignore[arg-type]

    assert await relay.publish_next_batch() == 5
    assert broker.handed == 1 + ahead
    await _drain(relay, positions, store.max_position())
    assert len(broker.log) == len(orders), "every event published once"
