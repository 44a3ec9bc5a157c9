"""Creating the hub's topics with the partition counts it asks for (auto-creation is off)."""

from aiokafka.admin import AIOKafkaAdminClient, NewTopic
from aiokafka.errors import TopicAlreadyExistsError


async def ensure_topics(bootstrap: str, topics: dict[str, int], replication: int = 1) -> list[str]:
    """Create missing topics; returns the names created. Existing topics are left as they are."""
    admin = AIOKafkaAdminClient(bootstrap_servers=bootstrap, client_id="orderhub-admin")
    await admin.start()
    try:
        existing = set(await admin.list_topics())
        missing = [name for name in topics if name not in existing]
        if missing:
            try:
                await admin.create_topics(
                    [NewTopic(name, topics[name], replication) for name in missing]
                )
            except TopicAlreadyExistsError:
                pass  # another process won the race; same outcome
        return missing
    finally:
        await admin.close()
