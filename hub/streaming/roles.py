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


def role_topics(settings: Settings, role: Role, channel_ids: list[str] | None = None) -> list[str]:
    """The topics a role's worker reads; intake also reads each registered channel's topic."""
    topics = [settings.topic(name) for name in _TOPICS[role]]
    if role is Role.INTAKE:
        topics += [settings.channel_topic(c) for c in channel_ids or []]
    return sorted(topics)


def role_groups(settings: Settings, channel_ids: list[str]) -> dict[str, list[str]]:
    """Every role's consumer group and its topics, for a lag watch over the whole hub."""
    return {settings.group_for(r.value): role_topics(settings, r, channel_ids) for r in Role}
