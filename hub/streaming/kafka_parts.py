"""The Kafka parts of a distributed process, built one way for the API, the worker and the relay:
the hub's topics, an event-carrying publisher, the consumer groups' lag watch, and the consumer
settings of a worker role.

Free of Faust (the API builds its parts here too): the worker hands `consumer_settings` to its
own `faust.App`.
"""

import logging
import socket
from collections.abc import Callable, Iterable, Mapping
from typing import Any

from aiokafka.errors import KafkaError

from connectors.lag import LagProbe
from connectors.publisher import KafkaPublisher
from connectors.topics import ensure_topics, ensure_topics_waiting, record_limits
from hub.settings import Settings
from hub.streaming.roles import Role
from hub.streaming.watchdog import ConsumerWatch

log = logging.getLogger(__name__)


class KafkaParts:
    def __init__(self, settings: Settings) -> None:
        if settings.kafka_bootstrap is None:
            raise ValueError("Kafka parts need ORDERHUB_KAFKA_BOOTSTRAP")
        self.settings = settings
        self.bootstrap: str = settings.kafka_bootstrap

    async def ensure_topics(self, wait: bool = True) -> list[str]:
        """Create the hub's missing topics; returns those created. With `wait`, a broker that
        does not answer yet is waited for (a process started while Kafka restarts)."""
        s = self.settings
        topics = {t: s.topic_partitions for t in s.all_topics()}
        configs = {"max.message.bytes": str(s.kafka_max_record_bytes)}
        if wait:
            return await ensure_topics_waiting(
                self.bootstrap, topics, s.topic_replication, configs=configs
            )
        return await ensure_topics(self.bootstrap, topics, s.topic_replication, configs)

    async def record_limit(self) -> int:
        """The largest record the hub's topics all take: `kafka_max_record_bytes`, or less
        where a topic made before (or by someone else) has a smaller `max.message.bytes`,
        which the hub does not alter (each such topic is named in a warning). The setting
        where the broker does not say."""
        s = self.settings
        try:
            limits = await record_limits(self.bootstrap, s.all_topics())
        except KafkaError as error:
            log.warning("the topics' record limits are unknown (%r): taken as the setting", error)
            return s.kafka_max_record_bytes
        for topic, limit in sorted(limits.items()):
            if limit < s.kafka_max_record_bytes:
                log.warning(
                    "topic %s takes records up to %d bytes (its max.message.bytes), fewer than "
                    "ORDERHUB_KAFKA_MAX_RECORD_BYTES: larger events go out as claim checks; "
                    "raise it with kafka-configs.sh --alter --entity-type topics "
                    "--entity-name %s --add-config max.message.bytes=%d",
                    topic,
                    limit,
                    topic,
                    s.kafka_max_record_bytes,
                )
        return min([s.kafka_max_record_bytes, *limits.values()])

    async def bounded_settings(self) -> Settings:
        """The settings with `kafka_max_record_bytes` as the topics take it (`record_limit`):
        a worker role's records, the ones it parks on the DLQ included, are bounded by what
        the topics take, as the relay's are (a topic made before keeps its own limit, often the
        broker's ~1 MB: a record parked near it was refused for ever)."""
        limit = await self.record_limit()
        return self.settings.model_copy(update={"kafka_max_record_bytes": limit})

    def publisher(
        self, process: str, *, whole_batches: bool = False, record_limit: int | None = None
    ) -> KafkaPublisher:
        """Idempotent, acks=all: fit to carry events, up to the topics' largest record
        (`record_limit`, as `record_limit()` found it; by default the setting's). `process`
        names it to the broker."""
        return KafkaPublisher(
            self.bootstrap,
            client_id=f"orderhub-{process}",
            linger_ms=self.settings.kafka_linger_ms,
            whole_batches=whole_batches,
            max_record_bytes=record_limit or self.settings.kafka_max_record_bytes,
        )

    def consumer_watch(
        self,
        groups: Mapping[str, Iterable[str]],
        rebalancing: Callable[[], bool] | None = None,
    ) -> ConsumerWatch:
        """Consumer groups (and the topics each reads) watched for stalls."""
        return ConsumerWatch(
            LagProbe(self.bootstrap),
            groups,
            stall_after=self.settings.stall_seconds,
            interval=self.settings.watch_interval_seconds,
            rebalancing=rebalancing,
        )

    def consumer_settings(self, role: Role) -> dict[str, Any]:
        """A worker role's Faust app settings: its broker, consumer group behaviour, commits."""
        s = self.settings
        return {
            "broker": [f"kafka://{host}" for host in self.bootstrap.split(",")],
            "producer_acks": -1,
            "producer_max_request_size": s.kafka_max_record_bytes,
            "topic_replication_factor": s.topic_replication,
            "topic_partitions": s.topic_partitions,
            "topic_allow_declare": True,
            "consumer_auto_offset_reset": "earliest",
            "consumer_group_instance_id": instance_id(s, role),
            "broker_session_timeout": s.kafka_session_timeout_seconds,
            "broker_heartbeat_interval": s.kafka_heartbeat_seconds,
            "broker_rebalance_timeout": s.kafka_rebalance_timeout_seconds,
            "broker_commit_every": s.intake_batch_size,
            "broker_commit_interval": 1.0,
            # A rebalance does not wait for batches in flight (see hub.streaming.worker).
            "stream_wait_empty": False,
        }


def instance_id(settings: Settings, role: Role) -> str | None:
    """Static membership: the same name after a restart takes the same partitions back at
    once, instead of waiting out the session of the member that died."""
    if not settings.static_membership:
        return None
    return f"{settings.worker_id or socket.gethostname()}-{role.value}"
