"""A realistic history for the projections role, as the Kafka records its consumer reads.

Orders of 1-7 lines are captured and routed on a generated network (benchmarks.route_profile:
sources in several countries, each SKU at 2-6 of them, some scarce), a share of their shipments
is accepted and shipped, a few submissions are refused; the events the hub recorded are then
encoded as the relay publishes them (CloudEvents in Kafka binary mode, keyed by aggregate, on
the topics `routes_for` picks) and spread over partitions by key, with offsets per partition.
Used by `benchmarks.projections_batch` and by the tests of the projections consumer.
"""

import random
import tempfile
import zlib
from collections.abc import Iterator, Sequence
from contextlib import contextmanager
from datetime import timedelta
from pathlib import Path
from uuid import UUID

from benchmarks.route_profile import NOW, build_network, order_command
from connectors.codec import envelope_to_record
from connectors.consumed import ConsumedMessage
from hub.bootstrap import Hub, bootstrap
from hub.services.intake import RejectSubmission
from hub.settings import Settings
from hub.streaming.relay import routes_for
from hub.streaming.roles import Role, role_topics
from schemas.envelope import EventEnvelope
from schemas.event_types import EventType
from schemas.fulfillment import FulfillmentUpdate, UpdateKind

PARTITIONS = 3


def record_history(
    hub: Hub, orders: int, sources: int = 100, skus: int = 10_000, seed: int = 7
) -> None:
    """Network, orders routed in chunks as the orchestrator does, every fifth order's shipments
    accepted and shipped, one submission in fifty refused. No follower runs."""
    rng = random.Random(seed)
    build_network(hub, rng, sources, skus)
    commands = [order_command(rng, n, skus) for n in range(orders)]
    for start in range(0, orders, 50):
        chunk = commands[start : start + 50]
        hub.intake.place_orders(chunk)
        hub.orchestration.orchestrate_many([c.order_id for c in chunk])
    shipped = {c.order_id for c in commands[::5]}
    for env in envelopes(hub):
        if env.type == EventType.ORDER_FULFILLMENT_REQUESTED and UUID(env.subject) in shipped:
            for update in shipped_updates(env):
                hub.fulfillment.apply_update(update)
    hub.intake.record_rejections(
        [
            RejectSubmission(
                channel="web-shop",
                raw_payload=f'{{"external_id": "BAD-{n}"}}',
                format="canonical",
                reason="invalid",
                problems=[{"field": "lines", "message": "missing", "code": "missing"}],
                actor="channel:web-shop",
                external_id=f"BAD-{n}",
            )
            for n in range(max(1, orders // 50))
        ]
    )


def shipped_updates(requested: EventEnvelope) -> list[FulfillmentUpdate]:
    """A source's updates for a requested shipment: accepted, then shipped (all its lines)."""
    return [
        FulfillmentUpdate(
            order_id=UUID(requested.subject),
            shipment_id=requested.data["shipment_id"],
            source_id=requested.data["source_id"],
            kind=kind,
            at=NOW + timedelta(hours=2),
            carrier="bench-post" if kind == UpdateKind.SHIPPED else None,
            tracking=f"T-{requested.data['shipment_id']}" if kind == UpdateKind.SHIPPED else None,
        )
        for kind in (UpdateKind.ACCEPTED, UpdateKind.SHIPPED)
    ]


@contextmanager
def history_hub(orders: int) -> Iterator[Hub]:
    """An embedded hub in a scratch directory with `record_history(hub, orders)` recorded."""
    with tempfile.TemporaryDirectory() as tmp:
        hub = bootstrap(Settings(data_dir=Path(tmp)), clock=lambda: NOW)
        try:
            record_history(hub, orders)
            yield hub
        finally:
            hub.close()


def envelopes(hub: Hub, after: int | None = None) -> Iterator[EventEnvelope]:
    """The stored events after notification id `after` (all by default), in log order."""
    while batch := hub.store.read_envelopes(after, 1000):
        after = batch[-1][0]
        yield from (env for _, env in batch)


def projection_records(
    hub: Hub, after: int | None = None, offsets: dict[tuple[str, int], int] | None = None
) -> list[ConsumedMessage]:
    """Every recorded event on the projections role's topics (after notification id `after`),
    as consumed records in log order (per partition in offset order, partitions interleaved as a
    consumer reads them); `offsets` (the next offset per topic and partition, updated) carries
    the numbering on from an earlier call."""
    wanted = set(role_topics(hub.settings, Role.PROJECTIONS))
    routes = routes_for(hub.settings)
    offsets = {} if offsets is None else offsets
    records = []
    for env in envelopes(hub, after):
        for topic, key in routes(env):
            if topic not in wanted:
                continue
            record = envelope_to_record(topic, env, key=key)
            partition = zlib.crc32(key.encode()) % PARTITIONS
            offset = offsets.get((topic, partition), 0)
            offsets[(topic, partition)] = offset + 1
            records.append(
                ConsumedMessage(topic, partition, offset, record.key, record.value, record.headers)
            )
    return records


def batches(records: Sequence[ConsumedMessage], size: int) -> list[list[ConsumedMessage]]:
    return [list(records[i : i + size]) for i in range(0, len(records), size)]
