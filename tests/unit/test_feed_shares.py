"""A batch's shares per feed, worked out in one pass, equal the shares of one pass per feed, each
feed handed only the events of its types."""

from typing import Any

from hypothesis import given, settings
from hypothesis import strategies as st

from connectors.codec import envelope_to_record
from connectors.consumed import ConsumedMessage, positions_of
from hub.streaming.feeds import Decoded, Feed, shares
from schemas.envelope import EventEnvelope, EventKey
from tests.contracts.factories import order_envelopes

TOPICS = ("orders", "inventory", "rejected")
HISTORY = [e for n in range(3) for e in order_envelopes(f"WEB-{n}", "accepted")]
TYPES = sorted({e.type for e in HISTORY})


def shares_feed_by_feed(
    feeds: list[Feed], messages: list[ConsumedMessage], decoded: Decoded
) -> list[tuple[str, dict[str, int], list[tuple[ConsumedMessage, EventEnvelope]]]]:
    """What `shares` gave when it walked the batch once per feed (the reference)."""
    found = []
    for feed in feeds:
        positions = positions_of(m for m in messages if m.topic in feed.topics)
        if not positions:
            continue
        events = []
        seen: set[EventKey] = set()
        for message, envelope in decoded.events:
            if feed.types is not None and envelope.type not in feed.types:
                continue
            if message.topic in feed.topics and envelope.dedup_key not in seen:
                seen.add(envelope.dedup_key)
                events.append((message, envelope))
        found.append((feed.name, positions, events))
    return found


records = st.lists(
    st.tuples(st.sampled_from(TOPICS), st.integers(0, 2), st.integers(0, 30), st.integers(0, 5)),
    max_size=40,
)
feed_topics = st.lists(
    st.tuples(
        st.frozensets(st.sampled_from(TOPICS), min_size=1),
        st.none() | st.frozensets(st.sampled_from(TYPES)),
    ),
    min_size=1,
    max_size=8,
)


@settings(max_examples=200)
@given(records=records, topics=feed_topics)
def test_the_shares_equal_those_of_a_pass_per_feed_in_their_order(
    records: list[tuple[str, int, int, int]],
    topics: list[tuple[frozenset[str], frozenset[str] | None]],
) -> None:
    messages, events = [], []
    for topic, partition, offset, event in records:
        written = envelope_to_record(topic, HISTORY[event])
        message = ConsumedMessage(
            topic, partition, offset, written.key, written.value, written.headers
        )
        messages.append(message)
        events.append((message, HISTORY[event]))  # the same event twice: a relay's copy
    follower: Any = object()
    feeds = [Feed(f"feed-{n}", follower, t, types) for n, (t, types) in enumerate(topics)]
    decoded = Decoded(events, [])

    got = [
        (s.feed.name, s.positions, s.events, list(s.positions))
        for s in shares(feeds, messages, decoded)
    ]

    expected = shares_feed_by_feed(feeds, messages, decoded)
    assert got == [(name, p, e, list(p)) for name, p, e in expected]
