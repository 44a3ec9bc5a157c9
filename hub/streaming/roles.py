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


# Topics a role reads with a plain aiokafka consumer, each in a group of its own
# (hub.streaming.plain_batches), rather than through the role's Faust app.
_PLAIN: dict[Role, tuple[str, ...]] = {Role.FULFILLMENT: ("inventory_snapshots",)}


def plain_group(settings: Settings, role: Role, name: str) -> str:
    """The consumer group of a role's plain consumer of the topic named `name` in settings."""
    return settings.group_for(f"{role.value}-{name.replace('_', '-')}")


def role_topics(settings: Settings, role: Role, channel_ids: list[str] | None = None) -> list[str]:
    """The topics a role's worker reads; intake also reads each registered channel's topic."""
    topics = [settings.topic(name) for name in _TOPICS[role]]
    if role is Role.INTAKE:
        topics += [settings.channel_topic(c) for c in channel_ids or []]
    return sorted(topics)


def role_groups(settings: Settings, channel_ids: list[str]) -> dict[str, list[str]]:
    """Every consumer group of the roles and its topics, for a lag watch over the whole hub."""
    groups: dict[str, list[str]] = {}
    for role in Role:
        plain = {
            settings.topic(name): plain_group(settings, role, name) for name in _PLAIN.get(role, ())
        }
        topics = role_topics(settings, role, channel_ids)
        groups[settings.group_for(role.value)] = [t for t in topics if t not in plain]
        groups |= {group: [topic] for topic, group in plain.items()}
    return groups
