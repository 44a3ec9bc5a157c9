"""A feed that acts on a few event types: the consumer does not decode the others for it."""

from collections.abc import Sequence
from pathlib import Path
from types import SimpleNamespace
from typing import Any

import pytest

from connectors.codec import envelope_to_record
from connectors.consumed import ConsumedMessage
from connectors.publisher import RecordingPublisher
from hub.services.followers import BillingFollower, OrchestrationFollower
from hub.settings import Settings
from hub.streaming.feeds import Feed, FeedsConsumer, wanted_types
from projections.positions import create_positions_table
from projections.sqldb import SqlDatabase
from schemas.envelope import EventEnvelope
from schemas.event_types import EventType
from tests.contracts.factories import order_envelopes

EVENTS = "orderhub.orders.events"
INVENTORY = "orderhub.inventory.events"
ACCEPTED = frozenset({str(EventType.ORDER_ACCEPTED)})


class Recording:
    """A follower that keeps what it was given."""

    def __init__(self, event_types: frozenset[str] | None = None) -> None:
        self.event_types = event_types
        self.seen: list[str] = []
        self.saved: dict[str, int] = {}

    def apply(self, envelopes: Sequence[EventEnvelope], positions: dict[str, int]) -> None:
        self.seen.extend(env.type for env in envelopes)
        self.saved.update(positions)

    def positions(self) -> dict[str, int]:
        return dict(self.saved)


def records(envelopes: Sequence[EventEnvelope], start: int = 0) -> list[ConsumedMessage]:
    out = []
    for offset, env in enumerate(envelopes, start=start):
        r = envelope_to_record(EVENTS, env)
        out.append(ConsumedMessage(EVENTS, 0, offset, r.key, r.value, r.headers))
    return out


def with_junk_data(message: ConsumedMessage) -> ConsumedMessage:
    """Its headers intact (a Placed event, say), its data not JSON."""
    return ConsumedMessage(
        message.topic, message.partition, message.offset, message.key, b"{not json", message.headers
    )


def consumer(settings: Settings, *followers: Recording) -> tuple[FeedsConsumer, RecordingPublisher]:
    publisher = RecordingPublisher()
    feeds = [Feed(f"f{i}", f, frozenset({EVENTS}), f.event_types) for i, f in enumerate(followers)]
    return FeedsConsumer("role", feeds, publisher, settings), publisher


@pytest.mark.asyncio
async def test_only_the_types_it_acts_on_are_decoded_and_every_offset_moves(
    settings: Settings,
) -> None:
    follower = Recording(ACCEPTED)
    handler, publisher = consumer(settings, follower)
    placed, accepted = order_envelopes("WEB-1", "accepted")
    # The Placed record is broken: decoded, it would be parked; not wanted, it is passed over.
    batch = [with_junk_data(records([placed])[0]), *records([accepted], start=1)]

    await handler.handle(batch)

    assert follower.seen == [EventType.ORDER_ACCEPTED]
    assert follower.saved == {f"{EVENTS}:0": 1}  # the last offset read
    assert publisher.records == []


@pytest.mark.asyncio
async def test_a_feed_taking_every_event_on_the_topic_has_every_record_decoded(
    settings: Settings,
) -> None:
    few, every = Recording(ACCEPTED), Recording()
    handler, publisher = consumer(settings, few, every)
    placed, accepted = order_envelopes("WEB-1", "accepted")
    junk = with_junk_data(records([placed])[0])

    await handler.handle([junk, *records([accepted], start=1)])

    assert every.seen == [EventType.ORDER_ACCEPTED]
    assert few.seen == [EventType.ORDER_ACCEPTED]
    (parked,) = publisher.records
    assert parked.value == b"{not json"


@pytest.mark.asyncio
async def test_a_record_without_a_type_header_is_decoded_and_parked(settings: Settings) -> None:
    follower = Recording(ACCEPTED)
    handler, publisher = consumer(settings, follower)
    (accepted,) = records([order_envelopes("WEB-1", "accepted")[1]])
    headless = ConsumedMessage(EVENTS, 0, 1, b"k", b"{}", (("x", b"1"),))

    await handler.handle([accepted, headless])

    assert follower.seen == [EventType.ORDER_ACCEPTED]
    (parked,) = publisher.records
    assert parked.value == b"{}"
    assert follower.saved == {f"{EVENTS}:0": 1}  # the last offset read


def test_types_wanted_per_topic_are_the_union_and_none_wins() -> None:
    a = Feed("a", Recording(), frozenset({EVENTS}), ACCEPTED)
    b = Feed("b", Recording(), frozenset({EVENTS, INVENTORY}), frozenset({"x"}))
    c = Feed("c", Recording(), frozenset({INVENTORY}), None)

    assert wanted_types([a, b]) == {EVENTS: ACCEPTED | {"x"}, INVENTORY: frozenset({"x"})}
    assert wanted_types([a, b, c])[INVENTORY] is None
    assert wanted_types([c, b])[INVENTORY] is None


def test_the_orchestrator_acts_on_its_triggers_only() -> None:
    types = OrchestrationFollower.event_types
    assert EventType.ORDER_ACCEPTED in types
    assert EventType.STOCK_ITEM_ADJUSTED in types
    assert EventType.ORDER_ROUTED not in types
    assert EventType.ORDER_FULFILLMENT_REQUESTED not in types


@pytest.mark.asyncio
async def test_each_feed_is_handed_only_its_types_beside_one_taking_every_type(
    settings: Settings,
) -> None:
    followers = (Recording(ACCEPTED), Recording())
    handler, _ = consumer(settings, *followers)

    await handler.handle(records(order_envelopes("WEB-1", "accepted")))

    # The Placed event is not the first one's business; both positions move past it.
    every_type = [EventType.ORDER_PLACED, EventType.ORDER_ACCEPTED]
    assert [f.seen for f in followers] == [[EventType.ORDER_ACCEPTED], every_type]
    assert [f.saved for f in followers] == [{f"{EVENTS}:0": 1}] * 2


class Noting(Recording):
    """A follower whose batches with nothing for it only note their positions (billing's)."""

    def __init__(self, event_types: frozenset[str]) -> None:
        super().__init__(event_types)
        self.applied = 0
        self.noted_positions: dict[str, int] = {}

    def apply(self, envelopes: Sequence[EventEnvelope], positions: dict[str, int]) -> None:
        self.applied += 1
        super().apply(envelopes, positions)

    def noted(self, positions: dict[str, int]) -> bool:
        self.noted_positions.update(positions)
        return True


@pytest.mark.asyncio
async def test_a_batch_with_none_of_its_types_is_noted_not_applied(settings: Settings) -> None:
    billing = Noting(ACCEPTED)
    handler, _ = consumer(settings, billing)
    placed, accepted = order_envelopes("WEB-1", "accepted")

    await handler.handle(records([placed]))
    assert (billing.applied, billing.noted_positions) == (0, {f"{EVENTS}:0": 0})

    await handler.handle(records([accepted], start=1))
    assert (billing.applied, billing.seen) == (1, [EventType.ORDER_ACCEPTED])


def test_billing_notes_what_it_need_not_write_yet(tmp_path: Path) -> None:
    db = SqlDatabase(f"sqlite:///{tmp_path / 'views.db'}")
    with db.transaction() as cur:
        create_positions_table(cur)
    # No shipment in these batches: the fulfillment service is asked to invoice none.
    invoicing: Any = SimpleNamespace(invoice_shipments=lambda shipments: len(list(shipments)))
    billing = BillingFollower(invoicing, db, positions_every=3600.0)
    assert billing.noted({"t:0": 1}) is False  # none written yet: due, so `apply` it
    billing.apply([], {"t:0": 1})
    assert billing.noted({"t:0": 2}) is True  # kept for the next write
    assert billing.positions() == {"t:0": 2}
