"""The worker roles and the topics each one consumes (each role is its own consumer group).

Kept free of Faust so that the API can watch the groups' lag without importing the worker.
"""

from enum import StrEnum

from hub.settings import Settings


class Role(StrEnum):
    INTAKE = "intake"
    ORCHESTRATION = "orchestration"
    FULFILLMENT = "fulfillment"
    PROJECTIONS = "projections"


_TOPICS: dict[Role, tuple[str, ...]] = {
    Role.INTAKE: ("submitted", "dlq"),
    Role.ORCHESTRATION: ("order_events", "inventory_events"),
    Role.FULFILLMENT: ("fulfillment_updates", "inventory_snapshots"),
    Role.PROJECTIONS: ("order_events", "rejected", "inventory_events", "catalog_events"),
}


# Topics a role reads with plain aiokafka consumers (hub.streaming.plain_batches), by the name
# of each consumer, in a group of its own, rather than through the role's Faust app: Faust's
# per-record machinery was about half of the projections role's CPU and ~1.5 of the
# orchestration role's ~4.7 ms per routed order (py-spy, benchmarks/README.md). The stock
# records have a consumer apart from the order events, so that a bulk load does not hold up the
# read models (nor routing). The orchestration and projections roles are left with no Faust
# agent: their apps only run timers and tasks (hub.streaming.worker).
ORDER_EVENTS = "order-events"
# Stands for the topic of every channel registered when the worker starts (a channel's topic is
# made at its registration; one registered later is read once the workers restart).
CHANNELS = "<channels>"
# The intake role reads the submissions, the channels' topics and the DLQ with one consumer:
# Faust's machinery was ~18 % of its CPU, and a batch's orders from REST and from channel
# topics are saved in one transaction.
SUBMISSIONS = "submissions"
_PLAIN: dict[Role, dict[str, tuple[str, ...]]] = {
    Role.INTAKE: {SUBMISSIONS: ("submitted", CHANNELS, "dlq")},
    # The sources' updates too: Faust's path cost ~60 µs a record more than this one
    # (benchmarks.consume_path), some 15 % of an update applied in a batch.
    Role.FULFILLMENT: {"stock-feed": ("inventory_snapshots",), "updates": ("fulfillment_updates",)},
    Role.ORCHESTRATION: {
        ORDER_EVENTS: ("order_events",),
        "stock-events": ("inventory_events",),
    },
    Role.PROJECTIONS: {
        ORDER_EVENTS: ("order_events", "rejected"),
        "stock-events": ("inventory_events", "catalog_events"),
    },
}


def plain_consumers(role: Role) -> dict[str, tuple[str, ...]]:
    """A role's plain consumers: each one's name and the settings names of its topics."""
    return dict(_PLAIN.get(role, {}))


def plain_topics(
    settings: Settings, role: Role, name: str, channel_ids: list[str] | None = None
) -> list[str]:
    """The topics of a role's plain consumer called `name`, the channels' among them."""
    topics: list[str] = []
    for topic in _PLAIN[role][name]:
        if topic == CHANNELS:
            topics += [settings.channel_topic(c) for c in channel_ids or []]
        else:
            topics.append(settings.topic(topic))
    return sorted(topics)


def plain_group(settings: Settings, role: Role, name: str) -> str:
    """The consumer group of a role's plain consumer called `name`."""
    return settings.group_for(f"{role.value}-{name}")


def role_topics(settings: Settings, role: Role, channel_ids: list[str] | None = None) -> list[str]:
    """The topics a role's worker reads; intake also reads each registered channel's topic."""
    topics = [settings.topic(name) for name in _TOPICS[role]]
    if role is Role.INTAKE:
        topics += [settings.channel_topic(c) for c in channel_ids or []]
    return sorted(topics)


def role_groups(settings: Settings, channel_ids: list[str]) -> dict[str, list[str]]:
    """Every consumer group of the roles and its topics, for a lag watch over the whole hub; a
    role's Faust group is left out when plain consumers read all of its topics."""
    groups: dict[str, list[str]] = {}
    for role in Role:
        plain = {
            plain_group(settings, role, name): plain_topics(settings, role, name, channel_ids)
            for name in plain_consumers(role)
        }
        apart = {topic for topics in plain.values() for topic in topics}
        topics = role_topics(settings, role, channel_ids)
        faust = [t for t in topics if t not in apart]
        if faust:
            groups[settings.group_for(role.value)] = faust
        groups |= plain
    return groups
