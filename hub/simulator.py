"""A warehouse simulator: a real Kafka client that plays one fulfillment source.

It consumes the source's fulfillment requests and cancellations and answers on the updates
topic, with configurable rates of rejection and failed delivery and a delay between steps.
A tool for demos, end-to-end tests and benchmarks — not a stand-in for any part of the hub.
"""

import asyncio
import json
import logging
import random
from dataclasses import dataclass
from datetime import UTC, datetime

from aiokafka import AIOKafkaConsumer

from connectors.codec import OutboundRecord, record_to_envelope
from connectors.publisher import KafkaPublisher
from hub.settings import Settings
from schemas.envelope import EventEnvelope

log = logging.getLogger(__name__)
CARRIERS = ("DHL", "UPS", "Colissimo", "DPD", "GLS")


@dataclass(frozen=True)
class Behaviour:
    reject_rate: float = 0.0
    fail_rate: float = 0.0
    delay_seconds: float = 0.0
    seed: int | None = None


class WarehouseSimulator:
    def __init__(self, settings: Settings, source_id: str, behaviour: Behaviour) -> None:
        self._settings = settings
        self._source_id = source_id
        self._behaviour = behaviour
        self._rng = random.Random(behaviour.seed)
        self._shipped: set[str] = set()
        self.sent = 0

    def answer(self, env: EventEnvelope) -> list[dict[str, object]]:
        """The updates this source sends for one request or cancellation, in order."""
        if env.type == "orderhub.order.fulfillment_requested":
            if env.data["source_id"] != self._source_id:
                return []
            shipment = str(env.data["shipment_id"])
            if self._rng.random() < self._behaviour.reject_rate:
                return [self._update(env, shipment, "rejected", reason="no stock on the shelf")]
            steps = [self._update(env, shipment, kind) for kind in ("accepted", "picked", "packed")]
            carrier = self._rng.choice(CARRIERS)
            tracking = f"{carrier[:2].upper()}{self._rng.randrange(10**9, 10**10)}"
            steps.append(self._update(env, shipment, "shipped", carrier=carrier, tracking=tracking))
            self._shipped.add(shipment)
            last = (
                "delivery_failed" if self._rng.random() < self._behaviour.fail_rate else "delivered"
            )
            steps.append(self._update(env, shipment, last))
            return steps
        if env.type in ("orderhub.order.cancellation_requested", "orderhub.order.changed"):
            mine = [s for s, src in env.data["withdrawn_from"].items() if src == self._source_id]
            return [
                self._update(
                    env,
                    s,
                    "cancellation_refused" if s in self._shipped else "cancellation_confirmed",
                )
                for s in sorted(mine)
            ]
        return []

    def _update(
        self, env: EventEnvelope, shipment: str, kind: str, **extra: object
    ) -> dict[str, object]:
        return {
            "order_id": env.subject,
            "shipment_id": shipment,
            "source_id": self._source_id,
            "kind": kind,
            "at": datetime.now(UTC).isoformat(),
            **extra,
        }

    async def run(self, stop: asyncio.Event) -> None:
        s = self._settings
        assert s.kafka_bootstrap is not None
        consumer = AIOKafkaConsumer(
            s.topic("fulfillment_requests"),
            bootstrap_servers=s.kafka_bootstrap,
            group_id=f"{s.consumer_group}-simulator-{self._source_id}",
            auto_offset_reset="earliest",
            enable_auto_commit=False,
        )
        publisher = KafkaPublisher(s.kafka_bootstrap, client_id=f"simulator-{self._source_id}")
        await consumer.start()
        await publisher.start()
        log.info("simulating source %s", self._source_id)
        try:
            while not stop.is_set():
                batches = await consumer.getmany(timeout_ms=200)
                for messages in batches.values():
                    for m in messages:
                        if m.key != self._source_id.encode():
                            continue
                        try:
                            env = record_to_envelope(m.key, m.value or b"", m.headers or [])
                        except ValueError:
                            log.warning("skipping a record that is not a CloudEvent")
                            continue
                        for update in self.answer(env):
                            if self._behaviour.delay_seconds:
                                await asyncio.sleep(self._behaviour.delay_seconds)
                            await publisher.publish([self._record(update)])
                            self.sent += 1
                if batches:
                    await consumer.commit()
        finally:
            await consumer.stop()
            await publisher.stop()

    def _record(self, update: dict[str, object]) -> OutboundRecord:
        # Keyed by order, so all updates of an order are applied in the order they were sent.
        return OutboundRecord(
            topic=self._settings.topic("fulfillment_updates"),
            key=str(update["order_id"]).encode(),
            value=json.dumps(update).encode(),
        )
