"""Kafka and PostgreSQL in containers, for machines where a Docker engine answers.

Imported only after the engine has answered, so machines without testcontainers or Docker never
pay for (or fail on) this import.
"""

from __future__ import annotations

import io
import re
import tarfile
import time
from pathlib import PurePosixPath
from typing import Any

from testcontainers.core.container import DockerContainer

from tests.harness.waiting import wait_for

try:  # testcontainers >= 4.14 moved the modules; the old path still works there but warns
    from testcontainers.community.postgres import PostgresContainer
except ImportError:  # pragma: no cover - older testcontainers
    from testcontainers.postgres import PostgresContainer


class ApacheKafkaContainer(DockerContainer):
    """Single-node KRaft broker from the official ``apache/kafka`` image.

    testcontainers-python's ``KafkaContainer`` drives Confluent's images only: its start script
    runs ``/etc/confluent/docker/configure`` and ``with_kraft()`` rejects tags below 7.0.0, so
    ``apache/kafka:4.x`` cannot run under it. This follows testcontainers-java's
    ``org.testcontainers.kafka.KafkaContainer`` instead: the container waits for a start script
    that is written once the mapped port is known, because clients must be told (advertised
    listener) the host:port they can reach, which only exists after the container started.
    """

    PORT = 9092
    _SCRIPT = "/tmp/orderhub_kafka_start.sh"
    # Written after the script, so the wait loop never runs a half-copied script.
    _READY = "/tmp/orderhub_kafka_start.ready"

    def __init__(self, image: str, **kwargs: Any) -> None:
        super().__init__(image, **kwargs)
        self.with_exposed_ports(self.PORT)
        env = {
            "CLUSTER_ID": "b3JkZXJodWItdGVzdHMtMQ",
            "KAFKA_NODE_ID": "1",
            "KAFKA_PROCESS_ROLES": "broker,controller",
            "KAFKA_LISTENERS": "PLAINTEXT://:9092,BROKER://:9093,CONTROLLER://:9094",
            "KAFKA_LISTENER_SECURITY_PROTOCOL_MAP": (
                "PLAINTEXT:PLAINTEXT,BROKER:PLAINTEXT,CONTROLLER:PLAINTEXT"
            ),
            "KAFKA_INTER_BROKER_LISTENER_NAME": "BROKER",
            "KAFKA_CONTROLLER_LISTENER_NAMES": "CONTROLLER",
            "KAFKA_CONTROLLER_QUORUM_VOTERS": "1@localhost:9094",
            "KAFKA_OFFSETS_TOPIC_REPLICATION_FACTOR": "1",
            "KAFKA_OFFSETS_TOPIC_NUM_PARTITIONS": "4",
            "KAFKA_TRANSACTION_STATE_LOG_REPLICATION_FACTOR": "1",
            "KAFKA_TRANSACTION_STATE_LOG_MIN_ISR": "1",
            "KAFKA_SHARE_COORDINATOR_STATE_TOPIC_REPLICATION_FACTOR": "1",
            "KAFKA_SHARE_COORDINATOR_STATE_TOPIC_MIN_ISR": "1",
            "KAFKA_GROUP_INITIAL_REBALANCE_DELAY_MS": "0",
            # Same as infra/kafka.sh: tests must create their topics, as production does.
            "KAFKA_AUTO_CREATE_TOPICS_ENABLE": "false",
        }
        for key, value in env.items():
            self.with_env(key, value)
        self.with_command(
            [
                "sh",
                "-c",
                f"while [ ! -f {self._READY} ]; do sleep 0.1; done; exec sh {self._SCRIPT}",
            ]
        )

    def _put_file(self, path: str, content: str) -> None:
        data = content.encode()
        target = PurePosixPath(path)
        buffer = io.BytesIO()
        with tarfile.open(fileobj=buffer, mode="w") as tar:
            info = tarfile.TarInfo(target.name)
            info.size = len(data)
            info.mtime = int(time.time())
            info.mode = 0o644
            tar.addfile(info, io.BytesIO(data))
        self.get_wrapped_container().put_archive(str(target.parent), buffer.getvalue())

    def start(self, startup_timeout: float = 120.0) -> ApacheKafkaContainer:
        super().start()
        host = self.get_container_host_ip()
        port = self.get_exposed_port(self.PORT)
        self._put_file(
            self._SCRIPT,
            f"export KAFKA_ADVERTISED_LISTENERS=PLAINTEXT://{host}:{port},BROKER://localhost:9093\n"
            "exec /etc/kafka/docker/run\n",
        )
        self._put_file(self._READY, "")
        started = re.compile(rb"Kafka Server started")

        def broker_started() -> bool:
            container = self.get_wrapped_container()
            container.reload()
            if container.status not in ("created", "running"):
                tail = container.logs(tail=40).decode(errors="replace")
                raise RuntimeError(f"Kafka container exited ({container.status}):\n{tail}")
            return bool(started.search(container.logs()))

        wait_for(broker_started, timeout=startup_timeout, interval=0.5, message="Kafka container")
        return self

    def get_bootstrap_server(self) -> str:
        return f"{self.get_container_host_ip()}:{self.get_exposed_port(self.PORT)}"


def start_kafka(image: str) -> ApacheKafkaContainer:
    container = ApacheKafkaContainer(image)
    try:
        return container.start()
    except BaseException:
        container.stop()
        raise


def start_postgres(image: str) -> tuple[PostgresContainer, str]:
    container = PostgresContainer(
        image, username="orderhub", password="orderhub", dbname="orderhub", driver=None
    )
    try:
        container.start()
    except BaseException:
        container.stop()
        raise
    return container, container.get_connection_url()
