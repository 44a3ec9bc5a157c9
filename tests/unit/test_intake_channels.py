"""The intake role's channel definitions kept between batches, and one batch of several topics."""

import json
from collections.abc import Iterable
from typing import Any

import psycopg
import pytest

from aggregates import Order, OrderStatus, order_id_for
from connectors.consumed import ConsumedMessage
from connectors.publisher import RecordingPublisher
from hub.services.access import AccessService
from hub.services.channel_definitions import ChannelDefinitions
from hub.services.intake import IntakeService, PlaceResult, PreparedOrders
from hub.settings import Settings
from hub.store import OrderStore
from hub.streaming.edge_handlers import DeadLetterConsumer
from hub.streaming.handlers import ByTopic, IntakeConsumer, channel_parsers
from schemas.channels import ChannelDefinition
from tests.contracts.factories import NOW, fixed_clock, submission_dict

CHANNEL = "marketplace-1"
TOPIC = f"orderhub.channel.{CHANNEL}.orders"
SUBMITTED = "orderhub.orders.submitted"
NOW_ = fixed_clock(NOW)


def _definition(**changes: Any) -> ChannelDefinition:
    body = {"channel_id": CHANNEL, "name": "A marketplace", "kind": "marketplace"}
    return ChannelDefinition.model_validate({"format": "canonical", **body, **changes})


def _record(topic: str, external_id: str, offset: int, channel: str = CHANNEL) -> ConsumedMessage:
    body = submission_dict(channel=channel, external_id=external_id)
    return ConsumedMessage(topic, 0, offset, None, json.dumps(body).encode())


@pytest.fixture
def access(store: OrderStore) -> AccessService:
    return AccessService(store, fixed_clock(NOW))


class CountingStore:
    """Counts the queries the definitions make (each `current` call: one)."""

    def __init__(self, definitions: ChannelDefinitions) -> None:
        self.definitions = definitions
        self.calls: list[set[str]] = []

    def current(self, channel_ids: Iterable[str]) -> dict[str, ChannelDefinition | None]:
        self.calls.append(set(channel_ids))
        return self.definitions.current(self.calls[-1])


def test_a_definition_is_kept_while_the_channel_does_not_change(
    store: OrderStore, access: AccessService
) -> None:
    access.register_channel(_definition(), "user:admin")
    definitions = ChannelDefinitions(store)

    first = definitions.current([CHANNEL])[CHANNEL]
    again = definitions.current([CHANNEL])[CHANNEL]

    assert first == _definition()
    assert again is first  # not rebuilt nor validated again: nothing was stored since


def test_a_redefined_channel_is_seen_at_the_next_call(
    store: OrderStore, access: AccessService
) -> None:
    access.register_channel(_definition(), "user:admin")
    definitions = ChannelDefinitions(store)
    assert definitions.current([CHANNEL])[CHANNEL] == _definition()

    access.register_channel(_definition(sku_map={"ASIN-1": "RED-CHAIR"}), "user:admin")

    assert definitions.current([CHANNEL])[CHANNEL] == _definition(sku_map={"ASIN-1": "RED-CHAIR"})
    access.register_channel(_definition(format="webshop"), "user:admin")
    assert definitions.current([CHANNEL, "gone"]) == {
        CHANNEL: _definition(format="webshop"),
        "gone": None,
    }


def test_a_channel_registered_after_it_was_asked_for_is_seen(
    store: OrderStore, access: AccessService
) -> None:
    definitions = ChannelDefinitions(store)
    assert definitions.current([CHANNEL]) == {CHANNEL: None}

    access.register_channel(_definition(), "user:admin")

    assert definitions.current([CHANNEL]) == {CHANNEL: _definition()}


@pytest.fixture
def counting(store: OrderStore) -> CountingStore:
    return CountingStore(ChannelDefinitions(store))


@pytest.fixture
def consumer(
    store: OrderStore, settings: Settings, publisher: RecordingPublisher, counting: CountingStore
) -> IntakeConsumer:
    intake = IntakeService(store, fixed_clock(NOW))
    parsers = channel_parsers(counting.current, settings, fixed_clock(NOW))
    return IntakeConsumer(intake, publisher, settings, parsers, channel_name="channel_intake")


@pytest.fixture
def publisher() -> RecordingPublisher:
    return RecordingPublisher()


@pytest.mark.asyncio
async def test_a_channel_changed_between_batches_parses_the_next_batch_its_new_way(
    consumer: IntakeConsumer,
    store: OrderStore,
    access: AccessService,
    publisher: RecordingPublisher,
) -> None:
    access.register_channel(_definition(), "user:admin")
    await consumer.handle([_record(TOPIC, "MP-1", 0)])
    assert store.repository.get(order_id_for(CHANNEL, "MP-1")).status is OrderStatus.ACCEPTED

    # The channel now sends its marketplace's own format: a canonical payload is not one.
    access.register_channel(_definition(format="marketplace"), "user:admin")
    await consumer.handle([_record(TOPIC, "MP-2", 1)])

    assert IntakeService(store, fixed_clock(NOW)).find(order_id_for(CHANNEL, "MP-2")) is None
    assert publisher.records == []
    kept = [n.topic for n in store.recorder.select_notifications(start=None, limit=1000)]
    assert kept[-2:] == [
        "aggregates.channel:Channel.Redefined",
        "aggregates.submission:RejectedSubmission.Recorded",  # refused by the new format
    ]


@pytest.mark.asyncio
async def test_a_batch_of_both_topics_is_saved_in_one_transaction_and_signed_by_topic(
    consumer: IntakeConsumer,
    store: OrderStore,
    access: AccessService,
    publisher: RecordingPublisher,
    counting: CountingStore,
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    access.register_channel(_definition(), "user:admin")
    saves: list[int] = []
    real = IntakeService.save_prepared

    def save_prepared(self: IntakeService, prepared: PreparedOrders) -> list[PlaceResult]:
        saves.append(len(prepared.commands))
        return real(self, prepared)

    monkeypatch.setattr(IntakeService, "save_prepared", save_prepared)
    batch = [
        _record(SUBMITTED, "WEB-1", 0, channel="web-shop"),
        _record(TOPIC, "MP-1", 0),
        ConsumedMessage(TOPIC, 0, 1, None, b"{not json"),
        ConsumedMessage(SUBMITTED, 0, 1, None, b"{not json either"),
        _record("orderhub.channel.gone.orders", "GONE-1", 0, channel="gone"),
        _record(SUBMITTED, "WEB-1", 2, channel="web-shop"),  # the same order again
    ]

    await consumer.handle(batch)

    assert saves == [3]  # one transaction; the duplicate answered from it
    assert counting.calls == [{CHANNEL, "gone"}]  # the batch's channels, in one query
    for channel, external_id in (("web-shop", "WEB-1"), (CHANNEL, "MP-1")):
        order = store.repository.get(order_id_for(channel, external_id))
        assert isinstance(order, Order) and order.status is OrderStatus.ACCEPTED
    parked = {r.value: dict(r.headers)["dlq-consumer"] for r in publisher.records}
    assert parked == {
        b"{not json": b"channel_intake",
        b"{not json either": b"intake",
        batch[4].value: b"channel_intake",
    }


@pytest.mark.asyncio
async def test_the_dead_letters_of_a_batch_go_to_the_exception_queue(
    consumer: IntakeConsumer, store: OrderStore, settings: Settings
) -> None:
    seen: list[list[str]] = []

    class Recording:
        async def handle(self, messages: list[ConsumedMessage]) -> None:
            seen.append([m.topic for m in messages])
            await DeadLetterConsumer(IntakeService(store, fixed_clock(NOW)), settings).handle(
                messages
            )

    handler = ByTopic({"orderhub.dlq": Recording()}, consumer)
    parked = ConsumedMessage("orderhub.dlq", 0, 0, None, b"bytes", (("dlq-error", b"why"),))

    await handler.handle([parked, _record(SUBMITTED, "WEB-9", 0, channel="web-shop")])

    assert seen == [["orderhub.dlq"]]
    assert store.repository.get(order_id_for("web-shop", "WEB-9")).status is OrderStatus.ACCEPTED
    topics = [n.topic for n in store.recorder.select_notifications(start=None, limit=100)]
    assert any("RejectedSubmission" in t for t in topics)


@pytest.mark.asyncio
async def test_a_store_outage_while_reading_the_channels_is_waited_out_not_parked(
    store: OrderStore, settings: Settings, publisher: RecordingPublisher, access: AccessService
) -> None:
    access.register_channel(_definition(), "user:admin")
    definitions = ChannelDefinitions(store)
    calls: list[int] = []

    def flaky(channel_ids: Iterable[str]) -> dict[str, ChannelDefinition | None]:
        calls.append(1)
        if len(calls) == 1:
            raise psycopg.OperationalError("the server closed the connection")
        return definitions.current(channel_ids)

    intake = IntakeService(store, fixed_clock(NOW))
    consumer = IntakeConsumer(intake, publisher, settings, channel_parsers(flaky, settings, NOW_))

    await consumer.handle([_record(TOPIC, "MP-1", 0)])

    assert len(calls) == 2 and publisher.records == []
    assert store.repository.get(order_id_for(CHANNEL, "MP-1")).status is OrderStatus.ACCEPTED


@pytest.mark.asyncio
async def test_channels_that_cannot_be_read_park_their_records_and_the_rest_is_saved(
    store: OrderStore, settings: Settings, publisher: RecordingPublisher
) -> None:
    def broken(channel_ids: Iterable[str]) -> dict[str, ChannelDefinition | None]:
        raise TypeError("a Directory stored under a channel's id")

    intake = IntakeService(store, fixed_clock(NOW))
    parsers = channel_parsers(broken, settings, NOW_)
    consumer = IntakeConsumer(intake, publisher, settings, parsers, channel_name="channel_intake")

    await consumer.handle([_record(TOPIC, "MP-1", 0), _record(SUBMITTED, "WEB-1", 0, "web-shop")])

    (parked,) = publisher.records
    assert dict(parked.headers)["dlq-consumer"] == b"channel_intake"
    assert b"the channel could not be read" in dict(parked.headers)["dlq-error"]
    assert store.repository.get(order_id_for("web-shop", "WEB-1")).status is OrderStatus.ACCEPTED
