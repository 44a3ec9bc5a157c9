"""Wiring for `orderhub relay`: the event store's log to the order events topic."""

import asyncio
import logging
from collections.abc import Callable
from dataclasses import dataclass
from typing import Any, Protocol

from psycopg.conninfo import make_conninfo

from connectors.claim_check import claim_bound
from connectors.codec import OutboundRecord
from connectors.publisher import KafkaPublisher
from connectors.relay import Relay
from connectors.store_notices import StoreNotices, install_trigger
from hub.bootstrap import open_store, relay_positions_in
from hub.collector import collect_for_batches
from hub.settings import Settings
from hub.store import OrderStore
from hub.stored_records import RecordReader
from hub.streaming.kafka_parts import KafkaParts
from projections.positions import SqlPositionStore
from projections.sqldb import SqlDatabase
from schemas.envelope import EventEnvelope
from schemas.event_types import UNPUBLISHED, EventFamily, EventType
from schemas.fulfillment import WITHDRAWAL_EVENT_TYPES

log = logging.getLogger(__name__)


Route = Callable[[str, str, dict[str, Any]], list[tuple[str, str]]]


def routes_for(settings: Settings) -> Callable[[EventEnvelope], list[tuple[str, str]]]:
    """Which topics (and keys) an envelope goes to (`route_for`)."""
    route = route_for(settings)
    return lambda env: route(env.type, env.subject, env.data)


def route_for(settings: Settings) -> Route:
    """Which topics (and keys) an event goes to, by its type, subject and public data: orders,
    inventory, catalog; fulfillment requests also go to the sources' topic, keyed by source so
    a warehouse reads its own.

    Worked out once per event type (`_plan`), then applied to each event's subject and data:
    comparing every event's type with the families and types again, as enum members, was a
    microsecond per event in the relay."""
    plans: dict[str, Callable[[str, dict[str, Any]], list[tuple[str, str]]]] = {}

    def route(type: str, subject: str, data: dict[str, Any]) -> list[tuple[str, str]]:
        plan = plans.get(type)
        if plan is None:
            plan = plans[type] = _plan(settings, type)
        return plan(subject, data)

    return route


Plan = Callable[[str, dict[str, Any]], list[tuple[str, str]]]


def _plan(settings: Settings, type: str) -> Plan:
    """How the events of one type are routed."""
    if type.startswith(EventFamily.ORDER):
        return _order_plan(settings, type)
    if type.startswith(EventFamily.EXCEPTION_CASE):
        orders, rejected = settings.topic("order_events"), settings.topic("rejected")

        def exception(subject: str, data: dict[str, Any]) -> list[tuple[str, str]]:
            # Beside the events that opened the exception, in the same partition, so that a
            # person's action is never read before the exception it acts on.
            if data.get("order_id"):
                return [(orders, str(data["order_id"]))]
            submission = str(data.get("exception_id", "")).partition(":")[2]
            return [(rejected, submission or subject)]

        return exception
    if type.startswith(UNPUBLISHED):
        return lambda subject, data: []
    if type.startswith(EventFamily.REJECTED_SUBMISSION):
        topic = settings.topic("rejected")
    elif type.startswith((EventFamily.STOCK_ITEM, EventFamily.FULFILLMENT_SOURCE)):
        topic = settings.topic("inventory_events")
    else:
        topic = settings.topic("catalog_events")
    return lambda subject, data: [(topic, subject)]


def _order_plan(settings: Settings, type: str) -> Plan:
    orders, requests = settings.topic("order_events"), settings.topic("fulfillment_requests")
    if type == EventType.ORDER_FULFILLMENT_REQUESTED:
        return lambda subject, data: [(orders, subject), (requests, str(data["source_id"]))]
    if type in WITHDRAWAL_EVENT_TYPES:

        def withdrawal(subject: str, data: dict[str, Any]) -> list[tuple[str, str]]:
            # Each source holding an open shipment is asked to withdraw it.
            found = [(orders, subject)]
            for source_id in sorted(set(data["withdrawn_from"].values())):
                found.append((requests, source_id))
            return found

        return withdrawal
    if type in (
        EventType.ORDER_INVOICE_ISSUED,
        EventType.ORDER_PAYMENT_CAPTURED,
        EventType.ORDER_REFUNDED,
    ):
        billing = settings.topic("billing_events")
        return lambda subject, data: [(orders, subject), (billing, subject)]
    return lambda subject, data: [(orders, subject)]


class RelaySide(Protocol):
    """What the relay needs of a hub: the event store, its settings, its own position (a
    whole `hub.bootstrap.Hub` has them)."""

    settings: Settings
    store: OrderStore

    def relay_positions(self) -> SqlPositionStore: ...


@dataclass
class RelayParts:
    """The relay's side of a hub, without the views. `orderhub relay` reads no view, so it
    does not open them: a relay then starts beside views of another layout (a newer release's,
    which `bootstrap` refuses), and does not rebuild a view whose layout changed, which is the
    work of the processes that read them."""

    settings: Settings
    store: OrderStore
    views_db: SqlDatabase  # where the relay's position is kept

    def relay_positions(self) -> SqlPositionStore:
        return relay_positions_in(self.views_db)

    def close(self) -> None:
        self.store.close()
        self.views_db.close()


def relay_parts(settings: Settings) -> RelayParts:
    views_db, store = open_store(settings)
    return RelayParts(settings, store, views_db)


def build_relay(
    hub: RelaySide,
    publisher: KafkaPublisher,
    wakeups: StoreNotices | None = None,
    record_limit: int | None = None,
) -> Relay:
    """`record_limit`: the largest record the topics take (`KafkaParts.record_limit`); by
    default the setting's."""
    records = RecordReader(
        hub.store,
        route_for(hub.settings),
        UNPUBLISHED,
        claim_over=claim_bound(record_limit or hub.settings.kafka_max_record_bytes),
        read_bytes=hub.settings.relay_read_bytes,
    )
    return Relay(
        source=hub.store,
        publisher=publisher,
        positions=hub.relay_positions(),
        routes_for=routes_for(hub.settings),
        batch_size=hub.settings.relay_batch_size,
        poll_seconds=hub.settings.relay_poll_seconds,
        wakeups=wakeups,
        fallback_seconds=hub.settings.relay_fallback_seconds,
        save_every=hub.settings.relay_save_seconds,
        read=records.read_records,
        encode=_as_read,
        ahead=hub.settings.relay_batches_ahead,
    )


def _as_read(records: list[OutboundRecord]) -> list[OutboundRecord]:
    """An event's records, encoded as they were read (`RecordReader.read_records`)."""
    return records


def store_notices(hub: RelaySide) -> StoreNotices | None:
    """On PostgreSQL, the trigger that notifies commits, and a listener; None on SQLite (or if
    the trigger cannot be installed: the relay then polls, as it did)."""
    if not hub.settings.uses_postgres:
        return None
    env = hub.settings.eventsourcing_env()
    conninfo = make_conninfo(
        dbname=env["POSTGRES_DBNAME"],
        host=env["POSTGRES_HOST"],
        port=env["POSTGRES_PORT"],
        user=env["POSTGRES_USER"],
        password=env["POSTGRES_PASSWORD"],
    )
    recorder = hub.store.recorder
    try:
        install_trigger(
            conninfo,
            recorder.events_table_name,  # type: ignore[attr-defined]
            recorder.datastore.schema,  # type: ignore[attr-defined]
        )
    except Exception:
        log.exception("could not install the commit notices; the relay polls instead")
        return None
    return StoreNotices(conninfo)


async def run_relay(settings: Settings, stop: asyncio.Event) -> None:
    kafka = KafkaParts(settings)
    await kafka.ensure_topics()
    hub = relay_parts(settings)
    # The relay publishes up to a batch of events at a time and waits for them: as closed
    # record batches, one per partition, not record by record (connectors.publisher).
    limit = await kafka.record_limit()
    publisher = kafka.publisher("relay", whole_batches=True, record_limit=limit)
    await publisher.start()
    notices = await asyncio.to_thread(store_notices, hub)
    listening = asyncio.create_task(notices.run(stop)) if notices is not None else None
    relay = build_relay(hub, publisher, notices, limit)
    collect_for_batches()
    log.info("relay started at position %s", hub.relay_positions().get("notification_log"))
    try:
        await relay.run(stop)
    finally:
        if listening is not None:
            listening.cancel()
        await publisher.stop()
        hub.close()
        log.info("relay stopped after publishing %d events", relay.published)
