"""A plain consumer given the types its handler acts on hands over only those records, and the
last of each partition (hub.streaming.plain_batches.handed_over): the handler then sees the same
events and moves the same positions as with every record; a follower that only keeps positions
is not handed a thread for a batch without its events (hub.streaming.feeds)."""

from collections.abc import Sequence
from typing import Any

import pytest
from aiokafka import TopicPartition
from aiokafka.structs import ConsumerRecord

from connectors.codec import envelope_to_record
from connectors.publisher import RecordingPublisher
from hub.settings import Settings
from hub.streaming.feeds import Feed, FeedsConsumer, decode, shares, wanted_types
from hub.streaming.plain_batches import PlainBatchConsumer, handed_over
from schemas.envelope import EventEnvelope
from schemas.event_types import EventType
from tests.contracts.factories import order_envelopes

EVENTS = "orderhub.orders.events"
INVENTORY = "orderhub.inventory.events"
ACCEPTED = frozenset({str(EventType.ORDER_ACCEPTED)})


def record(topic: str, partition: int, offset: int, env: EventEnvelope | None) -> Any:
    if env is None:  # no type header: the handler parks it
        key, value, headers = b"k", b"{}", [("x", b"1")]
    else:
        r = envelope_to_record(topic, env)
        key, value, headers = r.key, r.value, list(r.headers)
    return ConsumerRecord(topic, partition, offset, 0, 0, key, value, None, 0, 0, headers)


def fetched_batch() -> dict[TopicPartition, list[Any]]:
    first = [*order_envelopes("WEB-1", "accepted"), *order_envelopes("WEB-3", "rejected")]
    return {
        # Accepted in the middle, the partition ending on events nobody here acts on.
        TopicPartition(EVENTS, 0): [record(EVENTS, 0, 10 + i, e) for i, e in enumerate(first)],
        # A record without a type, then the partition ending on an Accepted.
        TopicPartition(EVENTS, 1): [
            record(EVENTS, 1, 3, None),
            *(record(EVENTS, 1, 4 + i, e) for i, e in enumerate(order_envelopes("WEB-2"))),
        ],
        # Nothing wanted at all.
        TopicPartition(EVENTS, 2): [
            record(EVENTS, 2, 7 + i, e) for i, e in enumerate(order_envelopes("WEB-4", "rejected"))
        ],
        # A topic whose every type is wanted.
        TopicPartition(INVENTORY, 0): [
            record(INVENTORY, 0, i, e) for i, e in enumerate(order_envelopes("WEB-5", "rejected"))
        ],
    }


class Recording:
    def __init__(self, event_types: frozenset[str] | None, every: float | None = None) -> None:
        self.event_types = event_types
        self.seen: list[tuple[str, str]] = []
        self.applied: list[dict[str, int]] = []
        self.kept: dict[str, int] = {}
        self._every = every

    def apply(self, envelopes: Sequence[EventEnvelope], positions: dict[str, int]) -> None:
        self.seen.extend((env.subject, env.type) for env in envelopes)
        self.applied.append(dict(positions))

    def positions(self) -> dict[str, int]:
        return {}


class Noting(Recording):
    def noted(self, positions: dict[str, int]) -> bool:
        self.kept.update(positions)
        return True


def feeds(follower: Recording) -> list[Feed]:
    return [
        Feed("orchestrator", follower, frozenset({EVENTS}), ACCEPTED),
        Feed("all", follower, frozenset({INVENTORY}), None),
    ]


def test_only_wanted_records_and_each_partitions_last_are_handed_over(settings: Settings) -> None:
    fetched = fetched_batch()
    handler = FeedsConsumer("role", feeds(Recording(None)), RecordingPublisher(), settings)
    reader = PlainBatchConsumer(settings, [EVENTS], "g", handler, 500, wanted=handler.wanted)
    wanted = reader.wanted

    handed = [(m.topic, m.partition, m.offset) for m in handed_over(fetched, wanted)]

    assert handed == [
        (EVENTS, 0, 11),  # WEB-1's Accepted
        (EVENTS, 0, 13),  # the partition's last (WEB-3's Rejected), for its position
        (EVENTS, 1, 3),  # no type: handed over, to be parked
        (EVENTS, 1, 5),  # WEB-2's Accepted, also the partition's last
        (EVENTS, 2, 8),  # the partition's last
        (INVENTORY, 0, 0),
        (INVENTORY, 0, 1),
    ]
    assert [_type(r) for r in fetched[TopicPartition(EVENTS, 0)]][1] in ACCEPTED
    # Without the types, every record, as before.
    assert len(handed_over(fetched, None)) == sum(len(r) for r in fetched.values())


def _type(r: Any) -> str:
    return str(dict(r.headers)["ce_type"].decode())


def test_the_handler_sees_the_same_events_and_positions_as_with_every_record() -> None:
    fetched = fetched_batch()
    given = feeds(Recording(None))
    wanted = wanted_types(given)
    as_bytes = {
        t: None if v is None else frozenset(x.encode() for x in v) for t, v in wanted.items()
    }
    every, few = handed_over(fetched, None), handed_over(fetched, as_bytes)

    def seen(messages: list[Any]) -> list[tuple[str, list[tuple[str, str]], dict[str, int]]]:
        decoded = decode(messages, wanted)
        assert [m.offset for m, _ in decoded.undecodable] == [3]
        return [
            (s.feed.name, [(e.subject, e.type) for e in s.envelopes], s.positions)
            for s in shares(given, messages, decoded)
        ]

    assert seen(few) == seen(every)
    assert len(few) < len(every)


@pytest.mark.asyncio
async def test_a_batch_without_its_events_is_noted_not_applied(settings: Settings) -> None:
    noting, plain = Noting(ACCEPTED), Recording(ACCEPTED)
    placed, accepted = order_envelopes("WEB-1", "accepted")
    batch = handed_over({TopicPartition(EVENTS, 0): [record(EVENTS, 0, 4, placed)]}, None)

    for follower in (noting, plain):
        feed = Feed("o", follower, frozenset({EVENTS}), ACCEPTED)
        await FeedsConsumer("role", [feed], RecordingPublisher(), settings).handle(batch)

    assert noting.applied == [] and noting.kept == {f"{EVENTS}:0": 4}
    assert plain.applied == [{f"{EVENTS}:0": 4}]  # a follower that cannot note is applied
    # With its event, it is applied.
    more = handed_over({TopicPartition(EVENTS, 0): [record(EVENTS, 0, 5, accepted)]}, None)
    feed = Feed("o", noting, frozenset({EVENTS}), ACCEPTED)
    await FeedsConsumer("role", [feed], RecordingPublisher(), settings).handle(more)
    assert noting.applied == [{f"{EVENTS}:0": 5}]
    assert noting.seen == [(accepted.subject, EventType.ORDER_ACCEPTED)]
