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
from schemas.event_types import EventType
from schemas.fulfillment import WITHDRAWAL_EVENT_TYPES

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
        self._shipped: set[str] = set()  # shipments whose `shipped` update went out
        self._work: dict[str, asyncio.Task[None]] = {}
        self._publisher: KafkaPublisher | None = None
        self.sent = 0

    def plan(self, env: EventEnvelope) -> list[dict[str, object]]:
        """The updates this source will send for one fulfillment request, in order."""
        shipment = str(env.data["shipment_id"])
        if self._rng.random() < self._behaviour.reject_rate:
            return [self._update(env, shipment, "rejected", reason="no stock on the shelf")]
        steps = [self._update(env, shipment, kind) for kind in ("accepted", "picked", "packed")]
        carrier = self._rng.choice(CARRIERS)
        tracking = f"{carrier[:2].upper()}{self._rng.randrange(10**9, 10**10)}"
        steps.append(self._update(env, shipment, "shipped", carrier=carrier, tracking=tracking))
        last = "delivery_failed" if self._rng.random() < self._behaviour.fail_rate else "delivered"
        steps.append(self._update(env, shipment, last))
        return steps

    def withdrawals(self, env: EventEnvelope) -> list[dict[str, object]]:
        """Answers to a cancellation or change: confirmed unless the goods already left."""
        mine = sorted(s for s, src in env.data["withdrawn_from"].items() if src == self._source_id)
        answers = []
        for shipment in mine:
            if shipment in self._shipped:
                answers.append(self._update(env, shipment, "cancellation_refused"))
                continue
            task = self._work.pop(shipment, None)
            if task is not None:
                task.cancel()  # stop picking: nothing more is sent for it
            answers.append(self._update(env, shipment, "cancellation_confirmed"))
        return answers

    async def handle(self, env: EventEnvelope) -> None:
        if env.type == EventType.ORDER_FULFILLMENT_REQUESTED:
            if env.data["source_id"] == self._source_id:
                shipment = str(env.data["shipment_id"])
                steps = self.plan(env)
                self._work[shipment] = asyncio.create_task(self._play(shipment, steps))
        elif env.type in WITHDRAWAL_EVENT_TYPES:
            for update in self.withdrawals(env):
                await self._send(update)

    async def _play(self, shipment: str, steps: list[dict[str, object]]) -> None:
        for update in steps:
            if self._behaviour.delay_seconds:
                await asyncio.sleep(self._behaviour.delay_seconds)
            await self._send(update)
            if update["kind"] == "shipped":
                self._shipped.add(shipment)
        self._work.pop(shipment, None)

    async def _send(self, update: dict[str, object]) -> None:
        assert self._publisher is not None
        await self._publisher.publish([self._record(update)])
        self.sent += 1

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
        self._publisher = KafkaPublisher(s.kafka_bootstrap, client_id=f"sim-{self._source_id}")
        await consumer.start()
        await self._publisher.start()
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
                        await self.handle(env)
                if batches:
                    await consumer.commit()
        finally:
            for task in self._work.values():
                task.cancel()
            await consumer.stop()
            await self._publisher.stop()

    def _record(self, update: dict[str, object]) -> OutboundRecord:
        # Keyed by order, so all updates of an order are applied in the order they were sent.
        return OutboundRecord(
            topic=self._settings.topic("fulfillment_updates"),
            key=str(update["order_id"]).encode(),
            value=json.dumps(update).encode(),
        )
