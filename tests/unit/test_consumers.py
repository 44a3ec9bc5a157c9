"""Batch handlers behind the Faust agents: they never raise, they park what they cannot handle."""

import json
from collections.abc import Iterable, Sequence
from typing import Any

import pytest

from aggregates import OrderStatus, order_id_for
from connectors.codec import envelope_to_record
from connectors.consumed import ConsumedMessage
from connectors.publisher import RecordingPublisher
from hub.services.intake import IntakeService, PlaceResult, PreparedOrders, SubmitOrder
from hub.settings import Settings
from hub.store import OrderStore
from hub.streaming.feeds import Feed, FeedsConsumer
from hub.streaming.handlers import IntakeConsumer, channel_parsers
from hub.streaming.submissions import ACTOR_HEADER, CORRELATION_HEADER
from projections.order_status import InMemoryOrderStatusView
from schemas.channels import ChannelDefinition
from schemas.envelope import EventEnvelope
from schemas.event_types import EventType
from tests.contracts.factories import (
    NOW,
    fixed_clock,
    order_envelopes,
    submission_dict,
)

SUBMITTED = "orderhub.orders.submitted"
EVENTS = "orderhub.orders.events"


@pytest.fixture
def intake(store: OrderStore) -> IntakeService:
    return IntakeService(store, fixed_clock(NOW))


@pytest.fixture
def publisher() -> RecordingPublisher:
    return RecordingPublisher()


@pytest.fixture
def consumer(
    intake: IntakeService, publisher: RecordingPublisher, settings: Settings
) -> IntakeConsumer:
    return IntakeConsumer(intake, publisher, settings)


def submitted(
    value: bytes | dict[str, Any],
    offset: int = 0,
    headers: tuple[tuple[str, bytes], ...] = ((CORRELATION_HEADER, b"req-1"),),
) -> ConsumedMessage:
    raw = value if isinstance(value, bytes) else json.dumps(value).encode()
    return ConsumedMessage(
        topic=SUBMITTED, partition=2, offset=offset, key=b"order-key", value=raw, headers=headers
    )


def _good_batch(count: int, start: int = 0) -> list[ConsumedMessage]:
    return [
        submitted(submission_dict(external_id=f"WEB-{n}"), offset=n)
        for n in range(start, start + count)
    ]


def _body(record: Any) -> dict[str, Any]:
    return json.loads(record.value)  # type: ignore[no-any-return]


class RefusingIntake:
    """The real service, except that the store refuses one order (and not as a duplicate)."""

    def __init__(self, real: IntakeService, refused_external_id: str) -> None:
        self._real = real
        self._refused = refused_external_id

    def _check(self, commands: Sequence[SubmitOrder]) -> None:
        if any(c.submission.external_id == self._refused for c in commands):
            raise OSError("disk full")

    def place_orders(self, commands: Sequence[SubmitOrder]) -> list[PlaceResult]:
        self._check(commands)
        return self._real.place_orders(commands)

    def place_order(self, command: SubmitOrder) -> PlaceResult:
        self._check([command])
        return self._real.place_order(command)

    def prepare_orders(self, commands: Sequence[SubmitOrder]) -> PreparedOrders:
        return self._real.prepare_orders(commands)

    def save_prepared(self, prepared: PreparedOrders) -> list[PlaceResult]:
        self._check(prepared.commands)  # type: ignore[arg-type]
        return self._real.save_prepared(prepared)


class TestIntakeConsumer:
    @pytest.mark.asyncio
    async def test_a_batch_of_good_submissions_is_recorded_and_accepted(
        self, consumer: IntakeConsumer, intake: IntakeService, publisher: RecordingPublisher
    ) -> None:
        await consumer.handle(_good_batch(5))

        for n in range(5):
            order = intake.find(order_id_for("web-shop", f"WEB-{n}"))
            assert order is not None and order.status is OrderStatus.ACCEPTED
        assert publisher.records == []

    @pytest.mark.asyncio
    async def test_who_sent_it_and_the_correlation_id_come_from_the_headers(
        self, consumer: IntakeConsumer, intake: IntakeService
    ) -> None:
        headers = ((ACTOR_HEADER, b"channel:marketplace-eu"), (CORRELATION_HEADER, b"req-77"))

        await consumer.handle([submitted(submission_dict(), headers=headers)])

        order = intake.find(order_id_for("web-shop", "WEB-1001"))
        assert order is not None
        assert (order.placed_by, order.correlation_id) == ("channel:marketplace-eu", "req-77")

    @pytest.mark.asyncio
    async def test_without_headers_the_channel_acts_and_the_record_position_correlates(
        self, consumer: IntakeConsumer, intake: IntakeService
    ) -> None:
        await consumer.handle([submitted(submission_dict(), offset=9, headers=())])

        order = intake.find(order_id_for("web-shop", "WEB-1001"))
        assert order is not None
        assert (order.placed_by, order.correlation_id) == ("channel:web-shop", f"{SUBMITTED}:2:9")

    @pytest.mark.asyncio
    async def test_a_redelivered_batch_records_nothing_new(
        self, consumer: IntakeConsumer, store: OrderStore, publisher: RecordingPublisher
    ) -> None:
        await consumer.handle(_good_batch(3))
        position = store.max_position()

        await consumer.handle(_good_batch(3))

        assert store.max_position() == position
        assert publisher.records == []

    @pytest.mark.parametrize(
        "poison",
        [b"\xff\xfe\x00\x01", b'{"channel": "web-shop", "lines": [', b""],
        ids=["not utf-8", "truncated json", "empty"],
    )
    @pytest.mark.asyncio
    async def test_poison_bytes_go_to_the_dlq_untouched_and_the_batch_moves_on(
        self,
        consumer: IntakeConsumer,
        intake: IntakeService,
        publisher: RecordingPublisher,
        settings: Settings,
        poison: bytes,
    ) -> None:
        original_headers = ((CORRELATION_HEADER, b"req-poison"), ("trace", b"abc"))
        bad = submitted(poison, offset=7, headers=original_headers)

        await consumer.handle([*_good_batch(2), bad, *_good_batch(1, start=8)])

        (parked,) = publisher.records
        headers = dict(parked.headers)
        assert parked.topic == settings.topic("dlq")
        assert (parked.key, parked.value) == (b"order-key", poison)
        assert parked.headers[: len(original_headers)] == original_headers
        assert headers["dlq-error"].startswith(b"unparseable")
        assert (headers["dlq-original-topic"], headers["dlq-original-offset"]) == (
            SUBMITTED.encode(),
            b"7",
        )
        assert headers["dlq-original-partition"] == b"2"
        assert headers["dlq-consumer"] == b"intake"
        for n in (0, 1, 8):
            assert intake.find(order_id_for("web-shop", f"WEB-{n}")) is not None

    @pytest.mark.asyncio
    async def test_an_invalid_submission_is_rejected_field_by_field_with_its_raw_payload(
        self,
        consumer: IntakeConsumer,
        store: OrderStore,
        publisher: RecordingPublisher,
    ) -> None:
        lines = [{"line_id": "1", "sku": "RED-CHAIR", "quantity": 0, "unit_price": 19.9}]
        raw = json.dumps(submission_dict(external_id="WEB-BAD", lines=lines), indent=1).encode()

        await consumer.handle([submitted(raw, offset=3)])

        assert publisher.records == [], "a rejection is recorded (and relayed), not parked"
        (kept,) = _recorded(store)
        assert kept.type == EventType.REJECTED_SUBMISSION_RECORDED
        assert kept.data["reason"] == "invalid_submission"
        assert (kept.data["channel"], kept.data["external_id"]) == ("web-shop", "WEB-BAD")
        assert {(e["field"], e["code"]) for e in kept.data["problems"]} == {
            ("lines.0.quantity", "greater_than"),
            ("lines.0.unit_price", "value_error"),
        }
        assert kept.data["raw_payload"] == raw.decode()
        assert kept.data["details"] == {"source": f"{SUBMITTED}:2", "offset": 3}

    @pytest.mark.asyncio
    async def test_the_same_bad_payload_sent_twice_is_kept_once(
        self, consumer: IntakeConsumer, store: OrderStore
    ) -> None:
        raw = json.dumps(submission_dict(currency="XYZ")).encode()

        await consumer.handle([submitted(raw, offset=1)])
        await consumer.handle([submitted(raw, offset=2)])

        assert len(_recorded(store)) == 1

    @pytest.mark.asyncio
    async def test_json_that_is_not_an_object_is_rejected_at_the_body(
        self, consumer: IntakeConsumer, store: OrderStore
    ) -> None:
        await consumer.handle([submitted(b'["RED-CHAIR", 2]')])

        (kept,) = _recorded(store)
        assert [e["field"] for e in kept.data["problems"]] == ["(body)"]
        assert (kept.data["channel"], kept.data["external_id"]) == ("unknown", None)

    @pytest.mark.asyncio
    async def test_a_conflicting_resubmission_is_rejected_with_both_digests(
        self,
        consumer: IntakeConsumer,
        intake: IntakeService,
        store: OrderStore,
        publisher: RecordingPublisher,
    ) -> None:
        await consumer.handle([submitted(submission_dict())])
        stored = intake.find(order_id_for("web-shop", "WEB-1001"))
        assert stored is not None
        position = store.max_position()
        lines = [{"line_id": "1", "sku": "RED-CHAIR", "quantity": 5, "unit_price": "19.90"}]
        changed = json.dumps(submission_dict(lines=lines))

        await consumer.handle([submitted(changed.encode(), offset=1)])

        new = [env for _, env in store.read_envelopes(position, 10)]
        (kept,) = new
        assert kept.type == EventType.REJECTED_SUBMISSION_RECORDED
        assert kept.data["reason"] == "conflict"
        assert kept.data["details"]["order_id"] == str(stored.id)
        assert kept.data["details"]["existing_digest"] == stored.digest
        assert kept.data["details"]["submitted_digest"] not in (None, stored.digest)
        assert kept.data["raw_payload"] == changed
        assert intake.find(stored.id).version == stored.version  # type: ignore[union-attr]

    @pytest.mark.asyncio
    async def test_a_submission_the_store_refuses_is_parked_and_the_others_are_recorded(
        self,
        intake: IntakeService,
        publisher: RecordingPublisher,
        settings: Settings,
    ) -> None:
        consumer = IntakeConsumer(RefusingIntake(intake, "WEB-1"), publisher, settings)  # type: ignore[arg-type]

        await consumer.handle(_good_batch(3))

        (parked,) = publisher.records
        assert parked.topic == settings.topic("dlq")
        assert parked.value == _good_batch(3)[1].value
        assert b"disk full" in dict(parked.headers)["dlq-error"]
        assert intake.find(order_id_for("web-shop", "WEB-0")) is not None
        assert intake.find(order_id_for("web-shop", "WEB-1")) is None
        assert intake.find(order_id_for("web-shop", "WEB-2")) is not None

    @pytest.mark.asyncio
    async def test_a_save_whose_answer_was_lost_after_its_commit_is_not_stored_twice(
        self, store: OrderStore, intake: IntakeService, publisher: RecordingPublisher
    ) -> None:
        consumer = IntakeConsumer(intake, publisher, Settings(max_handler_attempts=2))
        # The batch's events are made before the save (while the batch before is saved);
        # saved, the connection fails before the answer: the retry saves the same events
        # again, the store refuses their ids, and each order is answered as the duplicate it is.
        insert = store.recorder.insert_events
        saves: list[int] = []

        def commit_then_lose_the_answer(events: Any, **kwargs: Any) -> Any:
            saves.append(len(events))
            ids = insert(events, **kwargs)
            if len(saves) == 1:
                raise ConnectionError("the answer to the commit was lost")
            return ids

        store.recorder.insert_events = commit_then_lose_the_answer  # type: ignore[method-assign]

        await consumer.handle(_good_batch(3))

        assert saves[:2] == [6, 6]  # two events an order, saved, then saved again (refused)
        assert publisher.records == []  # nothing parked, nothing refused
        for n in range(3):
            order = intake.find(order_id_for("web-shop", f"WEB-{n}"))
            assert order is not None
            assert (order.status, order.version) == (OrderStatus.ACCEPTED, 2)

    @pytest.mark.parametrize(
        "poison",
        [
            b"[" * 5000 + b"]" * 5000,
            b'{"lines": [{"quantity": ' + b"9" * 5000 + b"}]}",
        ],
        ids=["nested 5000 deep", "an integer of 5000 digits"],
    )
    @pytest.mark.asyncio
    async def test_json_the_parser_cannot_hold_is_parked_not_raised(
        self, consumer: IntakeConsumer, publisher: RecordingPublisher, poison: bytes
    ) -> None:
        await consumer.handle([submitted(poison)])

        assert len(publisher.records) == 1

    @pytest.mark.asyncio
    async def test_an_actor_header_that_is_not_kind_colon_id_does_not_poison_the_event_log(
        self, consumer: IntakeConsumer, store: OrderStore
    ) -> None:
        headers = ((ACTOR_HEADER, b"marketplace-eu"),)

        await consumer.handle([submitted(submission_dict(), headers=headers)])

        store.read_envelopes(None, 100)  # the relay and projections read this way


def _event_records(envelopes: Sequence[EventEnvelope], start: int = 0) -> list[ConsumedMessage]:
    records = [envelope_to_record(EVENTS, env) for env in envelopes]
    return [
        ConsumedMessage(EVENTS, 0, offset, r.key, r.value, r.headers)
        for offset, r in enumerate(records, start=start)
    ]


def _status(view: InMemoryOrderStatusView, env: EventEnvelope) -> str | None:
    row = view.get(env.subject)
    return None if row is None else row.status


class TestFeedsConsumer:
    @pytest.fixture
    def view(self) -> InMemoryOrderStatusView:
        return InMemoryOrderStatusView()

    @pytest.fixture
    def projection(
        self, view: InMemoryOrderStatusView, publisher: RecordingPublisher, settings: Settings
    ) -> FeedsConsumer:
        feed = Feed("order_status", view, frozenset({EVENTS}))
        return FeedsConsumer("projections", [feed], publisher, settings)

    @pytest.mark.asyncio
    async def test_events_are_applied_with_their_kafka_positions(
        self, projection: FeedsConsumer, view: InMemoryOrderStatusView
    ) -> None:
        history = order_envelopes("WEB-1001", "accepted")

        await projection.handle(_event_records(history, start=10))

        row = view.get(history[0].subject)
        assert row is not None and row.status == "accepted"
        assert view.positions() == {f"{EVENTS}:0": 11}

    @pytest.mark.asyncio
    async def test_a_junk_record_goes_to_the_dlq_and_the_good_events_are_still_applied(
        self,
        projection: FeedsConsumer,
        view: InMemoryOrderStatusView,
        publisher: RecordingPublisher,
        settings: Settings,
    ) -> None:
        accepted = order_envelopes("WEB-1001", "accepted")
        rejected = order_envelopes("WEB-1002", "rejected")
        junk = ConsumedMessage(EVENTS, 0, 2, b"junk-key", b"\x00not a cloud event", (("x", b"1"),))
        messages = [*_event_records(accepted), junk, *_event_records(rejected, start=3)]

        await projection.handle(messages)

        (parked,) = publisher.records
        assert parked.topic == settings.topic("dlq")
        assert (parked.key, parked.value) == (b"junk-key", b"\x00not a cloud event")
        assert parked.headers[0] == ("x", b"1")
        assert dict(parked.headers)["dlq-consumer"] == b"projections"
        assert dict(parked.headers)["dlq-error"]
        assert _status(view, accepted[0]) == "accepted"
        assert _status(view, rejected[0]) == "rejected"
        assert view.positions() == {f"{EVENTS}:0": 4}

    @pytest.mark.asyncio
    async def test_an_event_the_view_cannot_apply_is_parked_and_the_rest_applied_one_by_one(
        self,
        projection: FeedsConsumer,
        view: InMemoryOrderStatusView,
        publisher: RecordingPublisher,
    ) -> None:
        good = order_envelopes("WEB-1001", "accepted")
        placed = order_envelopes("WEB-1002", "placed")[0]
        broken = placed.model_copy(update={"data": {"digest": "but no submission"}})
        messages = _event_records([good[0], broken, good[1]])

        await projection.handle(messages)

        (parked,) = publisher.records
        assert parked.value == messages[1].value
        assert b"KeyError" in dict(parked.headers)["dlq-error"]
        assert _status(view, good[0]) == "accepted"
        assert view.get(broken.subject) is None

    @pytest.mark.asyncio
    async def test_a_redelivered_batch_leaves_the_view_as_it_was(
        self, projection: FeedsConsumer, view: InMemoryOrderStatusView
    ) -> None:
        messages = _event_records(order_envelopes("WEB-1001", "rejected"))
        await projection.handle(messages)
        subject = order_envelopes("WEB-1001", "rejected")[0].subject
        before = view.get(subject)

        await projection.handle(messages)

        assert view.get(subject) == before


def _recorded(store: OrderStore) -> list[EventEnvelope]:
    return [
        env
        for _, env in store.read_envelopes(None, 100)
        if env.type == EventType.REJECTED_SUBMISSION_RECORDED
    ]


class TestChannelIntake:
    """orderhub.channel.<id>.orders through the channel parser: each channel's definition is
    read once per batch, and a record of an unknown channel is parked."""

    TOPIC = "orderhub.channel.marketplace-1.orders"

    @pytest.fixture
    def lookups(self) -> list[str]:
        return []

    @pytest.fixture
    def channel_consumer(
        self,
        intake: IntakeService,
        publisher: RecordingPublisher,
        settings: Settings,
        lookups: list[str],
    ) -> IntakeConsumer:
        def lookup(channel_ids: Iterable[str]) -> dict[str, ChannelDefinition | None]:
            lookups.extend(channel_ids)
            marketplace = ChannelDefinition(
                channel_id="marketplace-1", name="A marketplace", kind="marketplace",
                format="canonical",
            )  # fmt: skip
            return {c: marketplace if c == "marketplace-1" else None for c in channel_ids}

        parsers = channel_parsers(lookup, settings, fixed_clock(NOW))
        return IntakeConsumer(intake, publisher, settings, parsers=parsers, name="channel_intake")

    def _records(self, topic: str, start: int, count: int) -> list[ConsumedMessage]:
        return [
            ConsumedMessage(
                topic=topic,
                partition=0,
                offset=n,
                key=None,
                value=json.dumps(
                    submission_dict(channel="marketplace-1", external_id=f"MP-{n}")
                ).encode(),
            )
            for n in range(start, start + count)
        ]

    @pytest.mark.asyncio
    async def test_the_channel_is_read_once_per_batch_and_its_orders_recorded(
        self, channel_consumer: IntakeConsumer, store: OrderStore, lookups: list[str]
    ) -> None:
        await channel_consumer.handle(self._records(self.TOPIC, 0, 3))
        await channel_consumer.handle(self._records(self.TOPIC, 3, 2))

        assert lookups == ["marketplace-1", "marketplace-1"]
        for n in range(5):
            order = store.repository.get(order_id_for("marketplace-1", f"MP-{n}"))
            assert order.status is OrderStatus.ACCEPTED

    @pytest.mark.asyncio
    async def test_records_of_an_unknown_channel_are_parked_and_the_others_recorded(
        self,
        channel_consumer: IntakeConsumer,
        publisher: RecordingPublisher,
        store: OrderStore,
        lookups: list[str],
    ) -> None:
        unknown = self._records("orderhub.channel.gone.orders", 10, 2)

        await channel_consumer.handle([*unknown, *self._records(self.TOPIC, 0, 1)])

        assert sorted(lookups) == ["gone", "marketplace-1"]
        parked = [r for r in publisher.records if r.topic == "orderhub.dlq"]
        assert [r.value for r in parked] == [m.value for m in unknown]
        assert all(b"no channel for topic" in dict(r.headers)["dlq-error"] for r in parked)
        order = store.repository.get(order_id_for("marketplace-1", "MP-0"))
        assert order.status is OrderStatus.ACCEPTED
