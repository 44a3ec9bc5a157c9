"""Creating the hub's topics with the partition counts it asks for (auto-creation is off)."""

import asyncio
import logging
from collections.abc import Iterable

from aiokafka.admin import AIOKafkaAdminClient, NewTopic
from aiokafka.admin.config_resource import ConfigResource, ConfigResourceType
from aiokafka.errors import KafkaError, TopicAlreadyExistsError

log = logging.getLogger(__name__)


async def ensure_topics(
    bootstrap: str,
    topics: dict[str, int],
    replication: int = 1,
    configs: dict[str, str] | None = None,
) -> list[str]:
    """Create missing topics (with `configs`, e.g. max.message.bytes); returns the names created.
    Existing topics are left as they are."""
    admin = AIOKafkaAdminClient(bootstrap_servers=bootstrap, client_id="orderhub-admin")
    await admin.start()
    try:
        existing = set(await admin.list_topics())
        missing = [name for name in topics if name not in existing]
        if missing:
            try:
                await admin.create_topics(
                    [
                        NewTopic(name, topics[name], replication, topic_configs=configs)
                        for name in missing
                    ]
                )
            except TopicAlreadyExistsError:
                pass  # another process won the race; same outcome
        return missing
    finally:
        await admin.close()


async def ensure_topics_waiting(
    bootstrap: str,
    topics: dict[str, int],
    replication: int = 1,
    pause: float = 2.0,
    configs: dict[str, str] | None = None,
) -> list[str]:
    """ensure_topics, waiting for a broker that does not answer yet (a process started while
    Kafka restarts waits for it instead of exiting)."""
    attempt = 0
    while True:
        try:
            return await ensure_topics(bootstrap, topics, replication, configs)
        except KafkaError as error:
            attempt += 1
            if attempt == 1 or attempt % 15 == 0:
                log.warning("Kafka at %s does not answer (%r); waiting for it", bootstrap, error)
            await asyncio.sleep(pause)


async def record_limits(bootstrap: str, topics: Iterable[str]) -> dict[str, int]:
    """Each topic's largest record batch as the broker applies it: its `max.message.bytes`, its
    own or the broker's default. A topic the broker does not describe is left out."""
    wanted = {"max.message.bytes": None}  # the one entry asked for
    admin = AIOKafkaAdminClient(bootstrap_servers=bootstrap, client_id="orderhub-admin")
    await admin.start()
    try:
        answers = await admin.describe_configs(
            [ConfigResource(ConfigResourceType.TOPIC, name, wanted) for name in topics]
        )
    finally:
        await admin.close()
    limits = {}
    for answer in answers:
        for error, message, _, name, entries in answer.resources:
            values = [int(value) for key, value, *_ in entries if key == "max.message.bytes"]
            if error == 0 and values:
                limits[name] = values[0]
            else:
                log.warning(
                    "the broker does not say %s's record limit (%s %s)", name, error, message
                )
    return limits
